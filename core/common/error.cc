#include "storyloom/error.h"

namespace storyloom {

const char* to_string(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::ok: return "ok";
    case ErrorCode::invalid_argument: return "invalid_argument";
    case ErrorCode::not_found: return "not_found";
    case ErrorCode::invalid_state: return "invalid_state";
    case ErrorCode::payload_too_large: return "payload_too_large";
    case ErrorCode::store: return "store";
    case ErrorCode::not_a_database: return "not_a_database";
    case ErrorCode::schema_too_new: return "schema_too_new";
    case ErrorCode::nondeterminism: return "nondeterminism";
    case ErrorCode::cancelled: return "cancelled";
    case ErrorCode::step_failed: return "step_failed";
    case ErrorCode::closed: return "closed";
    case ErrorCode::timeout: return "timeout";
    case ErrorCode::internal: return "internal";
    case ErrorCode::provider: return "provider";
    case ErrorCode::quota_exceeded: return "quota_exceeded";
    case ErrorCode::budget_exceeded: return "budget_exceeded";
  }
  return "unknown";
}

const char* to_string(ErrorClass error_class) noexcept {
  switch (error_class) {
    case ErrorClass::retryable: return "retryable";
    case ErrorClass::fatal: return "fatal";
    case ErrorClass::rate_limited: return "rate_limited";
    case ErrorClass::timeout: return "timeout";
  }
  return "unknown";
}

}  // namespace storyloom
