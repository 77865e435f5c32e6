#include "webhooks/dispatcher.h"

#include <chrono>
#include <ctime>
#include <future>
#include <set>

#include "engine/engine_core.h"
#include "engine/validate.h"

namespace storyloom::detail {
namespace {

constexpr size_t kPage = 256;
constexpr size_t kMaxCachedRuns = 10000;
constexpr size_t kMaxIdBytes = 64;

[[noreturn]] void bad(const std::string& where, const std::string& what) {
  throw Error(ErrorCode::invalid_argument, where + " " + what);
}

bool matches(const WebhookSubscription& sub, const std::string& workflow, const std::string& type) {
  if (!sub.workflows.empty()) {
    bool found = false;
    for (const auto& w : sub.workflows) found = found || w == workflow;
    if (!found) return false;
  }
  for (const auto& e : sub.events) {
    if (e == type || (e == "*" && type != "chunk")) return true;
  }
  return false;
}

std::string iso8601(int64_t ms) {
  std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char text[64];
  std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms % 1000));
  return text;
}

// Retry-After in seconds (an HTTP date is not honoured: the backoff applies).
int64_t retry_after_ms(const std::string& value) {
  if (value.empty()) return 0;
  int64_t seconds = 0;
  for (char c : value) {
    if (c < '0' || c > '9') return 0;
    seconds = seconds * 10 + (c - '0');
    if (seconds > 86400) return 86400 * 1000;
  }
  return seconds * 1000;
}

struct AttemptOutcome {
  HttpOutcome outcome;
  std::string retry_after;
};

}  // namespace

void validate(const WebhookOptions& options) {
  std::set<std::string> ids;
  for (size_t i = 0; i < options.subscriptions.size(); ++i) {
    const auto& sub = options.subscriptions[i];
    std::string where = "webhook subscription " + std::to_string(i);
    if (sub.id.empty() || sub.id.size() > kMaxIdBytes) bad(where + " id", "must be 1-64 bytes");
    for (char c : sub.id) {
      bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '_' || c == '-' || c == '.';
      if (!ok) bad(where + " id '" + sub.id + "'", "may hold only letters, digits, '_', '-' and '.'");
    }
    where = "webhook subscription '" + sub.id + "'";
    if (!ids.insert(sub.id).second) bad(where, "is given twice");
    if (sub.url.rfind("http://", 0) != 0 && sub.url.rfind("https://", 0) != 0) {
      bad(where + " url", "must start with http:// or https://");
    }
    if (sub.secret.empty()) bad(where + " secret", "is empty");
    try {
      (void)webhook_signature(sub.secret, "check", 0, "");
    } catch (const Error& e) {
      bad(where, e.what());
    }
    if (sub.events.empty()) bad(where + " events", "is empty (give event types or \"*\")");
    for (const auto& e : sub.events) check_name(where + " event type", e);
    for (const auto& w : sub.workflows) check_name(where + " workflow", w);
  }
  validate(options.retry);
  if (options.attempt_timeout.count() <= 0) bad("webhook attempt_timeout", "must be positive");
}

WebhookDispatcher::WebhookDispatcher(EngineCore& core) : core_(core) {}

WebhookDispatcher::~WebhookDispatcher() { stop(); }

void WebhookDispatcher::configure(WebhookOptions options) {
  validate(options);
  bool start = false;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) throw Error(ErrorCode::closed, "the engine is closed");
    options_ = std::move(options);
    start = !started_;
    started_ = true;
  }
  if (!start) return;
  // Where to begin: the stored cursor, or (the first time on this store) the
  // present, so old events are not delivered to new subscriptions.
  auto stored = core_.read()->cursor(kWebhookCursor);
  if (stored) {
    cursor_ = *stored;
  } else {
    int64_t last = core_.read()->last_event_id();
    core_.writer().run([last](Batch& b) {
      if (!b.tx.cursor(kWebhookCursor)) b.tx.set_cursor(kWebhookCursor, last);
    });
    cursor_ = core_.read()->cursor(kWebhookCursor).value_or(last);
  }
  WorkflowOptions workflow;
  workflow.retry = options_.retry;
  core_.register_workflow(kWebhookWorkflow,
                          Workflow{[this](Context& ctx, const Json& input) { return deliver(ctx, input); },
                                   nullptr, workflow});
  thread_ = std::thread([this] { loop(); });
}

