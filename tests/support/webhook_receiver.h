// A webhook receiver for tests: an HTTP server on 127.0.0.1 (a free port)
// that answers each request with the next scripted status (then `then`),
// records every request, and can hang instead of answering.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "fake_llm_server.h"

namespace storyloom::testing {

class WebhookReceiver {
 public:
  static constexpr int kHang = -1;  // never answer (until the receiver stops)

  // `script`: statuses for the first requests, in order; `then` afterwards.
  explicit WebhookReceiver(std::vector<int> script = {}, int then = 200,
                           std::string retry_after = "");
  ~WebhookReceiver();

  std::string url() const;  // "http://127.0.0.1:PORT/hook"
  std::vector<RecordedRequest> requests() const;
  // Waits (up to `timeout_ms`) until at least `count` requests arrived.
  bool wait_for(size_t count, int timeout_ms) const;

 private:
  void accept_loop();
  void serve(int fd);

  int listen_fd_ = -1;
  int port_ = 0;
  std::vector<int> script_;
  int then_;
  std::string retry_after_;
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  std::vector<RecordedRequest> requests_;
  std::vector<int> open_fds_;
  bool stopping_ = false;
  std::thread accept_thread_;
  std::vector<std::thread> connections_;
};

}  // namespace storyloom::testing
