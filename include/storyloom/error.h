// Errors: one type, with a code shared with the C ABI and a message that
// names the offending value.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace storyloom {

// The same numbers as SL_E* in storyloom.h; never renumber.
enum class ErrorCode : int {
  ok = 0,
  invalid_argument = 1,   // malformed input: bad name, bad JSON, non-object input
  not_found = 2,          // unknown run, workflow, artifact
  invalid_state = 3,      // the run is not in a state that allows the call
  payload_too_large = 4,  // a JSON payload or name over its limit
  store = 5,              // the store failed (I/O, SQLite error)
  not_a_database = 6,     // the store path is not a storyloom database
  schema_too_new = 7,     // written by a newer storyloom
  nondeterminism = 8,     // replay called steps in a different order
  cancelled = 9,          // the run was cancelled
  step_failed = 10,       // a step (or child run) failed
  closed = 11,            // the engine is closed or closing
  timeout = 12,           // a step or run took too long
  internal = 13,          // a bug in storyloom
  provider = 14,          // an LLM provider refused or failed a request (the message says which and why)
  quota_exceeded = 15,    // the provider account is out of quota or credit; class fatal, never retried
  budget_exceeded = 16,   // the run's LLM budget is spent (storyloom/budget.h); class fatal, never retried
};

// How a failure should be treated by retry policies.
// timeout: a step or run took too long; a step timeout is retried per the policy.
enum class ErrorClass : int { retryable = 0, fatal = 1, rate_limited = 2, timeout = 3 };

const char* to_string(ErrorCode code) noexcept;
const char* to_string(ErrorClass error_class) noexcept;

// `text` with every byte sequence that is not UTF-8 replaced by U+FFFD, so a
// message from anywhere (a host, a file name in an OS error) can be stored as JSON.
std::string valid_utf8(std::string_view text);

// The message is always valid UTF-8 (invalid bytes become U+FFFD).
class Error : public std::runtime_error {
 public:
  // retry_after_ms: for rate_limited errors, how long the provider asked to wait.
  Error(ErrorCode code, const std::string& message, ErrorClass error_class = ErrorClass::fatal,
        int64_t retry_after_ms = 0)
      : std::runtime_error(valid_utf8(message)),
        code_(code),
        class_(error_class),
        retry_after_ms_(retry_after_ms) {}

  ErrorCode code() const noexcept { return code_; }
  ErrorClass error_class() const noexcept { return class_; }
  int64_t retry_after_ms() const noexcept { return retry_after_ms_; }

  // Where a host's error came from: the class name the host raised (e.g.
  // "ValueError") and its traceback or stack, both empty when unknown. Stored
  // with a failed step or run (error JSON key "origin") and raised again on
  // replay. Bounded by with_origin: see kMaxOriginTypeBytes / kMaxOriginTraceBytes.
  const std::string& origin_type() const noexcept { return origin_type_; }
  const std::string& origin_trace() const noexcept { return origin_trace_; }
  bool has_origin() const noexcept { return !origin_type_.empty() || !origin_trace_.empty(); }
  // This error with that origin; made valid UTF-8, a long trace keeps its
  // beginning and its end around a line saying how much was cut.
  Error&& with_origin(std::string_view type, std::string_view trace) &&;

 private:
  ErrorCode code_;
  ErrorClass class_;
  int64_t retry_after_ms_;
  std::string origin_type_;
  std::string origin_trace_;
};

inline constexpr size_t kMaxOriginTypeBytes = 256;
inline constexpr size_t kMaxOriginTraceBytes = 16 * 1024;

}  // namespace storyloom
