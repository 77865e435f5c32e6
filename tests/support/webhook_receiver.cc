#include "webhook_receiver.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>

#include "fake_http.h"

namespace storyloom::testing {

WebhookReceiver::WebhookReceiver(std::vector<int> script, int then, std::string retry_after)
    : script_(std::move(script)), then_(then), retry_after_(std::move(retry_after)) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) throw std::runtime_error("webhook receiver: socket failed");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::listen(listen_fd_, 64) != 0) {
    throw std::runtime_error("webhook receiver: cannot listen on 127.0.0.1");
  }
  socklen_t size = sizeof address;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &size);
  port_ = ntohs(address.sin_port);
  accept_thread_ = std::thread([this] { accept_loop(); });
}

WebhookReceiver::~WebhookReceiver() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
  }
  changed_.notify_all();
  accept_thread_.join();
  for (auto& t : connections_) t.join();
  for (int fd : open_fds_) ::close(fd);
  ::close(listen_fd_);
}

std::string WebhookReceiver::url() const {
  return "http://127.0.0.1:" + std::to_string(port_) + "/hook";
}

std::vector<RecordedRequest> WebhookReceiver::requests() const {
  std::lock_guard lock(mutex_);
  return requests_;
}

bool WebhookReceiver::wait_for(size_t count, int timeout_ms) const {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                           [&] { return requests_.size() >= count; });
}

void WebhookReceiver::accept_loop() {
  for (;;) {
    pollfd fds{listen_fd_, POLLIN, 0};
    ::poll(&fds, 1, 50);
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
    }
    if (!(fds.revents & POLLIN)) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    std::lock_guard lock(mutex_);
    open_fds_.push_back(fd);
    connections_.emplace_back([this, fd] { serve(fd); });
  }
}

void WebhookReceiver::serve(int fd) {
  try {
    fake::ResponseWriter out(fd);
    fake::RequestReader in(fd, out);
    auto request = in.read();
    if (request) {
      int status = then_;
      {
        std::lock_guard lock(mutex_);
        size_t n = requests_.size();
        if (n < script_.size()) status = script_[n];
        requests_.push_back(*request);
      }
      changed_.notify_all();
      if (status == kHang) {
        std::unique_lock lock(mutex_);
        changed_.wait(lock, [this] { return stopping_; });
      } else {
        std::vector<fake::Header> headers;
        if (status >= 300 && !retry_after_.empty()) headers.emplace_back("Retry-After", retry_after_);
        out.send_json(status, "{}", headers);
      }
    }
  } catch (...) {
    // The client went away: nothing to answer.
  }
  // The fd stays open (and listed) until the destructor, so a reused number
  // is never shut down by mistake; tests make few connections.
}

}  // namespace storyloom::testing
