#include "scheduler/resource_limiter.h"

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <limits>
#include <map>
#include <mutex>
#include <thread>
#include <utility>
#include <utility>

#include "store/shared_resources.h"

namespace storyloom {
namespace {

constexpr size_t kMaxResourceNameBytes = 128;
constexpr size_t kShownNameBytes = 64;  // of a long name in a message

// "%g" prints what a caller wrote (-1, 0.5, nan, inf), not "-1.000000".
std::string number_text(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", value);
  return text;
}

// The name quoted for a message: control bytes escaped so the message stays one
// printable line, a long name cut.
std::string quoted(const std::string& name) {
  std::string out = "'";
  size_t shown = std::min(name.size(), kShownNameBytes);
  for (size_t i = 0; i < shown; ++i) {
    auto c = static_cast<unsigned char>(name[i]);
    if (c < 0x20 || c == 0x7f) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\x%02x", c);
      out += escaped;
    } else {
      out += static_cast<char>(c);
    }
  }
  if (shown < name.size()) out += "...";
  return out + "'";
}

[[noreturn]] void fail(const std::string& name, const std::string& what) {
  throw Error(ErrorCode::invalid_argument, "resource " + quoted(name) + ": " + what);
}

void check_resource_name(const std::string& name) {
  if (name.empty() || name.size() > kMaxResourceNameBytes) {
    fail(name, "name must be 1 to " + std::to_string(kMaxResourceNameBytes) + " bytes, got " +
                   std::to_string(name.size()));
  }
  for (size_t i = 0; i < name.size(); ++i) {
    auto c = static_cast<unsigned char>(name[i]);
    if (c < 0x20 || c == 0x7f) {
      char byte[8];
      std::snprintf(byte, sizeof byte, "0x%02x", c);
      fail(name, std::string("name must not contain control characters, got byte ") + byte +
                     " at offset " + std::to_string(i));
    }
  }
}

void check_amount(const std::string& name, const char* field, double value) {
  if (!std::isfinite(value) || value < 0) {
    fail(name, std::string(field) + " must be finite and at least 0, got " + number_text(value));
  }
}

}  // namespace

void validate(const std::string& name, const ResourceLimits& limits) {
  check_resource_name(name);
  check_amount(name, "requests", limits.requests);
  if (limits.period.count() < 1) {
    fail(name,
         "period must be at least 1 ms, got " + std::to_string(limits.period.count()) + " ms");
  }
  check_amount(name, "burst", limits.burst);
  if (limits.burst > 0 && limits.burst < 1) {
    fail(name,
         "burst must be 0 (the size of requests) or at least 1, got " + number_text(limits.burst));
  }
  if (limits.max_in_flight < 0) {
    fail(name, "max_in_flight must be at least 0, got " + std::to_string(limits.max_in_flight));
  }
  check_amount(name, "tokens_per_minute", limits.tokens_per_minute);
}

}  // namespace storyloom

namespace storyloom::detail {
namespace {

constexpr double kUnlimited = std::numeric_limits<double>::infinity();
// Floating-point slack: a bucket refilled for exactly one period may hold
// 0.9999999999 requests, which must count as one.
constexpr double kSlack = 1e-6;
constexpr int64_t kMinuteMs = 60'000;
// How soon the store is asked again after it could not be reached.
constexpr std::chrono::milliseconds kStoreRetry{1000};

// A bucket refilled continuously by `refill_amount` per `period_ms`, holding
// at most `capacity`; capacity 0 means no limit of this kind. The level may go
// below zero (tokens used beyond the estimate): later takers wait for the debt.
struct Bucket {
  double capacity = 0;
  double refill_amount = 0;
  double period_ms = 1;
  double level = 0;
  int64_t updated_ms = 0;

  bool limited() const { return capacity > 0; }

