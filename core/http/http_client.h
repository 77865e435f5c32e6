// HttpClient: libcurl's multi interface on one I/O thread, many transfers at
// once, bodies streamed to callbacks as they arrive. Used by the LLM client;
// nothing here knows about LLMs.
//
// Every callback of a transfer runs on the I/O thread, in order: on_head once
// (when the status line and headers are in), on_body zero or more times, then
// on_done exactly once (also after cancel(), a timeout, or close()). Callbacks
// must be quick and must not block; they may call start(), cancel() and
// run_after(), but not close(). An exception from on_head or on_body fails
// that transfer (network_error, naming the exception); one from on_done or a
// run_after callback is caught and dropped, as nothing is left to fail.
// Error messages name the URL's host:port and never contain the rest of the
// URL, request headers (they carry API keys) or request bodies.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace storyloom::detail {

struct HttpRequest {
  std::string method = "POST";  // a token; GET/HEAD send no body
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;  // name, value
  std::string body;
  std::chrono::milliseconds connect_timeout{10000};  // DNS, TCP and TLS
  // No byte (body or header) for this long fails the transfer; 0: none. The
  // clock starts once connected (connect_timeout covers connecting).
  std::chrono::milliseconds idle_timeout{60000};
  std::chrono::milliseconds total_timeout{0};  // 0: none
};

struct HttpResponseHead {
  long status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // names lowercased, values trimmed
  // The first header of that (lowercase) name, or "" when absent.
  std::string header(std::string_view lowercase_name) const;
};

struct HttpOutcome {
  enum class Kind {
    completed,       // the whole response arrived (any status; redirects are not followed)
    cancelled,       // cancel() or close()
    connect_failed,  // DNS, refused, TLS, connect timeout
    idle_timeout,    // no byte for idle_timeout
    total_timeout,   // total_timeout passed
    network_error,   // the connection broke mid-response, or another transfer error
  };
  Kind kind = Kind::completed;
  long status = 0;      // the HTTP status when a head arrived, else 0
  std::string message;  // for every kind but completed: what went wrong, for people
};

struct HttpCallbacks {
  std::function<void(const HttpResponseHead&)> on_head;
  std::function<void(std::string_view bytes)> on_body;
  std::function<void(const HttpOutcome&)> on_done;
};

// A transfer in flight. cancel() may be called from any thread, any number of
// times, also after the end; on_done(cancelled) follows promptly unless the
// transfer already ended, and no on_head or on_body starts after cancel()
// returned. The handle may outlive the client.
class HttpTransfer {
 public:
  virtual ~HttpTransfer() = default;
  virtual void cancel() = 0;
};

class HttpClient {
 public:
  HttpClient();   // starts the I/O thread; throws Error(internal) if libcurl cannot start
  ~HttpClient();  // close()
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Aborts every transfer (on_done(cancelled)), drops pending run_after
  // callbacks, joins the I/O thread. Idempotent. Not from the I/O thread.
  void close();

  // Starts a transfer; its callbacks follow on the I/O thread. After close(),
  // on_done(cancelled) runs at once on the calling thread.
  std::shared_ptr<HttpTransfer> start(HttpRequest request, HttpCallbacks callbacks);
  // Runs `fn` on the I/O thread after `delay` (steady time), unless closed
  // first. Equal deadlines run in the order they were asked for.
  void run_after(std::chrono::milliseconds delay, std::function<void()> fn);

  // Transfers started and not yet ended (on_done has not begun). Any thread.
  size_t transfers_in_flight() const;

 private:
  struct Loop;  // the I/O thread and its queues, shared with HttpTransfer handles
  std::shared_ptr<Loop> loop_;
};

}  // namespace storyloom::detail
