#include "server.h"

#include <sys/socket.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <condition_variable>
#include <set>
#include <thread>

#include "assets.h"
#include "query_params.h"
#include "storyloom/error.h"

namespace storyloom::cli::ui {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

constexpr uint64_t kMaxBodyBytes = 2 * kDefaultMaxPayloadBytes;  // a signal payload and its wrapper
constexpr uint32_t kMaxHeaderBytes = 16 * 1024;
// How soon a new stored event reaches an open event stream: the store is read
// this often (another process writes it; nothing notifies this one).
constexpr std::chrono::milliseconds kEventPollInterval{150};
constexpr std::chrono::seconds kHeartbeatInterval{10};
constexpr std::chrono::seconds kDrainTimeout{5};

// Open connections, so that stopping can close them and wait for their threads.
class Connections {
 public:
  // Called while the socket is open; remove() before it closes, so a
  // reused descriptor number is never shut down by mistake.
  bool add(int fd) {
    std::lock_guard lock(mutex_);
    if (stopping_) return false;
    fds_.insert(fd);
    ++active_;
    return true;
  }
  void remove(int fd) {
    std::lock_guard lock(mutex_);
    fds_.erase(fd);
    --active_;
    changed_.notify_all();
  }
  // Ends every connection: blocked reads return, event streams stop.
  void stop() {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
    changed_.notify_all();
  }
  bool stopping() {
    std::lock_guard lock(mutex_);
    return stopping_;
  }
  // Sleeps up to `d`; returns false once stopping.
  bool wait_for(std::chrono::milliseconds d) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, d, [&] { return stopping_; });
    return !stopping_;
  }
  void wait_idle(std::chrono::seconds timeout) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, timeout, [&] { return active_ == 0; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::set<int> fds_;
  int active_ = 0;
  bool stopping_ = false;
};

bool is_loopback(const std::string& host) {
  return host == "127.0.0.1" || host == "localhost" || host == "::1";
}

// A page on another site may point a DNS name at 127.0.0.1 (DNS rebinding):
// on a loopback address only loopback Host headers are answered.
bool host_allowed(const ServerOptions& options, uint16_t port, std::string_view host) {
  if (!is_loopback(options.host)) return true;
  std::string p = ":" + std::to_string(port);
  return host == "127.0.0.1" + p || host == "localhost" + p || host == "[::1]" + p;
}