  double level_at(int64_t now) const {
    if (!limited()) return kUnlimited;
    if (now <= updated_ms) return level;  // a clock set back refills nothing until it catches up
    // Multiply before dividing: a whole period then adds exactly `refill_amount`.
    return std::min(capacity,
                    level + static_cast<double>(now - updated_ms) * refill_amount / period_ms);
  }
  void refill(int64_t now) {
    if (now <= updated_ms) return;
    if (limited()) level = level_at(now);
    updated_ms = now;
  }
  // Clock ms until the (refilled) bucket holds `amount`; 0 when it does now.
  double ms_until(double amount) const {
    if (!limited() || level + kSlack >= amount) return 0;
    return (amount - level) * period_ms / refill_amount;
  }
  void take(double amount) {
    if (limited()) level -= amount;
  }
  // Positive `amount` returns unused tokens (up to capacity); negative takes more.
  void give(double amount) {
    if (limited()) level = std::min(capacity, level + amount);
  }
  void lower_to(double value) {
    if (limited()) level = std::min(level, value);
  }
  // Keeps what the bucket holds, capped at the new size, so reconfiguring
  // neither grants a free burst nor forgets a debt; a kind that had no limit
  // starts full.
  void resize(double new_capacity, double new_refill_amount, double new_period_ms, int64_t now) {
    bool was_limited = limited();
    refill(now);
    capacity = new_capacity;
    refill_amount = new_refill_amount;
    period_ms = new_period_ms;
    level = was_limited ? std::min(level, capacity) : capacity;
  }
};

// 0 without a rate limit. A bucket smaller than one request could never admit
// one, so a rate under 1 per period (and no burst) makes a bucket of 1.
double request_bucket_size(const ResourceLimits& limits) {
  if (limits.requests <= 0) return 0;
  return limits.burst > 0 ? limits.burst : std::max(limits.requests, 1.0);
}

Error closed_error(const std::string& name) {
  return Error(ErrorCode::closed, "resource " + quoted(name) + ": the resource limiter is closed",
               ErrorClass::fatal);
}

Error cancelled_error(const std::string& name) {
  return Error(ErrorCode::cancelled,
               "resource " + quoted(name) + ": the acquisition was cancelled while waiting",
               ErrorClass::fatal);
}

void check_count(const std::string& name, const char* field, std::optional<double> value) {
  if (value && (!std::isfinite(*value) || *value < 0)) {
    throw Error(ErrorCode::invalid_argument, "resource " + quoted(name) + ": " + field +
                                                 " must be finite and at least 0, got " +
                                                 number_text(*value));
  }
}

}  // namespace

// Everything the limiter's thread, its permits and its queued acquisitions
// share. One mutex guards all of it; callbacks run only with it unlocked.
struct ResourceLimiter::State : std::enable_shared_from_this<State> {
  class Acquisition;

  // One resource: its limits, buckets, in-flight count, pause and queue.
  struct Resource {
    std::string name;
    ResourceLimits limits;  // as configured (all zero: known only by a pause)
    int max_in_flight = 0;
    Bucket requests;
    Bucket tokens;
    int in_flight = 0;
    int64_t paused_until_ms = 0;
    std::deque<std::shared_ptr<Acquisition>> queue;
    // Shared mode: the store said "not before" (Clock time for buckets and
    // pauses; real time for an in-flight cap, which only a release elsewhere
    // lifts, and after a store error).
    int64_t shared_not_before_ms = 0;
    std::chrono::steady_clock::time_point shared_not_before_real{};

    void apply(const ResourceLimits& new_limits, int64_t now) {
      limits = new_limits;
      max_in_flight = limits.max_in_flight;
      requests.resize(request_bucket_size(limits), limits.requests,
                      static_cast<double>(limits.period.count()), now);
      tokens.resize(limits.tokens_per_minute, limits.tokens_per_minute, kMinuteMs, now);
    }
    void pause_until(int64_t until_ms) { paused_until_ms = std::max(paused_until_ms, until_ms); }
    // Clock ms until a request of `cost` tokens may be admitted: 0 now, +inf
    // when only a release can make room. Refills the buckets to `now`.
    double ms_until_admissible(double cost, int64_t now) {
      if (max_in_flight > 0 && in_flight >= max_in_flight) return kUnlimited;
      requests.refill(now);
      tokens.refill(now);
      // A request larger than the whole budget waits for a full one.
      double wait =
          std::max(requests.ms_until(1), tokens.ms_until(std::min(cost, tokens.capacity)));
      if (now < paused_until_ms) wait = std::max(wait, static_cast<double>(paused_until_ms - now));
      return wait;
    }
    void admit(double cost) {
      ++in_flight;
      requests.take(1);
      tokens.take(cost);
    }
  };

