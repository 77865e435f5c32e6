// LoopbackServer: a tiny HTTP server on 127.0.0.1 for the HttpClient tests.
// It parses nothing it does not have to: a test's handler reads the request
// and writes the response byte by byte, so a test can send a head and go
// silent, cut a chunked body in the middle, or dribble chunks with pauses.
// One thread per connection; the destructor shuts every socket and joins.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace storyloom::testing_http {

struct LoopbackRequest {
  std::string method;
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;  // names lowercased
  std::string body;

  std::string header(std::string_view lowercase_name) const {
    for (const auto& [name, value] : headers) {
      if (name == lowercase_name) return value;
    }
    return "";
  }
  bool has_header(std::string_view lowercase_name) const {
    return std::any_of(headers.begin(), headers.end(),
                       [&](const auto& h) { return h.first == lowercase_name; });
  }
};

// The server side of one accepted connection, used by one handler thread.
class LoopbackConnection {
 public:
  explicit LoopbackConnection(int fd) : fd_(fd) {}
  ~LoopbackConnection() { close(); }
  LoopbackConnection(const LoopbackConnection&) = delete;
  LoopbackConnection& operator=(const LoopbackConnection&) = delete;

  // The next request (head, then a Content-Length body), or nullopt once the
  // client hung up. Chunked request bodies are not supported: the client
  // under test never sends them.
  std::optional<LoopbackRequest> read_request() {
    size_t head_end;
    while ((head_end = pending_.find("\r\n\r\n")) == std::string::npos) {
      if (!receive()) return std::nullopt;
    }
    LoopbackRequest request;
    std::string_view head(pending_.data(), head_end);
    const size_t line_end = head.find("\r\n");
    const std::string_view request_line = head.substr(0, line_end);
    const size_t sp1 = request_line.find(' ');
    const size_t sp2 = request_line.find(' ', sp1 + 1);
    request.method = std::string(request_line.substr(0, sp1));
    request.target = std::string(request_line.substr(sp1 + 1, sp2 - sp1 - 1));
    size_t at = line_end == std::string_view::npos ? head.size() : line_end + 2;
    while (at < head.size()) {
      size_t end = head.find("\r\n", at);
      if (end == std::string_view::npos) end = head.size();
      const std::string_view line = head.substr(at, end - at);
      const size_t colon = line.find(':');
      if (colon != std::string_view::npos) {
        std::string name(line.substr(0, colon));
        for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        std::string_view value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
        request.headers.emplace_back(std::move(name), std::string(value));
      }
      at = end + 2;
    }
    pending_.erase(0, head_end + 4);
    const std::string length = request.header("content-length");
    const size_t body_size = length.empty() ? 0 : std::stoul(length);
    while (pending_.size() < body_size) {
      if (!receive()) return std::nullopt;
    }
    request.body = pending_.substr(0, body_size);
    pending_.erase(0, body_size);
    return request;
  }

  // Writes all of `bytes`; false once the client is gone.
  bool send(std::string_view bytes) {
    while (!bytes.empty()) {
      const int fd = current_fd();
      if (fd < 0) return false;
      const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // Blocks until the client closes its end (true) or `limit` passes (false).
  // Data the client sends meanwhile is kept for read_request().
  bool wait_for_hangup(std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      const int fd = current_fd();
      if (fd < 0) return true;
      pollfd p{fd, POLLIN, 0};
      const int ready = ::poll(&p, 1, static_cast<int>(left.count()));
      if (ready < 0) return true;
      if (ready == 0) continue;
      if (!receive()) return true;
    }
  }

  static void pause(std::chrono::milliseconds d) { std::this_thread::sleep_for(d); }

  // Closes the socket now (the client sees EOF: a cut response).
  void close() {
    std::lock_guard lock(mu_);
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  // From the server's destructor: unblocks a handler stuck in recv or send.
  void shut_down() {
    std::lock_guard lock(mu_);
    if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
  }

 private:
  int current_fd() {
    std::lock_guard lock(mu_);
    return fd_;
  }

  bool receive() {
    const int fd = current_fd();
    if (fd < 0) return false;
    char buffer[16384];
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) return false;
    pending_.append(buffer, static_cast<size_t>(n));
    return true;
  }

  std::mutex mu_;  // guards fd_ against close() racing shut_down()
  int fd_;
  std::string pending_;
};

class LoopbackServer {
 public:
  using Handler = std::function<void(LoopbackConnection&)>;

  // `handler` runs on a new thread for every accepted connection; the
  // connection closes when it returns.
  explicit LoopbackServer(Handler handler) : handler_(std::move(handler)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (listen_fd_ < 0) throw std::runtime_error("socket() failed");
    const int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::listen(listen_fd_, 128) != 0) {
      ::close(listen_fd_);
      throw std::runtime_error("cannot listen on 127.0.0.1");
    }
    socklen_t size = sizeof address;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &size);
    port_ = ntohs(address.sin_port);
    if (::pipe(wake_) != 0) throw std::runtime_error("pipe() failed");
    accept_thread_ = std::thread([this] { accept_loop(); });
  }

  ~LoopbackServer() {
    const char stop = 's';
    [[maybe_unused]] ssize_t ignored = ::write(wake_[1], &stop, 1);
    accept_thread_.join();
    {
      std::lock_guard lock(mu_);
      for (auto& slot : slots_) slot->connection.shut_down();
    }
    for (auto& slot : slots_) slot->thread.join();
    ::close(listen_fd_);
    ::close(wake_[0]);
    ::close(wake_[1]);
  }
  LoopbackServer(const LoopbackServer&) = delete;
  LoopbackServer& operator=(const LoopbackServer&) = delete;

  int port() const { return port_; }
  std::string url(std::string_view path = "/") const {
    return "http://127.0.0.1:" + std::to_string(port_) + std::string(path);
  }
  int connections() const { return accepted_.load(); }

 private:
  struct Slot {
    explicit Slot(int fd) : connection(fd) {}
    LoopbackConnection connection;
    std::thread thread;
  };

  void accept_loop() {
    for (;;) {
      pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0) continue;
      if (fds[1].revents != 0) return;
      const int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) continue;
      ++accepted_;
      std::lock_guard lock(mu_);
      slots_.push_back(std::make_unique<Slot>(fd));
      Slot* slot = slots_.back().get();
      slot->thread = std::thread([this, slot] {
        handler_(slot->connection);
        slot->connection.close();
      });
    }
  }

  Handler handler_;
  int listen_fd_ = -1;
  int wake_[2] = {-1, -1};
  int port_ = 0;
  std::atomic<int> accepted_{0};
  std::thread accept_thread_;
  std::mutex mu_;
  std::list<std::unique_ptr<Slot>> slots_;
};

// A port on 127.0.0.1 that nothing listens on (bound, then closed again).
inline int unused_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  socklen_t size = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size);
  ::close(fd);
  return ntohs(address.sin_port);
}

// One chunk of a chunked body.
inline std::string chunk(std::string_view data) {
  char size[32];
  std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  return std::string(size) + std::string(data) + "\r\n";
}

inline constexpr std::string_view kLastChunk = "0\r\n\r\n";

}  // namespace storyloom::testing_http
