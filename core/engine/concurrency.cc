#include "engine/concurrency.h"
#include "engine/validate.h"

namespace storyloom::detail {

KeyPath parse_key_path(std::string_view what, std::string_view path) {
  std::string shown(path);
  if (path.empty()) {
    throw Error(ErrorCode::invalid_argument,
                std::string(what) + " is empty; give a JSON path into the input such as \"$.user_id\"");
  }
  std::string_view rest = path;
  if (rest.rfind("$.", 0) == 0) {
    rest.remove_prefix(2);
  } else if (rest == "$") {
    rest = {};
  }
  KeyPath out;
  size_t start = 0;
  while (start <= rest.size()) {
    size_t end = rest.find('.', start);
    if (end == std::string_view::npos) end = rest.size();
    if (end == start) {
      throw Error(ErrorCode::invalid_argument,
                  std::string(what) + " '" + shown +
                      "' has an empty member name; use names separated by dots, such as \"$.user.id\"");
    }
    out.emplace_back(rest.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

std::string key_value(const KeyPath& path, const Json& input) {
  const Json* at = &input;
  for (const auto& name : path) {
    const auto* object = at->if_object();
    if (!object) return "null";
    at = object->if_contains(name);
    if (!at) return "null";
  }
  return boost::json::serialize(*at);
}

void validate_limits(const WorkflowOptions& o) {
  auto fail = [](const std::string& message) { throw Error(ErrorCode::invalid_argument, message); };
  if (o.max_running < 0) {
    fail("max_running must not be negative (0: no limit), got " + std::to_string(o.max_running));
  }
  if (o.concurrency) {
    parse_key_path("concurrency key path", o.concurrency->key);
    if (o.concurrency->limit < 1) {
      fail("concurrency limit must be at least 1, got " + std::to_string(o.concurrency->limit));
    }
  }
  if (o.throttle) {
    if (!o.throttle->key.empty()) parse_key_path("throttle key path", o.throttle->key);
    if (o.throttle->limit < 1) {
      fail("throttle limit must be at least 1, got " + std::to_string(o.throttle->limit));
    }
    if (o.throttle->period.count() < 1) {
      fail("throttle period must be at least 1 ms, got " + std::to_string(o.throttle->period.count()) +
           " ms");
    }
    check_duration_limit("throttle period", o.throttle->period);
  }
  if (o.run_timeout.count() < 0) {
    fail("run_timeout must not be negative (0: none), got " + std::to_string(o.run_timeout.count()) +
         " ms");
  }
  check_duration_limit("run_timeout", o.run_timeout);
}

bool has_limits(const WorkflowOptions& o) {
  return o.max_running > 0 || o.concurrency || o.throttle || o.run_timeout.count() > 0;
}

store::ClaimRules claim_rules(const WorkflowOptions& o) {
  store::ClaimRules r;
  r.max_running = o.max_running;
  if (o.concurrency) r.key_limit = o.concurrency->limit;
  if (o.throttle) {
    r.throttle_limit = o.throttle->limit;
    r.throttle_period_ms = o.throttle->period.count();
  }
  r.run_timeout_ms = o.run_timeout.count();
  return r;
}

store::RunKeys run_keys(const WorkflowOptions& o, const Json& input) {
  store::RunKeys keys;
  if (o.concurrency) keys.concurrency = key_value(parse_key_path("concurrency key path", o.concurrency->key), input);
  if (o.throttle) {
    keys.throttle = o.throttle->key.empty()
                        ? std::string("null")
                        : key_value(parse_key_path("throttle key path", o.throttle->key), input);
  }
  return keys;
}

}  // namespace storyloom::detail
