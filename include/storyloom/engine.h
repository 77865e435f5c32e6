// Engine: one open store plus the worker threads, timers and event hub of one
// process. Thread-safe: every method may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "storyloom/clock.h"
#include "storyloom/context.h"
#include "storyloom/events.h"
#include "storyloom/execution.h"
#include "storyloom/retry.h"
#include "storyloom/run.h"

namespace storyloom {

namespace detail {
class EngineCore;
class SubscriptionState;
}  // namespace detail

// Limits on what callers can send; larger input is refused with payload_too_large.
inline constexpr size_t kMaxNameBytes = 128;             // workflow, step, signal, artifact, event type, stream
inline constexpr size_t kMaxKeyBytes = 256;              // idempotency key, owner
inline constexpr size_t kDefaultMaxPayloadBytes = 1 << 20;  // any one JSON payload, serialized

struct EngineOptions {
  // "sqlite:PATH", a plain PATH, or ":memory:" (nothing persists).
  std::string store = ":memory:";
  int workers = 4;                // threads running synchronous (C++) workflow functions
  int max_executions = 256;       // executions in flight at once, host-driven ones included
  size_t max_payload_bytes = kDefaultMaxPayloadBytes;
  std::chrono::milliseconds chunk_flush_interval{50};  // persist token text at least this often
  size_t chunk_flush_bytes = 4096;                      // ... or when this much is pending
  std::chrono::milliseconds poll_interval{50};  // other processes' changes, timers, leases
  std::chrono::milliseconds lease_ttl{10000};   // a silent engine's runs are reclaimed after this
  std::chrono::milliseconds drain_timeout{5000};  // close() waits this long for executions
  std::shared_ptr<Clock> clock;                 // defaults to the system clock
  std::function<double()> random01;             // jitter source in [0, 1); defaults to a PRNG
};

// Synchronous C++ workflow function, run on an engine worker thread.
using WorkflowFn = std::function<Json(Context&, const Json& input)>;
// Host-driven workflow: called on an engine thread with a fresh Execution that
// the host owns from then on and must finish (from any thread). Must not block.
using ExecuteFn = std::function<void(Execution)>;

struct WorkflowOptions {
  RetryPolicy retry;  // for every step of the workflow unless the step has its own
};

// Live events of one run. Destroying it (or close()) stops delivery; after
// close() returns no callback is running or will run, unless close() is called
// from inside the callback itself.
class Subscription {
 public:
  explicit Subscription(std::shared_ptr<detail::SubscriptionState> state);
  ~Subscription();
  Subscription(Subscription&&) noexcept;
  Subscription& operator=(Subscription&&) noexcept;
  void close();

 private:
  std::shared_ptr<detail::SubscriptionState> state_;
};

class Engine {
 public:
  // Opens (creating if needed) the store and starts the engine's threads.
  // Runs left executing by a dead process are resumed. Throws Error.
  static std::unique_ptr<Engine> open(EngineOptions options);
  ~Engine();  // close()

  // Stops claiming work and tells executions to stop (ctx.cancelled() turns
  // true; the next step call throws Error(closed)); waits up to drain_timeout
  // for them, puts every unfinished run back in the queue for the next open,
  // and stops all threads. Results of steps that finish meanwhile are kept.
  // Refused with Error(invalid_state) from the engine's own threads (inside a
  // workflow, step or subscription callback).
  void close();

  void register_workflow(std::string_view name, WorkflowFn fn, WorkflowOptions options = {});
  void register_workflow(std::string_view name, ExecuteFn fn, WorkflowOptions options = {});

  // The workflow must be registered here or by another engine on the same
  // store (which then executes it); input must be a JSON object. An idle
  // engine starts a local workflow in the same commit (status running), a busy
  // one queues it (status queued). Returns the run (the existing one when the
  // idempotency key was seen). The run is durable when this returns.
  RunInfo start(std::string_view workflow, Json input, const StartOptions& options = {});
  RunInfo get(std::string_view run_id);
  RunPage list(const RunFilter& filter = {});
  // Only finished runs; removes steps, events, artifacts and signals too.
  void remove(std::string_view run_id);

  // Cancels a run that is not finished, and its unfinished child runs.
  void cancel(std::string_view run_id);
  // Delivers a signal to the run's mailbox (kept until a wait reads it).
  void signal(std::string_view run_id, std::string_view name, Json payload);
  // Queues a failed run again; its completed steps are not executed again.
  void retry(std::string_view run_id);
  // Retries every failed run matching `filter` (its status must be unset or
  // failed; limit and cursor are ignored). Returns how many were queued.
  size_t retry_failed(const RunFilter& filter);

  Snapshot snapshot(std::string_view run_id);
  // Every version of every artifact, by key then version.
  std::vector<ArtifactInfo> artifacts(std::string_view run_id);
  // Stored events after `after_id`, at most `limit`.
  std::vector<Event> events(std::string_view run_id, int64_t after_id, size_t limit = 1000);
  // Stored events after `after_id`, then live ones, with no gap and no
  // duplicate. The callback runs on an engine thread, one event at a time; it
  // must be quick and must not call back into the engine. A callback that
  // throws ends its subscription.
  Subscription subscribe(std::string_view run_id, int64_t after_id, EventCallback callback);

  const EngineOptions& options() const;

 private:
  explicit Engine(std::shared_ptr<detail::EngineCore> core);
  std::shared_ptr<detail::EngineCore> core_;
};

}  // namespace storyloom