  // A callback to run once the mutex is unlocked.
  struct Delivery {
    Granted granted;
    ResourcePermit permit;
    std::optional<Error> error;
  };

  class Acquisition final : public ResourceWait {
   public:
    Acquisition(std::weak_ptr<State> state, double cost) : owner(std::move(state)), tokens(cost) {}
    void cancel() override {
      if (auto state = owner.lock()) state->cancel(*this);  // expired: closed, so already ended
    }

    const std::weak_ptr<State> owner;
    const double tokens;
    // Guarded by State::mutex.
    bool queued = false;
    Resource* resource = nullptr;  // while queued; map nodes never move
    Granted granted;
    std::function<void()> on_held;  // emptied once it is due (held_due)
  };

  State(std::shared_ptr<Clock> c, std::chrono::milliseconds recheck)
      : clock(std::move(c)), recheck_interval(recheck) {}

  std::shared_ptr<Clock> clock;
  std::chrono::milliseconds recheck_interval;
  mutable std::mutex mutex;
  std::condition_variable wake;
  // Never erased: permits and queued acquisitions refer to their resource.
  std::map<std::string, Resource> resources;
  bool closed = false;
  std::thread thread;

  // Shared mode (share()): the store, who we are, and what this engine still
  // has to tell the store (written by the limiter's thread, batched).
  std::shared_ptr<store::SharedResources> shared;
  // on_held callbacks now due, run by the thread outside the lock.
  std::vector<std::function<void()>> held_due;
  std::string engine_id;
  int64_t lease_ms = 0;
  std::map<std::string, store::SharedResourceUpdate> outbox;
  std::chrono::steady_clock::time_point outbox_not_before{};

  store::SharedResourceUpdate& update(const std::string& name) {
    auto [it, inserted] = outbox.try_emplace(name);
    if (inserted) it->second.name = name;
    return it->second;
  }
  static void merge(store::SharedResourceUpdate& into, const store::SharedResourceUpdate& u) {
    if (!into.limits) into.limits = u.limits;  // `into` is the newer one
    into.released += u.released;
    into.tokens_returned += u.tokens_returned;
    into.pause_until_ms = std::max(into.pause_until_ms, u.pause_until_ms);
    auto lower = [](std::optional<double>& a, const std::optional<double>& b) {
      if (b) a = a ? std::min(*a, *b) : *b;
    };
    lower(into.requests_left, u.requests_left);
    lower(into.tokens_left, u.tokens_left);
  }

  // The resource of `name`, added without limits when unknown.
  Resource& resource(const std::string& name) {
    auto [it, inserted] = resources.try_emplace(name);
    if (inserted) it->second.name = name;
    return it->second;
  }

  ResourcePermit permit(const std::string& name, double cost, bool counted) {
    ResourcePermit p;
    p.limiter_ = weak_from_this();
    p.resource_ = name;
    p.tokens_ = cost;
    p.counted_ = counted;
    p.released_ = false;
    return p;
  }

  static void deliver(Delivery& d) {
    d.granted(std::move(d.permit), d.error ? &*d.error : nullptr);
  }
  static void deliver(std::vector<Delivery>& ds) {
    for (auto& d : ds) deliver(d);
  }

  // Whether the head of `r` waits on the shared store's last answer (it said
  // "not before", or could not be reached).
  bool store_said_wait(const Resource& r, int64_t now) const {
    return r.shared_not_before_ms > now ||
           r.shared_not_before_real > std::chrono::steady_clock::now();
  }

  // Moves a's on_held to held_due (it runs once). Caller holds mutex.
  void hold(Acquisition& a) {
    if (a.on_held) held_due.push_back(std::exchange(a.on_held, nullptr));
  }