void WebhookDispatcher::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  http_.close();
}

void WebhookDispatcher::loop() {
  for (;;) {
    bool more = false;
    try {
      more = scan_once();
    } catch (const Error&) {
      // The store failed or the engine is closing: the cursor did not move,
      // so the same events are read again on the next turn.
    }
    std::unique_lock lock(mutex_);
    if (stopping_) return;
    if (!more) wake_.wait_for(lock, core_.options().poll_interval, [this] { return stopping_; });
    if (stopping_) return;
  }
}

std::string WebhookDispatcher::workflow_of(const std::string& run_id) {
  auto found = workflows_.find(run_id);
  if (found != workflows_.end()) return found->second;
  auto run = core_.read()->find_run(run_id);
  std::string workflow = run ? run->info.workflow : std::string();
  if (workflows_.size() >= kMaxCachedRuns) workflows_.clear();
  workflows_.emplace(run_id, workflow);
  return workflow;
}

bool WebhookDispatcher::scan_once() {
  auto events = core_.read()->events_since(cursor_, kPage);
  if (events.empty()) return false;
  std::vector<WebhookSubscription> subs;
  {
    std::lock_guard lock(mutex_);
    subs = options_.subscriptions;
  }
  std::vector<StartRequest> requests;
  for (const auto& e : events) {
    if (e.type == "chunk") continue;
    std::string workflow = workflow_of(e.run_id);
    // A removed run, and the deliveries themselves, are never delivered.
    if (workflow.empty() || workflow.rfind("storyloom.webhook", 0) == 0) continue;
    for (const auto& sub : subs) {
      if (!matches(sub, workflow, e.type)) continue;
      Json data;
      try {
        data = parse_json(e.data, "event data");
      } catch (const Error&) {
        data = nullptr;
      }
      StartRequest request;
      request.workflow = kWebhookWorkflow;
      std::string event_id = std::to_string(e.id);
      request.input = boost::json::object{
          {"subscription", sub.id},
          {"webhook_id", "msg_" + event_id + "_" + sub.id},
          {"event", boost::json::object{{"id", e.id},
                                        {"type", e.type},
                                        {"run_id", e.run_id},
                                        {"workflow", workflow},
                                        {"created_at_ms", e.created_at_ms},
                                        {"data", std::move(data)}}}};
      request.options.idempotency_key = "webhook:" + sub.id + ":" + event_id;
      request.options.owner = "webhook:" + sub.id;
      requests.push_back(std::move(request));
    }
  }
  if (!requests.empty()) {
    for (const auto& result : core_.start_many(std::move(requests))) {
      // Any refusal but an oversized event is the store's or the engine's
      // state: keep the cursor and read these events again.
      if (result.error && result.error->code() != ErrorCode::payload_too_large) throw *result.error;
    }
  }
  int64_t last = events.back().id;
  core_.writer().run([last](Batch& b) { b.tx.set_cursor(kWebhookCursor, last); });
  cursor_ = last;
  return events.size() == kPage;
}

Json WebhookDispatcher::deliver(Context& ctx, const Json& input) {
  RetryPolicy retry;
  {
    std::lock_guard lock(mutex_);
    retry = options_.retry;
  }
  return ctx.step("deliver", [&] { return attempt(ctx, input); }, retry);
}

