// The fake LLM server's threads and dispatch: one accept thread, one thread
// per connection, each reading a request (fake_http.h), answering the control
// endpoints itself and a provider request by its scenario (fake_scenario.h,
// fake_formats.h, fake_response.h). FAKE_LLM_SERVER.md is the reference for
// what each scenario sends.
#include "fake_llm_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "fake_formats.h"
#include "fake_http.h"
#include "fake_http_step.h"
#include "fake_images.h"
#include "fake_response.h"
#include "fake_scenario.h"

namespace storyloom::testing {

std::string RecordedRequest::header(std::string_view lowercase_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lowercase_name) return value;
  }
  return "";
}

namespace {

namespace json = boost::json;
using fake::Abandoned;
using fake::error_body;
using fake::Failure;
using fake::MalformedRequest;
using fake::parse_scenario;
using fake::Prompt;
using fake::Provider;
using fake::read_prompt;
using fake::RequestReader;
using fake::ResponseWriter;
using fake::Scenario;
using fake::ScenarioParse;
using fake::send_scenario_response;
using std::chrono::microseconds;
using std::chrono::milliseconds;

}  // namespace

class FakeLlmServer::Impl {
 public:
  explicit Impl(int port) {
    if (::pipe(wake_pipe_) != 0) throw std::system_error(errno, std::generic_category(), "pipe");
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (listen_fd_ < 0) fail("socket");
    int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(static_cast<uint16_t>(port));
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      fail("bind 127.0.0.1:" + std::to_string(port));
    }
    if (::listen(listen_fd_, SOMAXCONN) != 0) fail("listen");
    socklen_t size = sizeof address;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &size);
    port_ = ntohs(address.sin_port);
    accept_thread_ = std::thread([this] { accept_loop(); });
  }

  ~Impl() {
    stop();
    close_fds();
  }

  int port() const { return port_; }

  size_t requests(std::string_view segment) const {
    std::lock_guard lock(mutex_);
    auto it = counts_.find(segment);
    return it == counts_.end() ? 0 : it->second;
  }

  std::vector<RecordedRequest> recorded() const {
    std::lock_guard lock(mutex_);
    return recorded_;
  }

  void reset() {
    std::lock_guard lock(mutex_);
    counts_.clear();
    recorded_.clear();
  }

 private:
  struct Connection {
    int fd = -1;  // -1 once closed; guarded by mutex_
    bool finished = false;
    std::thread thread;
  };

  [[noreturn]] void fail(const std::string& what) {
    int error = errno;
    close_fds();
    throw std::system_error(error, std::generic_category(), "fake LLM server: " + what);
  }

  void close_fds() {
    for (int* fd : {&listen_fd_, &wake_pipe_[0], &wake_pipe_[1]}) {
      if (*fd >= 0) ::close(*fd);
      *fd = -1;
    }
  }

  void stop() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
      // Wakes connection threads blocked in recv or send.
      for (auto& c : connections_) {
        if (c.fd >= 0) ::shutdown(c.fd, SHUT_RDWR);
      }
    }
    stopped_.notify_all();
    char byte = 1;
    while (::write(wake_pipe_[1], &byte, 1) < 0 && errno == EINTR) {
    }
    accept_thread_.join();
    std::list<Connection> rest;
    {
      std::lock_guard lock(mutex_);
      rest.swap(connections_);  // list nodes keep their addresses
    }
    for (auto& c : rest) c.thread.join();
  }

  void accept_loop() {
    for (;;) {
      pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_pipe_[0], POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        return;
      }
      if (fds[1].revents != 0) return;
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) {
        // Out of descriptors: back off instead of spinning on a listener that stays readable.
        if (errno == EMFILE || errno == ENFILE) {
          std::unique_lock lock(mutex_);
          stopped_.wait_for(lock, milliseconds(10), [this] { return stopping_; });
        }
        continue;  // otherwise the client gave up, or EAGAIN after a spurious wake
      }
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      std::lock_guard lock(mutex_);
      if (stopping_) {
        ::close(fd);
        return;
      }
      reap_finished_connections();
      Connection& c = connections_.emplace_back();
      c.fd = fd;
      c.thread = std::thread([this, &c] { serve(c); });
    }
  }

  // Under mutex_. A finished thread touches nothing after setting `finished`.
  void reap_finished_connections() {
    for (auto it = connections_.begin(); it != connections_.end();) {
      if (!it->finished) {
        ++it;
        continue;
      }
      it->thread.join();
      it = connections_.erase(it);
    }
  }

  void serve(Connection& c) {
    ResponseWriter out(c.fd);
    try {
      RequestReader reader(c.fd, out);
      if (auto request = reader.read()) handle(*request, out);
    } catch (const Abandoned&) {
    } catch (const MalformedRequest& e) {
      answer_if_possible(out, e.status, e.message);
    } catch (const std::exception& e) {
      answer_if_possible(out, 500, std::string("fake LLM server failure: ") + e.what());
    }
    std::lock_guard lock(mutex_);
    ::close(c.fd);
    c.fd = -1;
    c.finished = true;
  }

  static void answer_if_possible(ResponseWriter& out, int status, const std::string& message) {
    if (out.head_sent()) return;
    try {
      out.send_json(status, error_body(Provider::openai, Failure::invalid_request, message));
    } catch (const Abandoned&) {
    }
  }

  void pause(microseconds duration) {
    std::unique_lock lock(mutex_);
    if (stopped_.wait_for(lock, duration, [this] { return stopping_; })) throw Abandoned{};
  }

  void handle(const RecordedRequest& request, ResponseWriter& out) {
    std::string_view path = request.path;
    path = path.substr(0, path.find('?'));
    if (path == "/_stats" || path == "/_reset" || path == "/_requests") {
      return handle_control(request.method, path, out);
    }
    std::string_view segment, rest;
    // /s/: provider endpoints; /h/: any method, echoed (the http step's tests).
    bool http_step_path = path.substr(0, 3) == "/h/";
    bool scenario_path = path.substr(0, 3) == "/s/" || http_step_path;
    if (scenario_path) {
      std::string_view after = path.substr(3);
      segment = after.substr(0, after.find('/'));
      rest = after.substr(segment.size());
    }
    long long arrival = 0, sequence = 0;
    {
      std::lock_guard lock(mutex_);
      if (scenario_path) arrival = static_cast<long long>(++counts_[std::string(segment)]);
      sequence = ++sequence_;
      recorded_.push_back(request);
    }
    if (http_step_path) {
      ScenarioParse parsed = parse_scenario(segment);
      if (!parsed.spec) {
        return out.send_json(400, json::serialize(json::object{{"error", parsed.error}}));
      }
      return fake::send_http_step_response(
          out, [this](microseconds d) { pause(d); }, *parsed.spec, request, arrival);
    }
    if (request.method == "POST" && rest == "/v1/images/generations" && !segment.empty()) {
      ScenarioParse parsed = parse_scenario(segment);
      if (!parsed.spec) {
        return out.send_json(400, error_body(Provider::openai, Failure::invalid_request, parsed.error));
      }
      return fake::send_images_response(
          out, [this](microseconds d) { pause(d); }, *parsed.spec, request, arrival);
    }
    std::optional<Provider> provider;
    Prompt prompt;
    if (request.method == "POST" && rest == "/v1/chat/completions") provider = Provider::openai;
    if (request.method == "POST" && rest == "/v1/messages") provider = Provider::anthropic;
    constexpr std::string_view kGemini = "/v1beta/models/";
    if (request.method == "POST" && rest.substr(0, kGemini.size()) == kGemini) {
      std::string_view call = rest.substr(kGemini.size());
      size_t colon = call.rfind(':');
      std::string_view method = colon == std::string_view::npos ? "" : call.substr(colon + 1);
      if (colon > 0 && (method == "streamGenerateContent" || method == "generateContent")) {
        provider = Provider::gemini;
        prompt.model = std::string(call.substr(0, colon));
        prompt.stream = method == "streamGenerateContent";
      }
    }
    if (!scenario_path || segment.empty() || !provider) {
      std::string message = "Invalid URL (" + request.method + " " + std::string(path) +
                            "); the fake serves POST /s/<scenario>/v1/chat/completions, "
                            "POST /s/<scenario>/v1/messages, POST /s/<scenario>/v1/images/generations and "
                            "POST /s/<scenario>/v1beta/models/<model>:streamGenerateContent";
      return out.send_json(404, error_body(Provider::openai, Failure::not_found, message));
    }
    if (std::string bearer = request.header("authorization"); bearer.rfind("Bearer ", 0) == 0) {
      prompt.api_key = bearer.substr(7);
    } else if (std::string key = request.header("x-api-key"); !key.empty()) {
      prompt.api_key = key;
    } else {
      prompt.api_key = request.header("x-goog-api-key");
    }
    ScenarioParse parsed = parse_scenario(segment);
    if (!parsed.spec) {
      return out.send_json(400, error_body(*provider, Failure::invalid_request, parsed.error));
    }
    if (std::string problem = read_prompt(*provider, request.body, prompt); !problem.empty()) {
      return out.send_json(400, error_body(*provider, Failure::invalid_request, problem));
    }
    prompt.truncated = parsed.spec->scenario == Scenario::truncated;
    send_scenario_response(
        out, [this](microseconds d) { pause(d); }, *parsed.spec, *provider, prompt, sequence,
        arrival);
  }

  void handle_control(const std::string& method, std::string_view path, ResponseWriter& out) {
    if (path == "/_stats" && method == "GET") return out.send_json(200, stats());
    if (path == "/_requests" && method == "GET") return out.send_json(200, requests_json());
    if (path == "/_reset" && method == "POST") {
      reset();
      return out.send_json(200, R"({"reset":true})");
    }
    std::string message = "Invalid method " + method + " for " + std::string(path);
    out.send_json(404, error_body(Provider::openai, Failure::not_found, message));
  }

  std::string stats() const {
    std::lock_guard lock(mutex_);
    json::object counts;
    size_t total = 0;
    for (const auto& [segment, count] : counts_) {
      counts[segment] = count;
      total += count;
    }
    return json::serialize(json::object{{"total", total}, {"requests", std::move(counts)}});
  }

  std::string requests_json() const {
    std::lock_guard lock(mutex_);
    json::array requests;
    for (const auto& r : recorded_) {
      json::object headers;
      for (const auto& [name, value] : r.headers) {
        auto* existing = headers.if_contains(name);
        if (existing) {
          existing->get_string().append(", ").append(value);
        } else {
          headers[name] = value;
        }
      }
      requests.push_back(json::object{{"method", r.method},
                                      {"path", r.path},
                                      {"headers", std::move(headers)},
                                      {"body", r.body}});
    }
    return json::serialize(json::object{{"requests", std::move(requests)}});
  }

  int listen_fd_ = -1;
  int wake_pipe_[2] = {-1, -1};
  int port_ = 0;
  std::thread accept_thread_;

  mutable std::mutex mutex_;
  std::condition_variable stopped_;
  bool stopping_ = false;
  std::list<Connection> connections_;
  std::map<std::string, size_t, std::less<>> counts_;
  std::vector<RecordedRequest> recorded_;
  long long sequence_ = 0;
};

FakeLlmServer::FakeLlmServer(int port) : impl_(std::make_unique<Impl>(port)) {}
FakeLlmServer::~FakeLlmServer() = default;

int FakeLlmServer::port() const { return impl_->port(); }

std::string FakeLlmServer::base_url(std::string_view scenario) const {
  return "http://127.0.0.1:" + std::to_string(impl_->port()) + "/s/" + std::string(scenario);
}

size_t FakeLlmServer::requests(std::string_view scenario) const {
  return impl_->requests(scenario);
}

std::vector<RecordedRequest> FakeLlmServer::recorded() const { return impl_->recorded(); }

void FakeLlmServer::reset() { impl_->reset(); }

}  // namespace storyloom::testing