  std::shared_ptr<Acquisition> acquire(const std::string& name, double cost, Granted granted,
                                       std::function<void()> on_held) {
    auto acquisition = std::make_shared<Acquisition>(weak_from_this(), cost);
    std::optional<Delivery> at_once;
    std::function<void()> held_at_once;
    {
      std::lock_guard lock(mutex);
      auto it = resources.find(name);
      if (closed) {
        at_once = Delivery{std::move(granted), {}, closed_error(name)};
      } else if (it == resources.end()) {
        at_once = Delivery{std::move(granted), permit(name, cost, false), std::nullopt};
      } else if (Resource& r = it->second; !shared && r.queue.empty() &&
                                             r.ms_until_admissible(cost, clock->now_ms()) == 0) {
        r.admit(cost);
        at_once = Delivery{std::move(granted), permit(name, cost, true), std::nullopt};
      } else {
        acquisition->queued = true;
        acquisition->resource = &r;
        acquisition->granted = std::move(granted);
        int64_t now = clock->now_ms();
        // In shared mode a request that fits here, with nobody ahead, only
        // waits for the store's answer: it is not held back (yet).
        bool held = !shared || !r.queue.empty() || r.ms_until_admissible(cost, now) > 0 ||
                    store_said_wait(r, now);
        if (held) {
          held_at_once = std::move(on_held);
        } else {
          acquisition->on_held = std::move(on_held);
        }
        r.queue.push_back(acquisition);
      }
    }
    if (held_at_once) held_at_once();
    if (at_once) {
      deliver(*at_once);
    } else {
      wake.notify_all();  // the thread may be sleeping without a deadline
    }
    return acquisition;
  }

  void cancel(Acquisition& a) {
    std::optional<Delivery> cancelled;
    {
      std::lock_guard lock(mutex);
      if (!a.queued) return;
      auto& queue = a.resource->queue;
      queue.erase(std::find_if(queue.begin(), queue.end(), [&](auto& q) { return q.get() == &a; }));
      a.queued = false;
      cancelled = Delivery{std::move(a.granted), {}, cancelled_error(a.resource->name)};
    }
    wake.notify_all();  // a smaller waiter behind it may now be the head
    deliver(*cancelled);
  }

  void release(const std::string& name) {
    bool waiters = false;
    {
      std::lock_guard lock(mutex);
      auto it = resources.find(name);
      if (it == resources.end()) return;
      --it->second.in_flight;
      waiters = !it->second.queue.empty();
      if (shared) {
        ++update(name).released;
        it->second.shared_not_before_real = {};  // a slot of ours is free: ask again at once
        waiters = true;                          // the thread writes the release
      }
    }
    if (waiters) wake.notify_all();
  }

  void correct_tokens(const std::string& name, double unused) {
    bool waiters = false;
    {
      std::lock_guard lock(mutex);
      auto it = resources.find(name);
      if (it == resources.end()) return;
      it->second.tokens.refill(clock->now_ms());
      it->second.tokens.give(unused);
      waiters = unused > 0 && !it->second.queue.empty();
      if (shared && it->second.tokens.limited()) {
        update(name).tokens_returned += unused;
        waiters = true;
      }
    }
    if (waiters) wake.notify_all();
  }

  void close() {
    std::vector<Delivery> failed;
    {
      std::lock_guard lock(mutex);
      if (closed) return;
      closed = true;
      for (auto& [name, r] : resources) {
        for (auto& a : r.queue) {
          a->queued = false;
          failed.push_back(Delivery{std::move(a->granted), {}, closed_error(name)});
        }
        r.queue.clear();
      }
    }
    wake.notify_all();
    deliver(failed);
  }

  // Admits the resource's head waiters while they fit; returns Clock ms until
  // the head might fit (+inf when nothing is queued or only a release helps).
  // In shared mode a head that fits locally is not admitted here: `ask` is
  // set to its resource (the first such one) for the store to decide.
  double admit_ready(Resource& r, int64_t now, std::vector<Delivery>& ready, Resource*& ask) {
    while (!r.queue.empty()) {
      Acquisition& head = *r.queue.front();
      double wait = r.ms_until_admissible(head.tokens, now);
      if (wait > 0) {
        hold(head);  // a pause or a bucket holds it back now
        return wait;
      }
      if (shared) {
        double shared_wait = static_cast<double>(std::max<int64_t>(0, r.shared_not_before_ms - now));
        auto real_left = r.shared_not_before_real - std::chrono::steady_clock::now();
        if (real_left.count() > 0) {
          shared_wait = std::max(
              shared_wait,
              std::ceil(std::chrono::duration<double, std::milli>(real_left).count()));
        }
        if (shared_wait > 0) {
          hold(head);
          return shared_wait;
        }
        if (!ask) ask = &r;
        return 0;
      }
      r.admit(head.tokens);
      head.queued = false;
      ready.push_back(
          Delivery{std::move(head.granted), permit(r.name, head.tokens, true), std::nullopt});
      r.queue.pop_front();
    }
    return kUnlimited;
  }

