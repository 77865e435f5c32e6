// HttpClient over libcurl's multi interface. One I/O thread owns the multi
// handle and every easy handle; other threads only queue work under a mutex
// and wake that thread with curl_multi_wakeup. libcurl callbacks never call
// curl_multi_* (libcurl forbids it): cancels, idle timeouts and endings are
// handled by the loop between curl_multi_perform calls.
#include "http/http_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include "storyloom/error.h"

namespace storyloom::detail {
namespace {

// $no_proxy (or $NO_PROXY) plus the loopback names; read once.
const std::string& loopback_and_no_proxy() {
  static const std::string list = [] {
    std::string out = "localhost,127.0.0.1,::1";
    for (const char* name : {"no_proxy", "NO_PROXY"}) {
      const char* v = std::getenv(name);
      if (v && *v) return out + "," + v;
    }
    return out;
  }();
  return list;
}


using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

void init_curl_once() {
  static std::once_flag once;
  static CURLcode result = CURLE_OK;
  std::call_once(once, [] { result = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (result != CURLE_OK) {
    throw Error(ErrorCode::internal,
                std::string("libcurl could not be initialised: ") + curl_easy_strerror(result));
  }
}

char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

std::string_view trim(std::string_view s) {
  const auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && blank(s.back())) s.remove_suffix(1);
  return s;
}

// "host:port" of a URL, the only part of a request that error messages name:
// paths and queries can carry keys too.
std::string host_port(const std::string& url) {
  std::string out = "(unparsable URL)";
  CURLU* parsed = curl_url();
  if (parsed != nullptr && curl_url_set(parsed, CURLUPART_URL, url.c_str(), 0) == CURLUE_OK) {
    char* host = nullptr;
    char* port = nullptr;
    if (curl_url_get(parsed, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
        curl_url_get(parsed, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK) {
      out = std::string(host) + ":" + port;
    }
    curl_free(host);
    curl_free(port);
  }
  curl_url_cleanup(parsed);
  return out;
}

// A method is a token: anything else could smuggle a second request line.
bool valid_method(std::string_view method) {
  if (method.empty()) return false;
  return std::all_of(method.begin(), method.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
  });
}

// Why a request header cannot be sent, or "". Names only: values are secret.
std::string header_problem(std::string_view name, std::string_view value) {
  const auto bad_in_name = [](char c) {
    return c == ':' || c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\0';
  };
  if (name.empty() || std::any_of(name.begin(), name.end(), bad_in_name)) {
    return "invalid request header name '" + std::string(name) + "'";
  }
  if (value.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos) {
    return "request header '" + std::string(name) + "' holds a line break or NUL";
  }
  return "";
}

bool is_connect_failure(CURLcode code) {
  switch (code) {
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CLIENTCERT:
      return true;
    default:
      return false;
  }
}

bool is_broken_connection(CURLcode code) {
  switch (code) {
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return true;
    default:
      return false;
  }
}

class CurlLoop;

// One request in flight. Created by start() on any thread, then owned by the
// I/O thread: every member but the two atomics is touched only there (after
// close(), start() ends it on the caller's thread and the loop never sees it).
class Transfer final : public HttpTransfer {
 public:
  Transfer(std::weak_ptr<CurlLoop> loop, HttpRequest request, HttpCallbacks callbacks)
      : loop_(std::move(loop)), request_(std::move(request)), callbacks_(std::move(callbacks)) {}
  ~Transfer() override { release(); }

  void cancel() override;

  bool cancel_requested() const { return cancel_requested_.load(std::memory_order_acquire); }
  bool ended() const { return ended_.load(std::memory_order_acquire); }
  CURL* easy() const { return easy_; }

  // Builds the easy handle; returns why it cannot be built, or "".
  std::string prepare();
  // Frees the easy handle (already removed from the multi handle).
  void release();

  // When the idle timeout fails this transfer, if it has one running: the
  // clock starts once connected (connect_timeout covers connecting).
  std::optional<Clock::time_point> idle_deadline() const;
  HttpOutcome outcome_of(CURLcode code) const;
  HttpOutcome idle_outcome() const;
  HttpOutcome cancelled_outcome(std::string message) const;

  // The last callbacks: on_head if it is still owed, then on_done. Marks the
  // transfer ended and lets go of the callbacks (they may hold the transfer).
  void deliver_done(HttpOutcome outcome);

 private:
  static size_t on_header(char* data, size_t size, size_t count, void* self);
  static size_t on_write(char* data, size_t size, size_t count, void* self);
  static int on_connected(void* self, char* remote_ip, char* local_ip, int remote_port,
                          int local_port);

  bool header_line(std::string_view line);
  bool body_bytes(std::string_view bytes);
  bool fire_head();
  long final_status() const { return head_complete_ ? head_.status : 0; }

  const std::weak_ptr<CurlLoop> loop_;
  HttpRequest request_;
  HttpCallbacks callbacks_;
  std::atomic<bool> cancel_requested_{false};
  std::atomic<bool> ended_{false};

  CURL* easy_ = nullptr;
  curl_slist* header_list_ = nullptr;
  char error_[CURL_ERROR_SIZE] = {};
  std::string where_;  // host:port, for messages
  HttpResponseHead head_;
  bool head_complete_ = false;  // the final response's blank line came
  bool head_fired_ = false;
  bool connected_ = false;
  Clock::time_point last_activity_;
  std::string callback_failure_;  // what a throwing callback said
};

// The I/O thread and what other threads hand it.
class CurlLoop {
 public:
  CurlLoop() {
    init_curl_once();
    multi_ = curl_multi_init();
    if (multi_ == nullptr) {
      throw Error(ErrorCode::internal, "libcurl could not create a multi handle");
    }
  }
  ~CurlLoop() {
    if (multi_ != nullptr) curl_multi_cleanup(multi_);
  }
  CurlLoop(const CurlLoop&) = delete;
  CurlLoop& operator=(const CurlLoop&) = delete;

  void launch(std::shared_ptr<CurlLoop> self) {
    thread_ = std::thread([self = std::move(self)] { self->run(); });
    io_thread_ = thread_.get_id();
  }

  std::shared_ptr<HttpTransfer> start(std::weak_ptr<CurlLoop> self, HttpRequest request,
                                      HttpCallbacks callbacks);
  void run_after(milliseconds delay, std::function<void()> fn);
  void request_cancel();
  void close();
  size_t in_flight() const { return in_flight_.load(); }

 private:
  struct Timer {
    Clock::time_point due;
    uint64_t seq;  // equal deadlines run in the order they were asked for
    std::function<void()> fn;
  };
  static bool later(const Timer& a, const Timer& b) {
    return a.due != b.due ? a.due > b.due : a.seq > b.seq;
  }

  void wake_locked() {
    if (multi_ != nullptr) curl_multi_wakeup(multi_);
  }

  void run();
  void begin(std::shared_ptr<Transfer> transfer);
  void end(std::shared_ptr<Transfer> transfer, HttpOutcome outcome);
  void perform();
  void end_cancelled();
  void end_idle();
  void run_due_timers();
  int poll_timeout_ms();
  void wind_down();

  CURLM* multi_ = nullptr;  // written under mu_ only by the I/O thread, when it goes
  std::thread thread_;
  std::thread::id io_thread_;
  std::mutex join_mu_;  // held by the close() that joins, so a second close() waits too
  std::atomic<size_t> in_flight_{0};

  std::mutex mu_;  // guards the four fields below
  bool closing_ = false;
  bool cancels_pending_ = false;
  std::vector<std::shared_ptr<Transfer>> arrived_;
  std::vector<Timer> timers_;  // a heap by later()
  uint64_t timer_seq_ = 0;

  std::unordered_map<CURL*, std::shared_ptr<Transfer>> active_;  // I/O thread only
};

// --- Transfer ---------------------------------------------------------------

void Transfer::cancel() {
  if (ended() || cancel_requested_.exchange(true, std::memory_order_acq_rel)) return;
  if (auto loop = loop_.lock()) loop->request_cancel();
}

std::string Transfer::prepare() {
  where_ = host_port(request_.url);
  if (!valid_method(request_.method)) return "invalid HTTP method '" + request_.method + "'";
  for (const auto& [name, value] : request_.headers) {
    if (std::string problem = header_problem(name, value); !problem.empty()) return problem;
  }
  easy_ = curl_easy_init();
  if (easy_ == nullptr) return "libcurl could not create a transfer";

  for (const auto& [name, value] : request_.headers) {
    // "Name;" is libcurl's spelling of a header with an empty value.
    const std::string line = value.empty() ? name + ";" : name + ": " + value;
    curl_slist* grown = curl_slist_append(header_list_, line.c_str());
    if (grown == nullptr) return "out of memory for request headers";
    header_list_ = grown;
  }
  // Without this libcurl waits for "100 Continue" before sending larger bodies.
  curl_slist* grown = curl_slist_append(header_list_, "Expect:");
  if (grown == nullptr) return "out of memory for request headers";
  header_list_ = grown;

  curl_easy_setopt(easy_, CURLOPT_URL, request_.url.c_str());
  curl_easy_setopt(easy_, CURLOPT_HTTPHEADER, header_list_);
  if (request_.method == "GET" && request_.body.empty()) {
    curl_easy_setopt(easy_, CURLOPT_HTTPGET, 1L);
  } else if (request_.method == "HEAD") {
    curl_easy_setopt(easy_, CURLOPT_NOBODY, 1L);
  } else {
    curl_easy_setopt(easy_, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(request_.body.size()));
    curl_easy_setopt(easy_, CURLOPT_POSTFIELDS, request_.body.data());  // not copied: ours
    if (request_.method != "POST") {
      curl_easy_setopt(easy_, CURLOPT_CUSTOMREQUEST, request_.method.c_str());
    }
  }
#if LIBCURL_VERSION_NUM >= 0x075500
  curl_easy_setopt(easy_, CURLOPT_PROTOCOLS_STR, "http,https");
#else
  curl_easy_setopt(easy_, CURLOPT_PROTOCOLS, static_cast<long>(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
  curl_easy_setopt(easy_, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy_, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(easy_, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);  // a proxy's CONNECT reply
  curl_easy_setopt(easy_, CURLOPT_TCP_KEEPALIVE, 1L);             // streams can be quiet for long
  // A proxy from the environment serves remote providers, never a local server.
  curl_easy_setopt(easy_, CURLOPT_NOPROXY, loopback_and_no_proxy().c_str());
  curl_easy_setopt(easy_, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(std::max<int64_t>(request_.connect_timeout.count(), 0)));
  if (request_.total_timeout.count() > 0) {
    curl_easy_setopt(easy_, CURLOPT_TIMEOUT_MS, static_cast<long>(request_.total_timeout.count()));
  }
  curl_easy_setopt(easy_, CURLOPT_ERRORBUFFER, error_);
  curl_easy_setopt(easy_, CURLOPT_HEADERFUNCTION, &Transfer::on_header);
  curl_easy_setopt(easy_, CURLOPT_HEADERDATA, this);
  curl_easy_setopt(easy_, CURLOPT_WRITEFUNCTION, &Transfer::on_write);
  curl_easy_setopt(easy_, CURLOPT_WRITEDATA, this);

  bool knows_when_connected = false;
#if LIBCURL_VERSION_NUM >= 0x075000
  knows_when_connected =
      curl_easy_setopt(easy_, CURLOPT_PREREQFUNCTION, &Transfer::on_connected) == CURLE_OK &&
      curl_easy_setopt(easy_, CURLOPT_PREREQDATA, this) == CURLE_OK;
#endif
  // Without the connected callback (libcurl < 7.80) the idle clock starts now.
  connected_ = !knows_when_connected;
  last_activity_ = Clock::now();
  return "";
}

void Transfer::release() {
  if (easy_ != nullptr) curl_easy_cleanup(easy_);
  easy_ = nullptr;
  curl_slist_free_all(header_list_);
  header_list_ = nullptr;
}

std::optional<Clock::time_point> Transfer::idle_deadline() const {
  if (!connected_ || request_.idle_timeout.count() <= 0) return std::nullopt;
  return last_activity_ + request_.idle_timeout;
}

HttpOutcome Transfer::outcome_of(CURLcode code) const {
  HttpOutcome outcome;
  outcome.status = final_status();
  if (code == CURLE_OK) return outcome;
  if (!callback_failure_.empty()) {
    outcome.kind = HttpOutcome::Kind::network_error;
    outcome.message = callback_failure_ + " (" + where_ + ")";
    return outcome;
  }
  // libcurl's own words name hosts and ports, never request headers or bodies.
  const std::string detail(trim(error_[0] != '\0' ? error_ : curl_easy_strerror(code)));
  if (is_connect_failure(code) || (code == CURLE_OPERATION_TIMEDOUT && !connected_)) {
    outcome.kind = HttpOutcome::Kind::connect_failed;
    outcome.message = "cannot connect to " + where_ + ": " + detail;
  } else if (code == CURLE_OPERATION_TIMEDOUT && request_.total_timeout.count() > 0) {
    outcome.kind = HttpOutcome::Kind::total_timeout;
    outcome.message = "no complete response from " + where_ + " within " +
                      std::to_string(request_.total_timeout.count()) + " ms: " + detail;
  } else if (is_broken_connection(code)) {
    outcome.kind = HttpOutcome::Kind::network_error;
    outcome.message = "connection to " + where_ + " broke: " + detail;
  } else {
    outcome.kind = HttpOutcome::Kind::network_error;
    outcome.message = "request to " + where_ + " failed: " + detail;
  }
  return outcome;
}

HttpOutcome Transfer::idle_outcome() const {
  HttpOutcome outcome;
  outcome.kind = HttpOutcome::Kind::idle_timeout;
  outcome.status = final_status();
  outcome.message =
      "no data for " + std::to_string(request_.idle_timeout.count()) + " ms from " + where_;
  return outcome;
}

HttpOutcome Transfer::cancelled_outcome(std::string message) const {
  HttpOutcome outcome;
  outcome.kind = HttpOutcome::Kind::cancelled;
  outcome.status = final_status();
  outcome.message = std::move(message);
  return outcome;
}

void Transfer::deliver_done(HttpOutcome outcome) {
  ended_.store(true, std::memory_order_release);
  // An empty body still owes its head.
  if (outcome.kind == HttpOutcome::Kind::completed && !head_fired_ && !fire_head()) {
    outcome.kind = HttpOutcome::Kind::network_error;
    outcome.message = callback_failure_ + " (" + where_ + ")";
  }
  const HttpCallbacks callbacks = std::move(callbacks_);
  callbacks_ = {};
  if (!callbacks.on_done) return;
  try {
    callbacks.on_done(outcome);
  } catch (...) {
    // Nothing is left to fail, and the I/O thread serves other transfers.
  }
}

size_t Transfer::on_header(char* data, size_t size, size_t count, void* self) {
  const size_t n = size * count;
  return static_cast<Transfer*>(self)->header_line({data, n}) ? n : 0;
}

size_t Transfer::on_write(char* data, size_t size, size_t count, void* self) {
  const size_t n = size * count;
  return static_cast<Transfer*>(self)->body_bytes({data, n}) ? n : 0;
}

int Transfer::on_connected(void* self, char*, char*, int, int) {
  auto* transfer = static_cast<Transfer*>(self);
  transfer->connected_ = true;
  transfer->last_activity_ = Clock::now();
  return CURL_PREREQFUNC_OK;
}

// libcurl hands over every header block: interim 1xx replies, the final reply,
// then trailers. Only the final reply's block is the head.
bool Transfer::header_line(std::string_view line) {
  last_activity_ = Clock::now();
  if (cancel_requested() || head_fired_) return true;
  line = trim(line);
  if (line.substr(0, 5) == "HTTP/") {
    head_ = {};
    head_complete_ = false;
    const size_t space = line.find(' ');
    if (space != std::string_view::npos) {
      long status = 0;
      for (size_t i = space + 1; i < line.size() && i < space + 4; ++i) {
        if (line[i] < '0' || line[i] > '9') break;
        status = status * 10 + (line[i] - '0');
      }
      head_.status = status;
    }
    return true;
  }
  if (line.empty()) {
    if (head_.status >= 100 && head_.status < 200) return true;  // interim; the real one follows
    head_complete_ = true;
    return fire_head();
  }
  if (head_complete_) return true;
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) return true;  // not a header; libcurl let it through
  std::string name(trim(line.substr(0, colon)));
  std::transform(name.begin(), name.end(), name.begin(), ascii_lower);
  head_.headers.emplace_back(std::move(name), std::string(trim(line.substr(colon + 1))));
  return true;
}

bool Transfer::body_bytes(std::string_view bytes) {
  last_activity_ = Clock::now();
  // After cancel() the bytes are dropped: the loop ends the transfer next.
  if (cancel_requested()) return true;
  if (!head_fired_ && !fire_head()) return false;
  if (!callbacks_.on_body) return true;
  try {
    callbacks_.on_body(bytes);
    return true;
  } catch (const std::exception& e) {
    callback_failure_ = std::string("on_body threw: ") + e.what();
  } catch (...) {
    callback_failure_ = "on_body threw a non-standard exception";
  }
  return false;
}

bool Transfer::fire_head() {
  head_fired_ = true;
  if (!callbacks_.on_head) return true;
  try {
    callbacks_.on_head(head_);
    return true;
  } catch (const std::exception& e) {
    callback_failure_ = std::string("on_head threw: ") + e.what();
  } catch (...) {
    callback_failure_ = "on_head threw a non-standard exception";
  }
  return false;
}

// --- CurlLoop: calls from any thread ----------------------------------------

std::shared_ptr<HttpTransfer> CurlLoop::start(std::weak_ptr<CurlLoop> self, HttpRequest request,
                                              HttpCallbacks callbacks) {
  auto transfer =
      std::make_shared<Transfer>(std::move(self), std::move(request), std::move(callbacks));
  {
    std::lock_guard lock(mu_);
    if (!closing_) {
      arrived_.push_back(transfer);
      ++in_flight_;
      wake_locked();
      return transfer;
    }
  }
  transfer->deliver_done(transfer->cancelled_outcome("the HTTP client is closed"));
  return transfer;
}

void CurlLoop::run_after(milliseconds delay, std::function<void()> fn) {
  std::lock_guard lock(mu_);
  if (closing_) return;
  timers_.push_back(Timer{Clock::now() + delay, timer_seq_++, std::move(fn)});
  std::push_heap(timers_.begin(), timers_.end(), later);
  wake_locked();
}

void CurlLoop::request_cancel() {
  std::lock_guard lock(mu_);
  cancels_pending_ = true;
  wake_locked();
}

void CurlLoop::close() {
  {
    std::lock_guard lock(mu_);
    closing_ = true;
    wake_locked();
  }
  if (std::this_thread::get_id() == io_thread_) {
    // From a callback, against the contract: the loop stops once the callback
    // returns. Joining itself would throw; if nobody else is joining, nobody
    // will, so let the thread finish alone (it holds the loop alive).
    std::unique_lock join_lock(join_mu_, std::try_to_lock);
    if (join_lock.owns_lock() && thread_.joinable()) thread_.detach();
    return;
  }
  std::lock_guard join_lock(join_mu_);
  if (thread_.joinable()) thread_.join();
}

// --- CurlLoop: the I/O thread -----------------------------------------------

void CurlLoop::run() {
  std::vector<std::shared_ptr<Transfer>> arrived;
  for (;;) {
    bool cancels = false;
    {
      std::lock_guard lock(mu_);
      if (closing_) break;
      arrived.swap(arrived_);
      cancels = std::exchange(cancels_pending_, false);
    }
    for (auto& transfer : arrived) begin(std::move(transfer));
    arrived.clear();
    if (cancels) end_cancelled();
    perform();
    end_idle();
    run_due_timers();
    curl_multi_poll(multi_, nullptr, 0, poll_timeout_ms(), nullptr);
  }
  wind_down();
}

void CurlLoop::begin(std::shared_ptr<Transfer> transfer) {
  if (transfer->cancel_requested()) {
    HttpOutcome cancelled = transfer->cancelled_outcome("cancelled");
    end(std::move(transfer), std::move(cancelled));
    return;
  }
  std::string problem;
  try {
    problem = transfer->prepare();
  } catch (const std::exception& e) {
    problem = std::string("cannot prepare the request: ") + e.what();
  }
  if (problem.empty()) {
    const CURLMcode added = curl_multi_add_handle(multi_, transfer->easy());
    if (added == CURLM_OK) {
      CURL* easy = transfer->easy();
      active_.emplace(easy, std::move(transfer));
      return;
    }
    problem = std::string("libcurl refused the transfer: ") + curl_multi_strerror(added);
  }
  HttpOutcome failed;
  failed.kind = HttpOutcome::Kind::network_error;
  failed.message = problem;
  end(std::move(transfer), std::move(failed));
}

void CurlLoop::end(std::shared_ptr<Transfer> transfer, HttpOutcome outcome) {
  if (transfer->ended()) return;
  if (const auto found = active_.find(transfer->easy()); found != active_.end()) {
    curl_multi_remove_handle(multi_, transfer->easy());
    active_.erase(found);
  }
  transfer->release();
  // Whoever asked to cancel gets "cancelled", even if the end raced it: bytes
  // after cancel() were dropped, so "completed" would be a lie.
  if (transfer->cancel_requested() && outcome.kind != HttpOutcome::Kind::cancelled) {
    outcome = transfer->cancelled_outcome("cancelled");
  }
  --in_flight_;
  transfer->deliver_done(std::move(outcome));
}

void CurlLoop::perform() {
  int running = 0;
  curl_multi_perform(multi_, &running);
  int queued = 0;
  while (CURLMsg* message = curl_multi_info_read(multi_, &queued)) {
    if (message->msg != CURLMSG_DONE) continue;
    // Read before end(): removing the handle frees the message.
    const CURLcode result = message->data.result;
    const auto found = active_.find(message->easy_handle);
    if (found == active_.end()) continue;
    std::shared_ptr<Transfer> transfer = found->second;
    end(transfer, transfer->outcome_of(result));
  }
}

void CurlLoop::end_cancelled() {
  std::vector<std::shared_ptr<Transfer>> cancelled;
  for (const auto& [easy, transfer] : active_) {
    if (transfer->cancel_requested()) cancelled.push_back(transfer);
  }
  for (auto& transfer : cancelled) end(transfer, transfer->cancelled_outcome("cancelled"));
}

void CurlLoop::end_idle() {
  const Clock::time_point now = Clock::now();
  std::vector<std::shared_ptr<Transfer>> idle;
  for (const auto& [easy, transfer] : active_) {
    const auto deadline = transfer->idle_deadline();
    if (deadline && *deadline <= now) idle.push_back(transfer);
  }
  for (auto& transfer : idle) end(transfer, transfer->idle_outcome());
}

void CurlLoop::run_due_timers() {
  for (;;) {
    std::function<void()> fn;
    {
      std::lock_guard lock(mu_);
      // close() drops timers even when they are already due.
      if (closing_ || timers_.empty() || timers_.front().due > Clock::now()) return;
      std::pop_heap(timers_.begin(), timers_.end(), later);
      fn = std::move(timers_.back().fn);
      timers_.pop_back();
    }
    try {
      if (fn) fn();
    } catch (...) {
      // Like on_done: no transfer to fail, and the loop must go on.
    }
  }
}

int CurlLoop::poll_timeout_ms() {
  // curl_multi_poll also stops early for libcurl's own timers; the cap only
  // bounds how long a lost wake-up could cost.
  milliseconds wait(1000);
  const Clock::time_point now = Clock::now();
  const auto until = [&](Clock::time_point when) {
    wait = std::min(wait, std::chrono::ceil<milliseconds>(when - now));
  };
  {
    std::lock_guard lock(mu_);
    if (!timers_.empty()) until(timers_.front().due);
  }
  for (const auto& [easy, transfer] : active_) {
    if (const auto deadline = transfer->idle_deadline()) until(*deadline);
  }
  return static_cast<int>(std::max<int64_t>(wait.count(), 0));
}

void CurlLoop::wind_down() {
  std::vector<std::shared_ptr<Transfer>> open;
  for (const auto& [easy, transfer] : active_) open.push_back(transfer);
  for (auto& transfer : open) end(transfer, transfer->cancelled_outcome("the HTTP client closed"));

  std::vector<std::shared_ptr<Transfer>> arrived;
  std::vector<Timer> timers;
  {
    std::lock_guard lock(mu_);
    arrived.swap(arrived_);
    timers.swap(timers_);
  }
  // start() refuses once closing_ is set, so nothing arrives after this.
  for (auto& transfer : arrived) {
    end(transfer, transfer->cancelled_outcome("the HTTP client closed"));
  }
  timers.clear();  // outside mu_: a callable's destructor may call run_after

  std::lock_guard lock(mu_);
  curl_multi_cleanup(multi_);
  multi_ = nullptr;
}

}  // namespace

// --- public surface ---------------------------------------------------------

std::string HttpResponseHead::header(std::string_view lowercase_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lowercase_name) return value;
  }
  return "";
}

struct HttpClient::Loop : CurlLoop {};

HttpClient::HttpClient() : loop_(std::make_shared<Loop>()) { loop_->launch(loop_); }

HttpClient::~HttpClient() { close(); }

void HttpClient::close() { loop_->close(); }

std::shared_ptr<HttpTransfer> HttpClient::start(HttpRequest request, HttpCallbacks callbacks) {
  return loop_->start(loop_, std::move(request), std::move(callbacks));
}

void HttpClient::run_after(std::chrono::milliseconds delay, std::function<void()> fn) {
  loop_->run_after(delay, std::move(fn));
}

size_t HttpClient::transfers_in_flight() const { return loop_->in_flight(); }

}  // namespace storyloom::detail
