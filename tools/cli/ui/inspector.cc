// Routes (all JSON; errors are {"error": message} with a 4xx/5xx status):
//   GET  /api/info                          {"read_only", "version"}
//   GET  /api/runs?status&workflow&owner&error_class&finished_after&finished_before&limit&cursor&q
//   GET  /api/runs/{id}                     snapshot + children + each stream's current text
//   GET  /api/runs/{id}/events?after&limit  stored events
//   GET  /api/runs/{id}/artifacts           every version of every artifact
//   GET  /api/runs/{id}/stream              SSE (server.cc; Last-Event-ID resumes)
//   POST /api/runs/{id}/cancel | retry | rewind {"step"} | signal {"name","payload"} | priority {"priority"}
//   POST /api/dead-letter/retry             {"workflow","owner","error_class","finished_after","finished_before"}
//   GET  /api/limits?lease_ms&top           shared resources, busiest concurrency keys, throttle windows
#include "inspector.h"

#include <boost/json.hpp>
#include <chrono>
#include <cmath>

#include "query_params.h"
#include "storyloom/error.h"

namespace storyloom::cli::ui {
namespace {

constexpr size_t kMaxRunIdBytes = kMaxNameBytes;
constexpr size_t kEventPage = 1000;

ApiResponse json_response(int status, const Json& body) {
  return ApiResponse{status, "application/json", boost::json::serialize(body)};
}

ApiResponse error_response(int status, std::string_view message) {
  return json_response(status, boost::json::object{{"error", message}});
}

int http_status(ErrorCode code) {
  switch (code) {
    case ErrorCode::invalid_argument:
      return 400;
    case ErrorCode::not_found:
      return 404;
    case ErrorCode::invalid_state:
      return 409;
    case ErrorCode::payload_too_large:
      return 413;
    case ErrorCode::closed:
      return 503;
    default:
      return 500;
  }
}

std::optional<ErrorClass> parse_error_class(const std::optional<std::string>& text) {
  if (!text) return std::nullopt;
  for (auto c : {ErrorClass::retryable, ErrorClass::fatal, ErrorClass::rate_limited,
                 ErrorClass::timeout}) {
    if (*text == to_string(c)) return c;
  }
  throw ApiError(400, "error_class must be retryable, fatal, rate_limited or timeout, got '" +
                          text->substr(0, 64) + "'");
}

std::string checked_run_id(std::string_view encoded) {
  std::string id = percent_decode(encoded, "run id");
  if (id.empty()) throw ApiError(400, "run id is empty");
  if (id.size() > kMaxRunIdBytes) {
    throw ApiError(400, "run id is longer than " + std::to_string(kMaxRunIdBytes) + " bytes");
  }
  for (unsigned char c : id) {
    if (c < 0x20 || c == 0x7f) throw ApiError(400, "run id has a control character");
  }
  return id;
}

// The body of an action: a JSON object (an empty body counts as {}).
boost::json::object body_object(const std::string& body) {
  if (body.empty()) return {};
  boost::system::error_code ec;
  Json value = boost::json::parse(body, ec);
  if (ec) throw ApiError(400, "request body is not valid JSON: " + ec.message());
  if (!value.is_object()) throw ApiError(400, "request body must be a JSON object");
  return value.as_object();
}

void only_fields(const boost::json::object& body, std::initializer_list<std::string_view> known) {
  for (const auto& field : body) {
    bool ok = false;
    for (auto k : known) ok = ok || k == field.key();
    if (!ok) throw ApiError(400, "unknown field '" + std::string(field.key().substr(0, 64)) + "'");
  }
}

std::string string_field(const boost::json::object& body, std::string_view name, bool required) {
  auto it = body.find(name);
  if (it == body.end() || it->value().is_null()) {
    if (required) throw ApiError(400, "missing field '" + std::string(name) + "'");
    return {};
  }
  if (!it->value().is_string()) throw ApiError(400, "field '" + std::string(name) + "' must be a string");
  std::string value(it->value().as_string());
  if (required && value.empty()) throw ApiError(400, "field '" + std::string(name) + "' is empty");
  return value;
}

std::optional<int64_t> integer_field(const boost::json::object& body, std::string_view name,
                                     int64_t min, int64_t max) {
  auto it = body.find(name);
  if (it == body.end() || it->value().is_null()) return std::nullopt;
  const Json& v = it->value();
  int64_t value = 0;
  if (v.is_int64()) {
    value = v.as_int64();
  } else if (v.is_uint64() && v.as_uint64() <= static_cast<uint64_t>(max)) {
    value = static_cast<int64_t>(v.as_uint64());
  } else {
    throw ApiError(400, "field '" + std::string(name) + "' must be a whole number");
  }
  if (value < min || value > max) {
    throw ApiError(400, "field '" + std::string(name) + "' must be between " + std::to_string(min) +
                            " and " + std::to_string(max) + ", got " + std::to_string(value));
  }
  return value;
}

// Splits "/api/runs/ID/tail?query" into its parts.
struct Target {
  std::string_view path;
  std::string_view query;
};

Target split_target(std::string_view target) {
  size_t q = target.find('?');
  if (q == std::string_view::npos) return {target, {}};
  return {target.substr(0, q), target.substr(q + 1)};
}

// "/api/runs/ID" or "/api/runs/ID/tail": the encoded ID and the tail.
std::optional<std::pair<std::string_view, std::string_view>> run_path(std::string_view path) {
  constexpr std::string_view prefix = "/api/runs/";
  if (path.substr(0, prefix.size()) != prefix) return std::nullopt;
  std::string_view rest = path.substr(prefix.size());
  size_t slash = rest.find('/');
  if (slash == std::string_view::npos) return std::make_pair(rest, std::string_view());
  return std::make_pair(rest.substr(0, slash), rest.substr(slash + 1));
}

// The current attempt's text of each stream, put together from the run's
// chunk events (bytes [attempt_start, end) of the stream).
template <typename EventsFn>
boost::json::object stream_texts(const Snapshot& snap, EventsFn events) {
  std::map<std::string, std::string, std::less<>> text;
  std::map<std::string, std::pair<int64_t, int64_t>, std::less<>> bounds;
  for (const auto& s : snap.streams) {
    bounds[s.name] = {s.attempt_start, s.end};
    text[s.name];
  }
  if (!bounds.empty()) {
    int64_t after = 0;
    for (;;) {
      std::vector<Event> page = events(after);
      for (const auto& e : page) {
        if (e.type != "chunk" || !e.data.is_object()) continue;
        const auto& d = e.data.as_object();
        auto s = d.find("stream"), o = d.find("offset"), t = d.find("text");
        if (s == d.end() || o == d.end() || t == d.end() || !s->value().is_string() ||
            !o->value().is_int64() || !t->value().is_string()) {
          continue;
        }
        auto b = bounds.find(std::string_view(s->value().as_string()));
        if (b == bounds.end()) continue;
        int64_t offset = o->value().as_int64();
        std::string_view chunk = t->value().as_string();
        auto [start, end] = b->second;
        // Keep the part of this chunk inside [start, end), appended in order.
        int64_t from = std::max(offset, start), to = std::min<int64_t>(offset + chunk.size(), end);
        std::string& out = text[b->first];
        if (from < to && from == start + static_cast<int64_t>(out.size())) {
          out.append(chunk.substr(from - offset, to - from));
        }
      }
      if (page.size() < kEventPage) break;
      after = page.back().id;
    }
  }
  boost::json::object out;
  for (auto& [name, t] : text) out[name] = t;
  return out;
}

}  // namespace

Inspector::Inspector(std::unique_ptr<StoreReader> reader, std::unique_ptr<Engine> engine)
    : reader_(std::move(reader)), engine_(std::move(engine)) {}

Inspector::~Inspector() { close(); }

void Inspector::close() {
  std::lock_guard lock(engine_mutex_);
  if (engine_) engine_->close();
}

ApiResponse Inspector::handle(const ApiRequest& request) {
  try {
    return route(request);
  } catch (const ApiError& e) {
    return error_response(e.status(), e.what());
  } catch (const Error& e) {
    return error_response(http_status(e.code()), e.what());
  } catch (const std::exception& e) {
    return error_response(500, std::string("internal error: ") + e.what());
  }
}

ApiResponse Inspector::route(const ApiRequest& request) {
  auto [path, query] = split_target(request.target);
  const bool get = request.method == "GET";
  const bool post = request.method == "POST";
  if (post && !request.body.empty() &&
      request.content_type.substr(0, 16) != "application/json") {
    // Also keeps other sites' plain form posts out: a JSON post from another
    // origin needs a CORS preflight, which this server never grants.
    throw ApiError(415, "POST bodies must be application/json");
  }
  if (path == "/api/info") {
    if (!get) throw ApiError(405, "use GET for /api/info");
    return json_response(200, boost::json::object{{"read_only", read_only()}});
  }
  if (path == "/api/runs") {
    if (!get) throw ApiError(405, "use GET for /api/runs");
    return ApiResponse{200, "application/json", list_runs(query)};
  }
  if (path == "/api/limits") {
    if (!get) throw ApiError(405, "use GET for /api/limits");
    return ApiResponse{200, "application/json", limits(query)};
  }
  if (path == "/api/dead-letter/retry") {
    if (!post) throw ApiError(405, "use POST for /api/dead-letter/retry");
    return ApiResponse{200, "application/json", retry_dead_letters(request.body)};
  }
  auto run = run_path(path);
  if (!run) throw ApiError(404, "no such API route: " + std::string(path.substr(0, 100)));
  std::string run_id = checked_run_id(run->first);
  std::string_view tail = run->second;
  if (tail.empty() || tail == "events" || tail == "artifacts") {
    if (!get) throw ApiError(405, "use GET to read a run");
    if (tail.empty()) {
      QueryParams(query).only({});
      return ApiResponse{200, "application/json", run_detail(run_id)};
    }
    if (tail == "events") return ApiResponse{200, "application/json", run_events(run_id, query)};
    QueryParams(query).only({});
    return ApiResponse{200, "application/json", run_artifacts(run_id)};
  }
  if (tail == "cancel" || tail == "retry" || tail == "rewind" || tail == "signal" ||
      tail == "priority") {
    if (!post) throw ApiError(405, "use POST for the " + std::string(tail) + " action");
    return ApiResponse{200, "application/json", run_action(run_id, tail, request.body)};
  }
  throw ApiError(404, "no such API route: " + std::string(path.substr(0, 100)));
}

std::string Inspector::list_runs(std::string_view query) {
  QueryParams params(query);
  params.only({"status", "workflow", "owner", "error_class", "finished_after", "finished_before",
               "limit", "cursor", "q"});
  // Search by run id or idempotency key: at most one run, no paging.
  if (auto q = params.text("q")) {
    if (q->size() > kMaxKeyBytes) {
      throw ApiError(400, "q is longer than " + std::to_string(kMaxKeyBytes) + " bytes");
    }
    RunPage page;
    std::lock_guard lock(reader_mutex_);
    try {
      page.runs.push_back(reader_->get(*q));
    } catch (const Error& e) {
      if (e.code() != ErrorCode::not_found && e.code() != ErrorCode::invalid_argument) throw;
      if (auto by_key = reader_->find_by_idempotency_key(*q)) page.runs.push_back(*by_key);
    }
    return boost::json::serialize(to_json(page));
  }
  RunFilter filter;
  if (auto s = params.text("status")) {
    try {
      filter.status = parse_run_status(*s);
    } catch (const Error& e) {
      throw ApiError(400, std::string("status: ") + e.what());
    }
  }
  filter.workflow = params.text("workflow").value_or("");
  filter.owner = params.text("owner").value_or("");
  filter.error_class = parse_error_class(params.text("error_class"));
  constexpr int64_t kMaxMs = int64_t{1} << 53;
  filter.finished_after_ms = params.integer("finished_after", 0, kMaxMs).value_or(0);
  filter.finished_before_ms = params.integer("finished_before", 0, kMaxMs).value_or(0);
  filter.limit = static_cast<size_t>(params.integer("limit", 1, 1000).value_or(50));
  filter.after_run_id = params.text("cursor").value_or("");
  if (filter.workflow.size() > kMaxNameBytes) throw ApiError(400, "workflow name is too long");
  if (filter.owner.size() > kMaxKeyBytes) throw ApiError(400, "owner is too long");
  std::lock_guard lock(reader_mutex_);
  return boost::json::serialize(to_json(reader_->list(filter)));
}

std::string Inspector::limits(std::string_view query) {
  QueryParams params(query);
  params.only({"lease_ms", "top"});
  int64_t lease_ms = params.integer("lease_ms", 1, 86'400'000).value_or(10'000);
  size_t top = static_cast<size_t>(params.integer("top", 1, 100).value_or(20));
  int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  LimitsView view;
  {
    std::lock_guard lock(reader_mutex_);
    view = reader_->limits(now, lease_ms, top);
  }
  // +inf (no limit of that kind) is null in JSON.
  auto level = [](double v) { return std::isinf(v) ? Json(nullptr) : Json(v); };
  boost::json::array resources, keys, throttles;
  for (const auto& r : view.resources) {
    resources.push_back(boost::json::object{
        {"name", r.name},
        {"limits", boost::json::object{{"requests", r.limits.requests},
                                       {"period_ms", r.limits.period.count()},
                                       {"burst", r.limits.burst},
                                       {"max_in_flight", r.limits.max_in_flight},
                                       {"tokens_per_minute", r.limits.tokens_per_minute}}},
        {"available_requests", level(r.available_requests)},
        {"available_tokens", level(r.available_tokens)},
        {"in_flight", r.in_flight},
        {"paused_until_ms", r.paused_until_ms}});
  }
  for (const auto& k : view.keys) {
    keys.push_back(boost::json::object{{"workflow", k.workflow}, {"key", k.key},
                                       {"running", k.running}, {"queued", k.queued},
                                       {"limit", k.limit}});
  }
  for (const auto& t : view.throttles) {
    throttles.push_back(boost::json::object{{"workflow", t.workflow}, {"key", t.key},
                                            {"started", t.started}, {"limit", t.limit},
                                            {"period_ms", t.period_ms},
                                            {"frees_at_ms", t.frees_at_ms}});
  }
  return boost::json::serialize(boost::json::object{{"now_ms", now},
                                                    {"lease_ms", lease_ms},
                                                    {"resources", std::move(resources)},
                                                    {"concurrency_keys", std::move(keys)},
                                                    {"throttles", std::move(throttles)}});
}

std::string Inspector::run_detail(const std::string& run_id) {
  std::lock_guard lock(reader_mutex_);
  Snapshot snap = reader_->snapshot(run_id);
  Json out = to_json(snap);
  boost::json::array children;
  for (const auto& id : reader_->children(run_id)) {
    try {
      RunInfo child = reader_->get(id);
      children.push_back(boost::json::object{
          {"id", child.id}, {"workflow", child.workflow}, {"status", to_string(child.status)}});
    } catch (const Error&) {
      children.push_back(boost::json::object{{"id", id}, {"workflow", nullptr}, {"status", nullptr}});
    }
  }
  out.as_object()["children"] = std::move(children);
  out.as_object()["stream_text"] = stream_texts(
      snap, [&](int64_t after) { return reader_->events(run_id, after, kEventPage); });
  return boost::json::serialize(out);
}

std::string Inspector::run_events(const std::string& run_id, std::string_view query) {
  QueryParams params(query);
  params.only({"after", "limit"});
  int64_t after = params.integer("after", 0, INT64_MAX).value_or(0);
  size_t limit = static_cast<size_t>(params.integer("limit", 1, 10000).value_or(1000));
  std::lock_guard lock(reader_mutex_);
  boost::json::array events;
  for (const auto& e : reader_->events(run_id, after, limit)) events.push_back(to_json(e));
  return boost::json::serialize(boost::json::object{{"events", std::move(events)}});
}

std::string Inspector::run_artifacts(const std::string& run_id) {
  std::lock_guard lock(reader_mutex_);
  boost::json::array out;
  for (const auto& a : reader_->artifacts(run_id)) out.push_back(to_json(a));
  return boost::json::serialize(boost::json::object{{"artifacts", std::move(out)}});
}

Engine& Inspector::engine_for(std::string_view action) {
  if (!engine_) {
    throw ApiError(403, "the inspector is read-only (--read-only): " + std::string(action) +
                            " is refused");
  }
  return *engine_;
}

std::string Inspector::run_action(const std::string& run_id, std::string_view action,
                                  const std::string& body) {
  std::lock_guard lock(engine_mutex_);
  Engine& engine = engine_for(action);
  boost::json::object args = body_object(body);
  boost::json::object out{{"run_id", run_id}, {"action", action}};
  if (action == "cancel") {
    only_fields(args, {});
    engine.cancel(run_id);
  } else if (action == "retry") {
    only_fields(args, {});
    engine.retry(run_id);
  } else if (action == "rewind") {
    only_fields(args, {"step"});
    std::string step = string_field(args, "step", true);
    engine.rewind(run_id, step);
    out["step"] = step;
  } else if (action == "signal") {
    only_fields(args, {"name", "payload"});
    std::string name = string_field(args, "name", true);
    auto payload = args.find("payload");
    engine.signal(run_id, name, payload == args.end() ? Json(nullptr) : payload->value());
    out["name"] = name;
  } else if (action == "priority") {
    only_fields(args, {"priority"});
    auto priority = integer_field(args, "priority", INT32_MIN, INT32_MAX);
    if (!priority) throw ApiError(400, "missing field 'priority'");
    engine.set_priority(run_id, static_cast<int>(*priority));
    out["priority"] = *priority;
  }
  out["run"] = to_json(engine.get(run_id));
  return boost::json::serialize(out);
}

std::string Inspector::retry_dead_letters(const std::string& body) {
  std::lock_guard lock(engine_mutex_);
  Engine& engine = engine_for("bulk retry");
  boost::json::object args = body_object(body);
  only_fields(args, {"workflow", "owner", "error_class", "finished_after", "finished_before"});
  RunFilter filter;
  filter.status = RunStatus::failed;
  filter.workflow = string_field(args, "workflow", false);
  filter.owner = string_field(args, "owner", false);
  std::string error_class = string_field(args, "error_class", false);
  if (!error_class.empty()) filter.error_class = parse_error_class(error_class);
  constexpr int64_t kMaxMs = int64_t{1} << 53;
  filter.finished_after_ms = integer_field(args, "finished_after", 0, kMaxMs).value_or(0);
  filter.finished_before_ms = integer_field(args, "finished_before", 0, kMaxMs).value_or(0);
  std::vector<std::string> unreadable;
  size_t queued = engine.retry_failed(filter, &unreadable);
  boost::json::array skipped;
  for (auto& id : unreadable) skipped.push_back(boost::json::string(id));
  return boost::json::serialize(
      boost::json::object{{"queued", queued}, {"unreadable", std::move(skipped)}});
}

std::optional<EventStreamRequest> Inspector::event_stream(std::string_view method,
                                                          std::string_view target,
                                                          std::string_view last_event_id) {
  auto [path, query] = split_target(target);
  auto run = run_path(path);
  if (!run || run->second != "stream") return std::nullopt;
  if (method != "GET") throw ApiError(405, "use GET for an event stream");
  EventStreamRequest out;
  out.run_id = checked_run_id(run->first);
  QueryParams params(query);
  params.only({"after"});
  out.after_id = params.integer("after", 0, INT64_MAX).value_or(0);
  if (!last_event_id.empty()) out.after_id = parse_integer(last_event_id, "Last-Event-ID", 0, INT64_MAX);
  std::lock_guard lock(reader_mutex_);
  reader_->get(out.run_id);  // 404 before the stream starts
  return out;
}

std::vector<Event> Inspector::events_after(const std::string& run_id, int64_t after_id) {
  std::lock_guard lock(reader_mutex_);
  return reader_->events(run_id, after_id, kEventPage);
}

}  // namespace storyloom::cli::ui