  // The limiter's thread: admits what fits, then sleeps until the earliest
  // moment a head waiter may fit, but never longer than recheck_interval of
  // real time (a ManualClock moves without telling anyone).
  // Shared mode: asks the store to admit the head waiter of `r`, with the
  // mutex unlocked during the call. Returns the delivery when admitted.
  std::optional<Delivery> ask_store(std::unique_lock<std::mutex>& lock, Resource& r, int64_t now) {
    std::shared_ptr<Acquisition> head = r.queue.front();
    std::string name = r.name;
    ResourceLimits limits = r.limits;
    lock.unlock();
    std::optional<store::SharedAdmission> answer;
    try {
      answer = shared->admit(engine_id, name, limits, head->tokens, now, lease_ms);
    } catch (const std::exception&) {
      // The database is unreachable: the waiter stays queued (no request may
      // pass the shared limit unseen) and the store is asked again later.
    }
    lock.lock();
    if (!answer || !answer->admitted) {
      if (head->queued) hold(*head);
    }
    if (!answer) {
      r.shared_not_before_real = std::chrono::steady_clock::now() + kStoreRetry;
      return std::nullopt;
    }
    if (!answer->admitted) {
      if (answer->paused_until_ms > 0) r.pause_until(answer->paused_until_ms);
      if (answer->retry_in_ms < 0) {
        r.shared_not_before_real = std::chrono::steady_clock::now() + recheck_interval;
      } else {
        r.shared_not_before_ms = now + answer->retry_in_ms;
      }
      return std::nullopt;
    }
    if (closed || !head->queued || r.queue.empty() || r.queue.front() != head) {
      // Cancelled or closed while the store admitted it: give the request back.
      auto& u = update(name);
      ++u.released;
      u.tokens_returned += head->tokens;
      return std::nullopt;
    }
    r.admit(head->tokens);
    head->queued = false;
    r.queue.pop_front();
    return Delivery{std::move(head->granted), permit(name, head->tokens, true), std::nullopt};
  }

  // Shared mode: writes what this engine owes the store in one transaction;
  // after a failure, keeps it and tries again kStoreRetry later.
  void flush(std::unique_lock<std::mutex>& lock) {
    std::vector<store::SharedResourceUpdate> updates;
    for (auto& [name, u] : outbox) updates.push_back(std::move(u));
    outbox.clear();
    int64_t now = clock->now_ms();
    lock.unlock();
    bool written = true;
    try {
      shared->apply(engine_id, updates, now);
    } catch (const std::exception&) {
      written = false;
    }
    lock.lock();
    if (!written) {
      for (auto& u : updates) merge(update(u.name), u);
      outbox_not_before = std::chrono::steady_clock::now() + kStoreRetry;
    }
  }