Json WebhookDispatcher::attempt(Context& ctx, const Json& input) {
  const auto& in = input.as_object();
  std::string sub_id(in.at("subscription").as_string());
  std::string webhook_id(in.at("webhook_id").as_string());
  const auto& event = in.at("event").as_object();
  std::optional<WebhookSubscription> sub;
  std::chrono::milliseconds timeout;
  {
    std::lock_guard lock(mutex_);
    for (const auto& s : options_.subscriptions) {
      if (s.id == sub_id) sub = s;
    }
    timeout = options_.attempt_timeout;
  }
  if (!sub) {
    throw Error(ErrorCode::not_found, "webhook subscription '" + sub_id +
                                          "' is not configured in this process (configure_webhooks)");
  }
  if (core_.closing()) throw Error(ErrorCode::closed, "the engine is closing", ErrorClass::retryable);

  std::string body = boost::json::serialize(boost::json::object{
      {"type", event.at("type")},
      {"timestamp", iso8601(event.at("created_at_ms").to_number<int64_t>())},
      {"data", boost::json::object{{"run_id", event.at("run_id")},
                                   {"workflow", event.at("workflow")},
                                   {"event_id", event.at("id")},
                                   {"event", event.at("data")}}}});
  int64_t timestamp = core_.now_ms() / 1000;
  HttpRequest request;
  request.url = sub->url;
  request.body = body;
  request.connect_timeout = std::min(timeout, std::chrono::milliseconds(10000));
  request.idle_timeout = timeout;
  request.total_timeout = timeout;
  request.headers = {{"content-type", "application/json"},
                     {"user-agent", "storyloom-webhooks"},
                     {"webhook-id", webhook_id},
                     {"webhook-timestamp", std::to_string(timestamp)},
                     {"webhook-signature", webhook_signature(sub->secret, webhook_id, timestamp, body)}};

  auto done = std::make_shared<std::promise<AttemptOutcome>>();
  auto head = std::make_shared<std::string>();
  auto began = std::chrono::steady_clock::now();
  http_.start(std::move(request),
              HttpCallbacks{[head](const HttpResponseHead& h) { *head = h.header("retry-after"); },
                            [](std::string_view) {},
                            [done, head](const HttpOutcome& o) { done->set_value({o, *head}); }});
  AttemptOutcome result = done->get_future().get();
  int64_t latency = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - began)
                        .count();
  const HttpOutcome& o = result.outcome;
  std::string error;
  if (o.kind == HttpOutcome::Kind::cancelled) {
    throw Error(ErrorCode::closed, "the webhook attempt was stopped: the engine is closing",
                ErrorClass::retryable);
  }
  if (o.kind != HttpOutcome::Kind::completed) {
    error = o.message;
  } else if (o.status < 200 || o.status > 299) {
    error = "the receiver answered HTTP " + std::to_string(o.status);
  }
  ctx.emit("webhook.attempt", boost::json::object{{"status", o.status},
                                                  {"latency_ms", latency},
                                                  {"error", error.empty() ? Json(nullptr) : Json(error)}});
  if (!error.empty()) {
    int64_t wait = retry_after_ms(result.retry_after);
    throw Error(ErrorCode::step_failed, "webhook delivery to subscription '" + sub_id + "': " + error,
                wait > 0 ? ErrorClass::rate_limited : ErrorClass::retryable, wait);
  }
  return boost::json::object{{"status", o.status}, {"latency_ms", latency}};
}

// EngineCore's part: the dispatcher is created on first use and stopped first on close.
WebhookDispatcher& EngineCore::webhooks() {
  std::lock_guard lock(webhooks_mutex_);
  if (closing_) throw Error(ErrorCode::closed, "the engine is closed");
  if (!webhooks_) webhooks_ = std::make_shared<WebhookDispatcher>(*this);
  return *webhooks_;
}

void EngineCore::stop_webhooks() {
  std::shared_ptr<WebhookDispatcher> webhooks;
  {
    std::lock_guard lock(webhooks_mutex_);
    webhooks = webhooks_;
  }
  if (webhooks) webhooks->stop();
}

}  // namespace storyloom::detail
