// Resources: named limited things steps use (an LLM provider, an image API),
// shared by every run of one engine. Rate limits and in-flight caps live here.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace storyloom {

// A token bucket of requests (refilled continuously at `requests` per
// `period`, holding at most `burst`), an optional budget of LLM tokens per
// minute, and a cap on requests in flight. Zero in a field means "no limit of
// that kind". A step waiting for a resource holds no thread; waiters are
// admitted in the order they asked. Both buckets start full.
struct ResourceLimits {
  double requests = 0;                     // requests per period; 0: no rate limit
  std::chrono::milliseconds period{1000};  // at least 1 ms (1 s and 1 min are usual)
  double burst = 0;                        // bucket size; 0: `requests` (at least 1)
  int max_in_flight = 0;                   // requests at once; 0: no cap
  double tokens_per_minute = 0;            // LLM tokens (estimated, then corrected); 0: none
};

// Throws Error(invalid_argument) naming the resource, the field and the bad
// value: a name that is empty, over 128 bytes or has control characters; a
// negative or non-finite number; a period under 1 ms; a burst between 0 and 1
// (a bucket that can never hold one request). All fields zero is valid (no limit).
void validate(const std::string& name, const ResourceLimits& limits);

// The state of one resource, for dashboards and tests.
struct ResourceStatus {
  std::string name;
  double available_requests = 0;  // tokens in the request bucket now (or +inf when unlimited)
  double available_tokens = 0;    // LLM token budget now, may be negative (or +inf when unlimited)
  int in_flight = 0;
  size_t waiting = 0;           // acquisitions queued
  int64_t paused_until_ms = 0;  // 0 when not paused
};

}  // namespace storyloom
