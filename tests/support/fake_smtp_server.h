// A fake SMTP server for tests: 127.0.0.1 on a free port, plain text (no
// TLS), AUTH PLAIN offered, every message received recorded. The first
// `failures` MAIL FROM commands are answered with `failure_reply` (say 451
// or 550), the rest accepted.
#pragma once

#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace storyloom::testing {

struct ReceivedEmail {
  std::string mail_from;
  std::vector<std::string> rcpt_to;
  std::string data;  // the message as sent, dot-stuffing undone, CRLF line ends
  std::string auth;  // the decoded AUTH PLAIN credentials ("\0user\0password"), or empty
};

class FakeSmtpServer {
 public:
  explicit FakeSmtpServer(int failures = 0, int failure_reply = 451);
  ~FakeSmtpServer();

  std::string url() const;  // "smtp://127.0.0.1:PORT"
  std::vector<ReceivedEmail> messages() const;
  int mail_commands() const;  // MAIL FROM commands seen, refused ones included
  bool wait_for(size_t count, int timeout_ms) const;

 private:
  void accept_loop();
  void serve(int fd);

  int listen_fd_ = -1;
  int port_ = 0;
  int failures_;
  int failure_reply_;
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  std::vector<ReceivedEmail> messages_;
  int mail_commands_ = 0;
  bool stopping_ = false;
  std::vector<int> fds_;
  std::thread accept_thread_;
  std::vector<std::thread> connections_;
};

}  // namespace storyloom::testing
