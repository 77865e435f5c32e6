#include "fake_smtp_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <optional>
#include <stdexcept>

namespace storyloom::testing {
namespace {

std::string unbase64(const std::string& in) {
  static const std::string chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  int value = 0, bits = -8;
  for (char c : in) {
    auto pos = chars.find(c);
    if (pos == std::string::npos) break;
    value = (value << 6) + static_cast<int>(pos);
    bits += 6;
    if (bits >= 0) {
      out += static_cast<char>((value >> bits) & 0xFF);
      bits -= 8;
    }
  }
  return out;
}

class Lines {
 public:
  explicit Lines(int fd) : fd_(fd) {}
  // One line without its CRLF, or nullopt when the peer closed.
  std::optional<std::string> next() {
    for (;;) {
      auto end = buffer_.find("\r\n");
      if (end != std::string::npos) {
        std::string line = buffer_.substr(0, end);
        buffer_.erase(0, end + 2);
        return line;
      }
      char chunk[4096];
      ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n <= 0) return std::nullopt;
      buffer_.append(chunk, static_cast<size_t>(n));
    }
  }
  void send(const std::string& reply) {
    std::string text = reply + "\r\n";
    (void)!::send(fd_, text.data(), text.size(), MSG_NOSIGNAL);
  }

 private:
  int fd_;
  std::string buffer_;
};

}  // namespace

FakeSmtpServer::FakeSmtpServer(int failures, int failure_reply)
    : failures_(failures), failure_reply_(failure_reply) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::listen(listen_fd_, 16) != 0) {
    throw std::runtime_error("fake SMTP server: cannot listen on 127.0.0.1");
  }
  socklen_t size = sizeof address;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &size);
  port_ = ntohs(address.sin_port);
  accept_thread_ = std::thread([this] { accept_loop(); });
}

FakeSmtpServer::~FakeSmtpServer() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
  }
  accept_thread_.join();
  for (auto& t : connections_) t.join();
  for (int fd : fds_) ::close(fd);
  ::close(listen_fd_);
}

std::string FakeSmtpServer::url() const { return "smtp://127.0.0.1:" + std::to_string(port_); }

std::vector<ReceivedEmail> FakeSmtpServer::messages() const {
  std::lock_guard lock(mutex_);
  return messages_;
}

int FakeSmtpServer::mail_commands() const {
  std::lock_guard lock(mutex_);
  return mail_commands_;
}

bool FakeSmtpServer::wait_for(size_t count, int timeout_ms) const {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                           [&] { return messages_.size() >= count; });
}

void FakeSmtpServer::accept_loop() {
  for (;;) {
    pollfd p{listen_fd_, POLLIN, 0};
    ::poll(&p, 1, 50);
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    if (!(p.revents & POLLIN)) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    fds_.push_back(fd);
    connections_.emplace_back([this, fd] { serve(fd); });
  }
}

void FakeSmtpServer::serve(int fd) {
  Lines io(fd);
  io.send("220 fake-smtp ESMTP ready");
  ReceivedEmail current;
  std::string auth;
  while (auto line = io.next()) {
    std::string upper = line->substr(0, 10);
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (upper.rfind("EHLO", 0) == 0) {
      io.send("250-fake-smtp");
      io.send("250-AUTH PLAIN");
      io.send("250 8BITMIME");
    } else if (upper.rfind("HELO", 0) == 0 || upper.rfind("NOOP", 0) == 0 || upper.rfind("RSET", 0) == 0) {
      io.send("250 OK");
    } else if (upper.rfind("AUTH PLAIN", 0) == 0) {
      std::string initial = line->size() > 11 ? line->substr(11) : "";
      if (initial.empty()) {
        io.send("334 ");
        auto response = io.next();
        if (!response) return;
        initial = *response;
      }
      auth = unbase64(initial);
      io.send("235 2.7.0 Authentication successful");
    } else if (upper.rfind("MAIL FROM:", 0) == 0) {
      bool refuse;
      {
        std::lock_guard lock(mutex_);
        refuse = mail_commands_++ < failures_;
      }
      if (refuse) {
        io.send(std::to_string(failure_reply_) + " scripted refusal");
        continue;
      }
      current = ReceivedEmail{line->substr(10), {}, {}, auth};
      io.send("250 OK");
    } else if (upper.rfind("RCPT TO:", 0) == 0) {
      current.rcpt_to.push_back(line->substr(8));
      io.send("250 OK");
    } else if (upper.rfind("DATA", 0) == 0) {
      io.send("354 End data with <CR><LF>.<CR><LF>");
      while (auto data = io.next()) {
        if (*data == ".") break;
        current.data += (data->rfind("..", 0) == 0 ? data->substr(1) : *data) + "\r\n";
      }
      {
        std::lock_guard lock(mutex_);
        messages_.push_back(current);
      }
      changed_.notify_all();
      io.send("250 OK queued");
    } else if (upper.rfind("QUIT", 0) == 0) {
      io.send("221 Bye");
      return;
    } else {
      io.send("502 Command not implemented");
    }
  }
}

}  // namespace storyloom::testing
