// A step's retry policy from JSON (the C ABI's and the bindings' form).
#include <algorithm>
#include <cmath>

#include "storyloom/error.h"
#include "storyloom/retry.h"

namespace storyloom {
namespace {

[[noreturn]] void bad(const std::string& why) {
  throw Error(ErrorCode::invalid_argument, "retry policy: " + why);
}

int64_t integer(const Json& value, std::string_view key) {
  if (value.is_int64()) return value.get_int64();
  if (value.is_uint64() && value.get_uint64() <= static_cast<uint64_t>(INT64_MAX)) {
    return static_cast<int64_t>(value.get_uint64());
  }
  if (value.is_double() && std::trunc(value.get_double()) == value.get_double() &&
      std::abs(value.get_double()) < 9e15) {
    return static_cast<int64_t>(value.get_double());  // JavaScript numbers
  }
  bad("'" + std::string(key) + "' must be an integer, got " + boost::json::serialize(value));
}

}  // namespace

std::optional<RetryPolicy> retry_policy_from_json(const Json& json) {
  if (json.is_null()) return std::nullopt;
  RetryPolicy p;
  if (json.is_bool()) {
    if (json.get_bool()) bad("true is not a policy; give an object, or false for no retries");
    return p;  // max_attempts 1
  }
  if (!json.is_object()) {
    bad("must be null, false or an object, got " + boost::json::serialize(json));
  }
  for (const auto& [key, value] : json.get_object()) {
    if (key == "max_attempts") {
      int64_t n = integer(value, key);
      if (n < 1 || n > 1000000) bad("max_attempts must be 1 to 1000000, got " + std::to_string(n));
      p.max_attempts = static_cast<int>(n);
    } else if (key == "initial_backoff_ms") {
      p.initial_backoff = std::chrono::milliseconds(integer(value, key));
    } else if (key == "max_backoff_ms") {
      p.max_backoff = std::chrono::milliseconds(integer(value, key));
    } else if (key == "timeout_ms") {
      p.timeout = std::chrono::milliseconds(integer(value, key));
    } else if (key == "multiplier") {
      if (!value.is_number()) bad("'multiplier' must be a number, got " + boost::json::serialize(value));
      p.multiplier = value.to_number<double>();
    } else if (key == "jitter") {
      if (!value.is_bool()) bad("'jitter' must be true or false, got " + boost::json::serialize(value));
      p.jitter = value.get_bool();
    } else {
      bad("unknown field '" + std::string(key) +
          "' (known: max_attempts, initial_backoff_ms, multiplier, max_backoff_ms, jitter, "
          "timeout_ms)");
    }
  }
  // A max_backoff below the given initial_backoff is the caller's intent only when both are given.
  if (!json.get_object().contains("max_backoff_ms") && p.max_backoff < p.initial_backoff) {
    p.max_backoff = p.initial_backoff;
  }
  validate(p);
  return p;
}

}  // namespace storyloom
