// What limits the work of every engine on a store right now, for inspectors
// (StoreReader::limits, `storyloom ui`'s Limits page): each shared resource's
// buckets, requests in flight and pause, the busiest concurrency keys and the
// throttle windows in use.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "storyloom/resource.h"

namespace storyloom {

// One resource as every engine on the store shares it.
struct SharedResourceStatus {
  std::string name;
  ResourceLimits limits;          // as last configured by an engine
  double available_requests = 0;  // request bucket now (+inf: no rate limit)
  double available_tokens = 0;    // LLM token budget now, may be negative (+inf: none)
  int64_t in_flight = 0;          // requests of engines alive within the lease
  int64_t paused_until_ms = 0;    // 0 when not paused
};

// Runs of one concurrency key. A run's key is computed at its first claim,
// so `queued` counts only queued runs claimed before (a retry, a release).
struct ConcurrencyKeyLoad {
  std::string workflow;
  std::string key;  // the key's value as JSON text
  int64_t running = 0;
  int64_t queued = 0;
  int64_t limit = 0;  // as registered; 0 when no engine recorded it
};

// First starts of one throttle key inside its current period.
struct ThrottleWindow {
  std::string workflow;
  std::string key;  // JSON text
  int64_t started = 0;
  int64_t limit = 0;
  int64_t period_ms = 0;
  int64_t frees_at_ms = 0;  // when the oldest start leaves the window
};

struct LimitsView {
  std::vector<SharedResourceStatus> resources;  // by name
  std::vector<ConcurrencyKeyLoad> keys;         // most running first
  std::vector<ThrottleWindow> throttles;        // fullest first
};

}  // namespace storyloom
