// Retry policies: how often a failed step is tried again, and how long to wait.
#pragma once

#include <chrono>

namespace storyloom {

// Exponential backoff with full jitter: before attempt n+1 the run waits a
// random time in [0, min(max_backoff, initial_backoff * multiplier^(n-1))].
// Fatal errors are never retried; a rate-limited error's retry-after replaces
// the backoff.
struct RetryPolicy {
  int max_attempts = 1;  // 1: no retry
  std::chrono::milliseconds initial_backoff{1000};
  double multiplier = 2.0;
  std::chrono::milliseconds max_backoff{60000};
  bool jitter = true;  // false: wait the full backoff
  // Each attempt of a step must finish within this, or heartbeat at least this
  // often (a heartbeat extends the deadline to now + timeout). A step past its
  // deadline fails with ErrorCode::timeout, class timeout, and is retried per
  // this policy; its late result is discarded. 0: no timeout.
  std::chrono::milliseconds timeout{0};
};

// Throws Error(invalid_argument) naming the field: max_attempts < 1, a
// negative backoff, multiplier < 1, max_backoff < initial_backoff, a negative timeout,
// a backoff or timeout over kMaxDurationMs (storyloom/clock.h, 100 years).
void validate(const RetryPolicy& policy);

// The wait after `failed_attempts` failures (1, 2, ...); `random01` in [0, 1).
std::chrono::milliseconds backoff_delay(const RetryPolicy& policy, int failed_attempts,
                                        double random01);

}  // namespace storyloom

#include <optional>

#include "storyloom/json.h"

namespace storyloom {

// A step's policy as the C ABI and the bindings pass it: null → nullopt (no
// policy: the workflow's, or the llm step's default); false → one attempt,
// no retries (the documented way to turn them off); an object
// {"max_attempts","initial_backoff_ms","multiplier","max_backoff_ms",
// "jitter","timeout_ms"} → RetryPolicy's defaults with those fields
// replaced. Throws Error(invalid_argument) naming an unknown field, a field of
// the wrong type, or what validate(RetryPolicy) refuses.
std::optional<RetryPolicy> retry_policy_from_json(const Json& json);

}  // namespace storyloom
