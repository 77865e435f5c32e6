// ResourceLimiter: the engine's named resources (storyloom/resource.h). Each
// has a token bucket of requests, an optional LLM token budget per minute, an
// in-flight cap, and a pause (a provider's 429 with Retry-After stops every
// request of the resource until then). Acquisitions wait in a FIFO queue per
// resource, as callbacks, never as blocked threads.
//
// Thread-safe. Time comes from the injected Clock; a thread of the limiter's
// own admits waiters when time allows (it rechecks at least every
// `recheck_interval` of real time, so a test moving a ManualClock sees waiters
// admitted promptly, or at once after wake()).
//
// State is in memory unless share() gave it the store's shared resources
// (store/shared_resources.h): then every process on the store respects one
// limit. The in-memory queue stays the local FIFO (no thread waits), and the
// limiter's thread asks the store before admitting each head waiter of a
// known resource (one short store transaction per admission); releases,
// token corrections and pauses are written by that thread too, batched, so a
// permit released on any thread never waits for the database. While the
// database cannot be reached, waiters stay queued and the thread retries
// every second; nothing is admitted past the shared limit meanwhile.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "storyloom/clock.h"
#include "storyloom/error.h"
#include "storyloom/resource.h"

namespace storyloom::store {
class SharedResources;
}

namespace storyloom::detail {

class ResourceLimiter;

// One admitted request. Releasing it (destruction or release()) frees its
// in-flight slot; set_actual_tokens() corrects the token estimate it was
// admitted with (the difference is returned to, or taken from, the budget).
// Move-only; may outlive the limiter (it then releases nothing). Not
// thread-safe itself: one permit is used by one thread at a time.
class ResourcePermit {
 public:
  ResourcePermit() = default;
  ~ResourcePermit();
  ResourcePermit(ResourcePermit&&) noexcept;
  ResourcePermit& operator=(ResourcePermit&&) noexcept;
  ResourcePermit(const ResourcePermit&) = delete;
  ResourcePermit& operator=(const ResourcePermit&) = delete;

  const std::string& resource() const { return resource_; }
  // Throws invalid_argument when `tokens` is negative or not finite. May be
  // called more than once (each call corrects the last) and after release().
  void set_actual_tokens(double tokens);
  // Frees the in-flight slot; later calls do nothing.
  void release();
  // True from admission until release (or until the limiter is destroyed).
  explicit operator bool() const { return !released_ && !limiter_.expired(); }

 private:
  friend class ResourceLimiter;
  std::weak_ptr<void> limiter_;  // the limiter's shared state; empty in an empty permit
  std::string resource_;
  double tokens_ = 0;     // as admitted, then as corrected
  bool counted_ = false;  // of a configured resource: holds a slot and took tokens
  bool released_ = true;
};

// A queued acquisition; cancel() ends it with Error(cancelled) if it is still
// waiting (the callback runs on the thread calling cancel()), and does nothing
// once it was admitted or ended. Thread-safe; may outlive the limiter.
class ResourceWait {
 public:
  virtual ~ResourceWait() = default;
  virtual void cancel() = 0;
};

class ResourceLimiter {
 public:
  // Exactly once: a permit (error null) or an error (closed, cancelled) and an
  // empty permit. Never called with the limiter's lock held, so it may call the
  // limiter; it must not throw (on the limiter's thread that ends the process).
  using Granted = std::function<void(ResourcePermit permit, const Error* error)>;

  // Throws invalid_argument for a null clock or a recheck_interval under 1 ms.
  explicit ResourceLimiter(
      std::shared_ptr<Clock> clock,
      std::chrono::milliseconds recheck_interval = std::chrono::milliseconds(50));
  ~ResourceLimiter();  // close(), then joins the limiter's thread
  // Ends every queued acquisition with Error(closed) (their callbacks run on
  // the calling thread); later acquire() calls too. Permits still held stay valid.
  void close();

  // From now on admissions of known resources go through `shared` as engine
  // `engine_id`, whose requests in flight stop counting once its heartbeat is
  // older than `lease` (a dead process's slots come back). Call once, before
  // the first acquire(); resources configured so far are written to the store.
  void share(std::shared_ptr<store::SharedResources> shared, std::string engine_id,
             std::chrono::milliseconds lease);

  // Sets or replaces the limits of `name` (validated; throws invalid_argument).
  // A new resource starts with full buckets. Replacing keeps the in-flight
  // count, the waiters, the pause and what the buckets hold (capped at the
  // new sizes; a kind that had no limit starts full). Waiters are rechecked.
  void configure(const std::string& name, const ResourceLimits& limits);
  // Every known resource's name, sorted: configured, or paused by
  // pause_until() / observe_provider_limits().
  std::vector<std::string> names() const;

  // Asks for one request of `name` that will use about `tokens` of its token
  // budget (0 for non-LLM work). `granted` runs exactly once, on the calling
  // thread before acquire returns when admitted at once, else on the limiter's
  // thread (it must be quick and must not block). A name never configured is
  // unlimited. A request larger than the whole budget (tokens > tokens_per_minute)
  // is admitted when the budget is full and takes its whole estimate (the
  // budget goes negative). Throws invalid_argument, without calling `granted`,
  // when `tokens` is negative or not finite or `granted` is empty.
  // `on_held` (optional) runs at most once, before `granted`, when the request
  // is held back: by the resource's limits, its pause, waiters ahead of it, or
  // the shared store's refusal. Not while only the store's answer is pending
  // (every request of a shared resource waits for it), nor when admitted at
  // once. It runs on the calling thread before acquire returns, or on the
  // limiter's thread, never under the limiter's lock.
  std::shared_ptr<ResourceWait> acquire(const std::string& name, double tokens, Granted granted,
                                        std::function<void()> on_held = {});

  // The provider said "not before": no request of `name` is admitted until
  // `until_ms` (Clock time). Later pauses extend, earlier ones do not shorten.
  // Pausing a name never configured makes it known (still without limits).
  void pause_until(const std::string& name, int64_t until_ms);

  // What a provider's rate-limit headers said: the requests and tokens left in
  // its window and when the window resets (Clock time; 0 when unknown). A count
  // of 0 pauses the resource until that reset; a lower count than the bucket
  // holds lowers the bucket (never raises it; a kind without a limit is not
  // lowered). Absent values are std::nullopt. Throws invalid_argument for a
  // negative or non-finite count.
  void observe_provider_limits(const std::string& name, std::optional<double> requests_left,
                               int64_t requests_reset_ms, std::optional<double> tokens_left,
                               int64_t tokens_reset_ms);

  // Current values; a name never configured reports no limits.
  ResourceStatus status(const std::string& name) const;
  // Rechecks waiters now (after a test moved a ManualClock).
  void wake();

 private:
  friend class ResourcePermit;
  struct State;
  // Static: a permit reaches the state through its weak pointer, never through
  // the ResourceLimiter object, which may be mid-destruction on another thread.
  static void release(ResourcePermit& permit);
  static void correct_tokens(ResourcePermit& permit, double tokens);
  std::shared_ptr<State> state_;
};

}  // namespace storyloom::detail
