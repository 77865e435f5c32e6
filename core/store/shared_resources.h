// Resources shared by every engine on one store (PostgreSQL: many machines;
// SQLite: several processes on one file). One row per resource holds its
// limits, what its request bucket and token budget held at `updated_ms`, and
// its pause; one row per (resource, engine) counts that engine's requests in
// flight. An engine's in-flight count stops counting once its heartbeat is
// older than the lease, so a killed process's slots come back by themselves.
//
// Each call is one short write transaction on a connection of its own, apart
// from the engine's writer, so admissions never wait behind a group commit.
// Only the resource limiter's thread calls it (scheduler/resource_limiter.h).
// Time is the engines' clock, as for leases: machines must agree on the time.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "storyloom/resource.h"

namespace storyloom::store {

// One resource as stored. Levels are as of updated_ms (refill() brings them to now).
struct SharedResourceRow {
  std::string name;
  ResourceLimits limits;
  double request_level = 0;
  double token_level = 0;
  int64_t updated_ms = 0;
  int64_t paused_until_ms = 0;
  int64_t in_flight = 0;  // requests of live engines (read from the holders rows)
};

struct SharedAdmission {
  bool admitted = false;
  // Refused: ms from now after which a new try may succeed; -1 when only a
  // release can make room (the in-flight cap): the caller polls.
  int64_t retry_in_ms = 0;
  int64_t paused_until_ms = 0;  // the stored pause (0: none), so the caller can pause locally
};

// What one engine changes in a resource besides admissions; the limiter
// gathers these and writes them in one transaction.
struct SharedResourceUpdate {
  std::string name;
  std::optional<ResourceLimits> limits;  // configure()
  int64_t released = 0;                  // requests of this engine that ended
  double tokens_returned = 0;            // estimate minus actual (negative takes more)
  int64_t pause_until_ms = 0;            // a 429's Retry-After (0: none)
  std::optional<double> requests_left;   // a provider's rate-limit headers
  std::optional<double> tokens_left;
};

// A workflow's limits as registered (for inspectors; "" / 0: none).
struct WorkflowLimitsRow {
  std::string workflow;
  int64_t max_running = 0;
  std::string concurrency_key;  // JSON path
  int64_t key_limit = 0;
  std::string throttle_key;
  int64_t throttle_limit = 0;
  int64_t throttle_period_ms = 0;
};

// Runs of one concurrency key: running, and queued among runs whose key is
// already known (computed at a run's first claim, so a run never claimed yet
// counts in no key).
struct KeyLoadRow {
  std::string workflow;
  std::string key;  // the key's JSON text
  int64_t running = 0;
  int64_t queued = 0;
  int64_t limit = 0;  // from workflow_limits; 0 when not published
};

// First starts of one throttle key in the current window.
struct ThrottleWindowRow {
  std::string workflow;
  std::string key;
  int64_t started = 0;
  int64_t limit = 0;
  int64_t period_ms = 0;
  int64_t oldest_start_ms = 0;  // the window frees a start at oldest + period
};

class SharedResources {
 public:
  virtual ~SharedResources() = default;
  // Admits one request of `cost` tokens when the shared buckets, the pause and
  // the in-flight count of live engines (heartbeat within `lease_ms`, or this
  // engine) allow it, taking from the buckets and counting it for `engine_id`.
  // A resource not yet stored is created with `limits`, full. Throws Error(store)
  // when the database cannot be reached.
  virtual SharedAdmission admit(const std::string& engine_id, const std::string& name,
                                const ResourceLimits& limits, double cost, int64_t now_ms,
                                int64_t lease_ms) = 0;
  // Applies every update in one transaction. Throws Error(store).
  virtual void apply(const std::string& engine_id, const std::vector<SharedResourceUpdate>& updates,
                     int64_t now_ms) = 0;
  // Every stored resource, refilled to `now_ms`, with in_flight counted over
  // live engines. Reads only (works on a read-only store). Throws Error(store).
  virtual std::vector<SharedResourceRow> list(int64_t now_ms, int64_t lease_ms) = 0;

  // Records a workflow's limits for inspectors. Throws Error(store).
  virtual void publish_workflow_limits(const WorkflowLimitsRow& row, int64_t now_ms) = 0;
  // The `top` keys with the most running runs (then queued). Reads only.
  virtual std::vector<KeyLoadRow> busiest_keys(size_t top) = 0;
  // Throttle keys with starts inside their workflow's period, fullest first. Reads only.
  virtual std::vector<ThrottleWindowRow> throttle_windows(int64_t now_ms, size_t top) = 0;
};

// The store-independent arithmetic, so both stores decide alike
// (shared_resources.cc).
namespace shared {

// A row for a resource first seen: `limits`, both buckets full.
SharedResourceRow fresh_row(const std::string& name, const ResourceLimits& limits, int64_t now_ms);
// Brings the levels to `now_ms` (a clock set back refills nothing).
void refill(SharedResourceRow& row, int64_t now_ms);
// New limits: levels kept, capped at the new sizes; a kind that had no limit starts full.
void set_limits(SharedResourceRow& row, const ResourceLimits& limits, int64_t now_ms);
// Decides one admission on a refilled row; when admitted, takes from the buckets.
SharedAdmission admit(SharedResourceRow& row, double cost, int64_t now_ms);
// Applies everything in `update` but `released` (a holders row's business).
void apply(SharedResourceRow& row, const SharedResourceUpdate& update, int64_t now_ms);
// +inf for a kind without a limit (as ResourceStatus reports it).
double request_level_shown(const SharedResourceRow& row);
double token_level_shown(const SharedResourceRow& row);

}  // namespace shared

// Implementations (sqlite_resources.cc, pg_resources.cc): each opens its own
// connection on first use.
std::shared_ptr<SharedResources> open_sqlite_shared_resources(const std::string& path,
                                                              bool read_only);
std::shared_ptr<SharedResources> open_pg_shared_resources(const std::string& conninfo,
                                                          const std::string& display);

}  // namespace storyloom::store