  void run() {
    std::unique_lock lock(mutex);
    while (!closed) {
      if (shared && !outbox.empty() && std::chrono::steady_clock::now() >= outbox_not_before) {
        flush(lock);
        continue;
      }
      int64_t now = clock->now_ms();
      std::vector<Delivery> ready;
      double wait_ms = kUnlimited;
      bool waiting = false;
      Resource* ask = nullptr;
      for (auto& [name, r] : resources) {
        wait_ms = std::min(wait_ms, admit_ready(r, now, ready, ask));
        waiting = waiting || !r.queue.empty();
      }
      if (!held_due.empty()) {
        // Outside the lock: the held ones hear of it, then the ready ones are
        // delivered (taken from their queues above, they must not be dropped).
        auto due = std::move(held_due);
        held_due.clear();
        lock.unlock();
        for (auto& fn : due) fn();
        deliver(ready);
        lock.lock();
        continue;
      }
      if (ready.empty() && ask) {
        if (auto admitted = ask_store(lock, *ask, now)) ready.push_back(std::move(*admitted));
        if (ready.empty()) continue;
      }
      if (!ready.empty()) {
        lock.unlock();
        deliver(ready);
        lock.lock();
        continue;
      }
      if (!waiting && outbox.empty()) {
        wake.wait(lock);
        continue;
      }
      double cap = static_cast<double>(recheck_interval.count());
      auto sleep =
          std::chrono::milliseconds(static_cast<int64_t>(std::ceil(std::min(wait_ms, cap))));
      wake.wait_for(lock, std::max(sleep, std::chrono::milliseconds(1)));
    }
    if (shared && !outbox.empty()) flush(lock);  // last releases, once
  }
};

ResourcePermit::~ResourcePermit() { release(); }

ResourcePermit::ResourcePermit(ResourcePermit&& other) noexcept
    : limiter_(std::move(other.limiter_)),
      resource_(std::move(other.resource_)),
      tokens_(other.tokens_),
      counted_(other.counted_),
      released_(other.released_) {
  other.resource_.clear();
  other.tokens_ = 0;
  other.counted_ = false;
  other.released_ = true;
}

ResourcePermit& ResourcePermit::operator=(ResourcePermit&& other) noexcept {
  if (this == &other) return *this;
  release();
  limiter_ = std::move(other.limiter_);
  resource_ = std::move(other.resource_);
  tokens_ = other.tokens_;
  counted_ = other.counted_;
  released_ = other.released_;
  other.resource_.clear();
  other.tokens_ = 0;
  other.counted_ = false;
  other.released_ = true;
  return *this;
}

void ResourcePermit::set_actual_tokens(double tokens) {
  ResourceLimiter::correct_tokens(*this, tokens);
}

void ResourcePermit::release() { ResourceLimiter::release(*this); }

void ResourceLimiter::release(ResourcePermit& permit) {
  if (permit.released_) return;
  permit.released_ = true;
  if (!permit.counted_) return;
  // Expired when the limiter is gone: nothing left to give the slot back to.
  if (auto state = std::static_pointer_cast<State>(permit.limiter_.lock())) {
    state->release(permit.resource_);
  }
}

void ResourceLimiter::correct_tokens(ResourcePermit& permit, double tokens) {
  if (!std::isfinite(tokens) || tokens < 0) {
    throw Error(ErrorCode::invalid_argument,
                "resource " + quoted(permit.resource_) +
                    ": actual tokens must be finite and at least 0, got " + number_text(tokens));
  }
  double unused = permit.tokens_ - tokens;
  permit.tokens_ = tokens;
  if (!permit.counted_) return;
  if (auto state = std::static_pointer_cast<State>(permit.limiter_.lock())) {
    state->correct_tokens(permit.resource_, unused);
  }
}

ResourceLimiter::ResourceLimiter(std::shared_ptr<Clock> clock,
                                 std::chrono::milliseconds recheck_interval) {
  if (!clock) throw Error(ErrorCode::invalid_argument, "resource limiter needs a clock");
  if (recheck_interval.count() < 1) {
    throw Error(ErrorCode::invalid_argument,
                "resource limiter recheck_interval must be at least 1 ms, got " +
                    std::to_string(recheck_interval.count()) + " ms");
  }
  state_ = std::make_shared<State>(std::move(clock), recheck_interval);
  // The thread shares ownership so that a callback destroying the limiter
  // (the destructor then cannot join its own thread) leaves it a live state.
  state_->thread = std::thread([state = state_] { state->run(); });
}

ResourceLimiter::~ResourceLimiter() {
  close();
  std::thread& thread = state_->thread;
  if (thread.get_id() == std::this_thread::get_id()) {
    thread.detach();  // destroyed from one of its own callbacks; run() ends on return
  } else if (thread.joinable()) {
    thread.join();
  }
}

void ResourceLimiter::close() { state_->close(); }

void ResourceLimiter::share(std::shared_ptr<store::SharedResources> shared, std::string engine_id,
                            std::chrono::milliseconds lease) {
  if (!shared) return;
  {
    std::lock_guard lock(state_->mutex);
    state_->shared = std::move(shared);
    state_->engine_id = std::move(engine_id);
    state_->lease_ms = lease.count();
    for (auto& [name, r] : state_->resources) state_->update(name).limits = r.limits;
  }
  state_->wake.notify_all();
}

void ResourceLimiter::configure(const std::string& name, const ResourceLimits& limits) {
  validate(name, limits);
  {
    std::lock_guard lock(state_->mutex);
    state_->resource(name).apply(limits, state_->clock->now_ms());
    if (state_->shared) state_->update(name).limits = limits;
  }
  state_->wake.notify_all();
}

std::vector<std::string> ResourceLimiter::names() const {
  std::lock_guard lock(state_->mutex);
  std::vector<std::string> out;
  out.reserve(state_->resources.size());
  for (auto& [name, r] : state_->resources) out.push_back(name);
  return out;
}

std::shared_ptr<ResourceWait> ResourceLimiter::acquire(const std::string& name, double tokens,
                                                       Granted granted,
                                                       std::function<void()> on_held) {
  if (!granted) {
    throw Error(ErrorCode::invalid_argument,
                "resource " + quoted(name) + ": acquire needs a granted callback");
  }
  if (!std::isfinite(tokens) || tokens < 0) {
    throw Error(ErrorCode::invalid_argument,
                "resource " + quoted(name) +
                    ": tokens estimate must be finite and at least 0, got " + number_text(tokens));
  }
  return state_->acquire(name, tokens, std::move(granted), std::move(on_held));
}

void ResourceLimiter::pause_until(const std::string& name, int64_t until_ms) {
  {
    std::lock_guard lock(state_->mutex);
    state_->resource(name).pause_until(until_ms);
    if (state_->shared) {
      auto& u = state_->update(name);
      u.pause_until_ms = std::max(u.pause_until_ms, until_ms);
    }
  }
  state_->wake.notify_all();
}

void ResourceLimiter::observe_provider_limits(const std::string& name,
                                              std::optional<double> requests_left,
                                              int64_t requests_reset_ms,
                                              std::optional<double> tokens_left,
                                              int64_t tokens_reset_ms) {
  check_count(name, "requests_left", requests_left);
  check_count(name, "tokens_left", tokens_left);
  {
    std::lock_guard lock(state_->mutex);
    State::Resource& r = state_->resource(name);
    int64_t now = state_->clock->now_ms();
    r.requests.refill(now);
    r.tokens.refill(now);
    if (requests_left) {
      r.requests.lower_to(*requests_left);
      if (*requests_left == 0)
        r.pause_until(requests_reset_ms);  // 0 (unknown reset) pauses nothing
    }
    if (tokens_left) {
      r.tokens.lower_to(*tokens_left);
      if (*tokens_left == 0) r.pause_until(tokens_reset_ms);
    }
    if (state_->shared) {
      store::SharedResourceUpdate told;
      told.requests_left = requests_left;
      told.tokens_left = tokens_left;
      if (requests_left && *requests_left == 0) told.pause_until_ms = requests_reset_ms;
      if (tokens_left && *tokens_left == 0) {
        told.pause_until_ms = std::max(told.pause_until_ms, tokens_reset_ms);
      }
      State::merge(state_->update(name), told);
    }
  }
  state_->wake.notify_all();
}

ResourceStatus ResourceLimiter::status(const std::string& name) const {
  std::lock_guard lock(state_->mutex);
  ResourceStatus s;
  s.name = name;
  auto it = state_->resources.find(name);
  if (it == state_->resources.end()) {
    s.available_requests = kUnlimited;
    s.available_tokens = kUnlimited;
    return s;
  }
  const State::Resource& r = it->second;
  int64_t now = state_->clock->now_ms();
  s.available_requests = r.requests.level_at(now);
  s.available_tokens = r.tokens.level_at(now);
  s.in_flight = r.in_flight;
  s.waiting = r.queue.size();
  s.paused_until_ms = r.paused_until_ms > now ? r.paused_until_ms : 0;
  return s;
}

void ResourceLimiter::wake() { state_->wake.notify_all(); }

}  // namespace storyloom::detail
