#include "storyloom/retry.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "engine/validate.h"
#include "storyloom/error.h"

namespace storyloom {

void validate(const RetryPolicy& p) {
  auto fail = [](const std::string& message) { throw Error(ErrorCode::invalid_argument, message); };
  if (p.max_attempts < 1) fail("max_attempts must be at least 1, got " + std::to_string(p.max_attempts));
  if (p.initial_backoff.count() < 0) {
    fail("initial_backoff must not be negative, got " + std::to_string(p.initial_backoff.count()) + " ms");
  }
  if (!(p.multiplier >= 1.0)) fail("multiplier must be at least 1, got " + std::to_string(p.multiplier));
  if (p.timeout.count() < 0) {
    fail("timeout must not be negative (0: none), got " + std::to_string(p.timeout.count()) + " ms");
  }
  detail::check_duration_limit("initial_backoff", p.initial_backoff);
  detail::check_duration_limit("max_backoff", p.max_backoff);
  detail::check_duration_limit("timeout", p.timeout);
  if (p.max_backoff < p.initial_backoff) {
    fail("max_backoff (" + std::to_string(p.max_backoff.count()) +
         " ms) must not be less than initial_backoff (" +
         std::to_string(p.initial_backoff.count()) + " ms)");
  }
}

std::chrono::milliseconds backoff_delay(const RetryPolicy& p, int failed_attempts, double random01) {
  double exponent = std::max(0, failed_attempts - 1);
  double ceiling = std::min(static_cast<double>(p.max_backoff.count()),
                            static_cast<double>(p.initial_backoff.count()) *
                                std::pow(p.multiplier, exponent));
  double wait = p.jitter ? ceiling * std::clamp(random01, 0.0, 1.0) : ceiling;
  return std::chrono::milliseconds(static_cast<int64_t>(wait));
}

}  // namespace storyloom