http::response<http::string_body> make_response(unsigned version, bool keep_alive, int status,
                                                std::string_view content_type, std::string body) {
  http::response<http::string_body> res{static_cast<http::status>(status), version};
  res.set(http::field::server, "storyloom-ui");
  res.set(http::field::content_type, content_type);
  res.set(http::field::cache_control, "no-store");
  res.set("X-Content-Type-Options", "nosniff");
  res.set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:");
  res.keep_alive(keep_alive);
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

std::string error_body(std::string_view message) {
  return boost::json::serialize(boost::json::object{{"error", message}});
}

bool write_all(tcp::socket& socket, std::string_view data) {
  boost::system::error_code ec;
  net::write(socket, net::buffer(data.data(), data.size()), ec);
  return !ec;
}

// Stored events after the request's id, then new ones as they are stored,
// until the client goes away or the server stops.
void stream_events(tcp::socket& socket, Inspector& inspector, Connections& connections,
                   const EventStreamRequest& request) {
  std::string head =
      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\n"
      "X-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n";
  if (!write_all(socket, head + sse_retry(1000))) return;
  int64_t after = request.after_id;
  auto last_write = std::chrono::steady_clock::now();
  while (!connections.stopping()) {
    std::vector<Event> events;
    try {
      events = inspector.events_after(request.run_id, after);
    } catch (const Error& e) {
      // The run was removed, or the store failed: say so and end the stream.
      write_all(socket, format_sse(0, "error", error_body(e.what())));
      return;
    }
    std::string out;
    for (const auto& e : events) {
      out += format_sse(e);
      after = e.id;
    }
    auto now = std::chrono::steady_clock::now();
    if (out.empty() && now - last_write >= kHeartbeatInterval) out = sse_heartbeat();
    if (!out.empty()) {
      if (!write_all(socket, out)) return;
      last_write = now;
    }
    if (events.size() < 1000 && !connections.wait_for(kEventPollInterval)) return;
  }
}

void serve_connection(tcp::socket& socket, Inspector& inspector, Connections& connections,
                      const ServerOptions& options, uint16_t port) {
  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(kMaxBodyBytes);
    parser.header_limit(kMaxHeaderBytes);
    boost::system::error_code ec;
    http::read(socket, buffer, parser, ec);
    if (ec == http::error::end_of_stream || ec == net::error::eof || connections.stopping()) return;
    if (ec) {
      int status = ec == http::error::body_limit ? 413 : 400;
      auto res = make_response(11, false, status, "application/json",
                               error_body("bad HTTP request: " + ec.message()));
      http::write(socket, res, ec);
      return;
    }
    auto& req = parser.get();
    bool keep_alive = req.keep_alive();
    std::string target(req.target());
    std::string method(req.method_string());
    auto send = [&](int status, std::string_view type, std::string body) {
      auto res = make_response(req.version(), keep_alive, status, type, std::move(body));
      boost::system::error_code wec;
      http::write(socket, res, wec);
      return !wec;
    };
    if (!host_allowed(options, port, req[http::field::host])) {
      send(403, "application/json", error_body("Host header not allowed; open the printed URL"));
      return;
    }
    if (target.rfind("/api/", 0) != 0) {
      const Asset* asset = find_asset(target.substr(0, target.find('?')));
      bool ok = asset && (method == "GET" || method == "HEAD");
      if (!(ok ? send(200, asset->content_type, std::string(asset->body))
               : send(404, "application/json", error_body("not found: " + target.substr(0, 100)))) ||
          !keep_alive) {
        return;
      }
      continue;
    }
    std::optional<EventStreamRequest> stream;
    try {
      stream = inspector.event_stream(method, target, req["Last-Event-ID"]);
    } catch (const ApiError& e) {
      if (!send(e.status(), "application/json", error_body(e.what())) || !keep_alive) return;
      continue;
    } catch (const Error& e) {
      int status = e.code() == ErrorCode::not_found ? 404
                   : e.code() == ErrorCode::invalid_argument ? 400
                                                             : 500;
      if (!send(status, "application/json", error_body(e.what())) || !keep_alive) return;
      continue;
    }
    if (stream) return stream_events(socket, inspector, connections, *stream);
    ApiRequest api{method, target, std::string(req[http::field::content_type]),
                   std::move(req.body())};
    ApiResponse res = inspector.handle(api);
    if (!send(res.status, res.content_type, std::move(res.body)) || !keep_alive) return;
  }
}

std::string url_of(const std::string& host, uint16_t port) {
  bool v6 = host.find(':') != std::string::npos;
  return "http://" + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port) + "/";
}

}  // namespace

void serve(Inspector& inspector, const ServerOptions& options,
           const std::function<void(const std::string& url)>& on_listening) {
  net::io_context io;
  std::string host = options.host == "localhost" ? "127.0.0.1" : options.host;
  tcp::endpoint endpoint(net::ip::make_address(host), options.port);
  tcp::acceptor acceptor(io);
  acceptor.open(endpoint.protocol());
  acceptor.set_option(net::socket_base::reuse_address(true));
  acceptor.bind(endpoint);
  acceptor.listen();
  const uint16_t port = acceptor.local_endpoint().port();

  Connections connections;
  net::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code&, int) {
    connections.stop();
    boost::system::error_code ignored;
    acceptor.close(ignored);
    io.stop();
  });

  std::function<void()> accept_next = [&] {
    acceptor.async_accept([&](boost::system::error_code ec, tcp::socket socket) {
      if (ec) {
        if (acceptor.is_open()) accept_next();
        return;
      }
      int fd = socket.native_handle();
      if (!connections.add(fd)) return;
      std::thread([&, fd, s = std::move(socket)]() mutable {
        try {
          serve_connection(s, inspector, connections, options, port);
        } catch (const std::exception&) {
          // Out of memory or a socket error mid-write: this connection ends,
          // the server goes on (API errors never get here: they are answers).
        }
        connections.remove(fd);  // before `s` closes the descriptor
      }).detach();
      accept_next();
    });
  };
  accept_next();
  on_listening(url_of(options.host, port));
  io.run();
  connections.stop();
  connections.wait_idle(kDrainTimeout);
}

}  // namespace storyloom::cli::ui
