#include "engine/engine_core.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>

#include "engine/concurrency.h"
#include "engine/execution_state.h"
#include "store/shared_resources.h"

// Where runs meet threads: dispatching a claimed run to a worker, and the
// poller (due timers, work from other processes, leases, heartbeats, and the
// recovery of runs whose engine died).

namespace storyloom::detail {
namespace {


std::string host_name() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "unknown";
  return buf;
}

bool process_alive(int64_t pid) {
  if (pid <= 0) return false;
  return kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

}  // namespace

// ---- workers ----

void EngineCore::dispatch(std::shared_ptr<ExecutionState> state) {
  state->report_run_started();
  Workflow wf;
  {
    std::lock_guard lock(registry_mutex_);
    auto it = workflows_.find(state->workflow());
    if (it != workflows_.end()) wf = it->second;
  }
  workers_->post([state, wf = std::move(wf)]() mutable {
    Execution execution(state);
    if (wf.host_fn) {
      try {
        wf.host_fn(std::move(execution));
      } catch (const std::exception& e) {
        try {
          state->finish_failed(Error(ErrorCode::internal, std::string("workflow host callback threw: ") + e.what()));
        } catch (const Error&) {
        }
      }
      return;
    }
    Context ctx(execution);
    try {
      Json output = wf.sync_fn(ctx, state->input());
      execution.finish_completed(std::move(output));
    } catch (const Parked&) {
      execution.finish_parked();
    } catch (const Error& e) {
      try {
        execution.finish_failed(e);
      } catch (const Error&) {
      }
    } catch (const std::exception& e) {
      try {
        execution.finish_failed(Error(ErrorCode::step_failed, e.what(), ErrorClass::retryable));
      } catch (const Error&) {
      }
    }
  });
}

// ---- the poller: timers, other processes, leases, chunk flushing ----

void EngineCore::poller_loop() {
  mark_engine_thread();
  using SteadyClock = std::chrono::steady_clock;
  auto next_full = SteadyClock::now();
  std::unique_lock lock(sched_mutex_);
  while (!stopping_) {
    lock.unlock();
    // A commit elsewhere is read by the store's listener (on_store_change);
    // woken for one here, only its events are read. Timers, run deadlines and
    // backoffs are read every poll_interval, however often others commit.
    bool full = SteadyClock::now() >= next_full;
    if (full) next_full = SteadyClock::now() + options_.poll_interval;
    try {
      poll_once(now_ms(), full);
    } catch (const std::exception&) {
      // A failing store shows up in the operations that use it; keep polling.
    }
    lock.lock();
    poller_wake_.wait_until(lock, next_full, [this] { return stopping_ || store_changed_; });
    store_changed_ = false;
  }
  lock.unlock();
  // Flush what is left so no token text is lost.
  for (const auto& run : hub_->runs_with_pending_chunks(INT64_MAX)) {
    std::shared_ptr<ExecutionState> state;
    {
      std::lock_guard guard(sched_mutex_);
      auto it = inflight_.find(run);
      if (it != inflight_.end()) state = it->second.lock();
    }
    if (state) state->flush_chunks();
  }
}

bool EngineCore::react_to_events(std::vector<std::string>& cancelled) {
  // Events from other processes (and any of ours not yet fanned out).
  bool hint = false;
  bool slot_freed = false;
  for (const auto& e : hub_->catch_up()) {
    if (e.type == "run.cancelled") cancelled.push_back(e.run_id);
    if (e.type == "run.created" || e.type == "run.resumed" || e.type == "run.retried" ||
        e.type == "run.released" || e.type == "run.recovered" || e.type == "run.rewound" ||
        e.type == "run.priority") {
      hint = true;
    } else if (e.type == "run.completed" || e.type == "run.failed" || e.type == "run.cancelled" ||
               e.type == "run.sleeping" || e.type == "run.waiting" || e.type == "run.queued") {
      slot_freed = true;
    }
  }
  if (slot_freed) {
    // Another process freed a slot a held-back run may take. A claim still
    // being written may have counted that run as running (its statement ran
    // before the end committed) and will report `limited` only when admitted,
    // after this: it is asked to look again too, or the run would wait for a
    // poll_interval (or longer, with nothing else happening).
    std::lock_guard lock(sched_mutex_);
    if (limited_.load() || claiming_ > 0) hint = true;
  }
  return hint;
}

void EngineCore::poll_once(int64_t now, bool full) {
  int64_t beat = std::max<int64_t>(options_.lease_ttl.count() / 4, 1);
  if (now - last_heartbeat_ms_ >= beat) {
    heartbeat();
    recover_orphans();
  }
  for (const auto& run : hub_->runs_with_pending_chunks(now - options_.chunk_flush_interval.count())) {
    std::shared_ptr<ExecutionState> state;
    {
      std::lock_guard lock(sched_mutex_);
      auto it = inflight_.find(run);
      if (it != inflight_.end()) state = it->second.lock();
    }
    if (state) state->flush_chunks();
  }
  std::vector<std::shared_ptr<ExecutionState>> running;
  {
    std::lock_guard lock(sched_mutex_);
    for (auto& [id, weak] : inflight_) {
      if (auto state = weak.lock()) running.push_back(std::move(state));
    }
  }
  for (auto& state : running) state->check_step_timeouts(now);
  retry_releases();
  std::vector<std::string> cancelled;
  {
    std::lock_guard lock(sched_mutex_);
    cancelled.swap(cancelled_elsewhere_);  // read by the listener
  }
  if (!cancelled.empty()) stop_inflight(cancelled);
  cancelled.clear();
  bool hint = react_to_events(cancelled);
  if (!cancelled.empty()) stop_inflight(cancelled);
  int64_t throttle_wake = throttle_wake_ms_.load();
  if (throttle_wake > 0 && throttle_wake <= now) {
    throttle_wake_ms_ = 0;
    hint = true;
  }
  if (!full) {
    if (hint) wake_scheduler();
    return;
  }
  std::optional<int64_t> due;
  std::optional<int64_t> queued_due;
  {
    auto tx = read();
    due = tx->next_parked_ms();
    // Runs that became available since the last claim (a backoff ended); the
    // ones the last claim already saw wait for a slot, not for the poller.
    queued_due = tx->next_queued_ms(last_claim_ms_.load());
  }
  if (queued_due && *queued_due <= now) hint = true;
  expire_overdue_runs();
  if (due && *due <= now) {
    // Many timers can fall due at once (a rate-limit pause ending, a clock
    // jump): wake them in batches now, each its own commit so other writes
    // interleave, rather than one batch per poll.
    constexpr size_t kWakeBatch = 5000;
    size_t woken = kWakeBatch;
    for (int round = 0; round < 100 && woken == kWakeBatch && !closing_; ++round) {
      writer_->run([&](Batch& b) {
        auto ids = b.tx.wake_due_parked(b.now_ms, kWakeBatch);
        woken = ids.size();
        static const Json kReason = boost::json::object{{"reason", "timer"}};
        for (const auto& id : ids) b.event(id, "run.resumed", kReason);
      });
      wake_scheduler();
    }
    hint = true;
  }
  if (hint) wake_scheduler();
}

void EngineCore::on_store_change() {
  std::vector<std::string> cancelled;
  bool poll = false;
  try {
    if (react_to_events(cancelled)) wake_scheduler();
  } catch (const std::exception&) {
    poll = true;  // the store cannot be read now: the poller tries again
  }
  if (!cancelled.empty() || poll) {
    // Stopping executions may release resources to waiting host steps: the
    // poller does it, on an engine thread, rather than the store's listener.
    {
      std::lock_guard lock(sched_mutex_);
      for (auto& id : cancelled) cancelled_elsewhere_.push_back(std::move(id));
      store_changed_ = true;
    }
    poller_wake_.notify_all();
  }
}

void EngineCore::heartbeat() {
  last_heartbeat_ms_ = now_ms();
  std::string names = workflows_json();
  writer_->run([this, &names](Batch& b) {
    b.tx.upsert_engine(engine_id_, getpid(), host_name(), b.now_ms, names);
  });
}

void EngineCore::recover_orphans() {
  std::string host = host_name();
  bool any = false;
  writer_->run([&](Batch& b) {
    std::vector<std::string> live;
    int64_t stale_before = b.now_ms - options_.lease_ttl.count();
    for (const auto& e : b.tx.engines()) {
      bool dead = e.heartbeat_ms < stale_before || (e.host == host && !process_alive(e.pid));
      if (e.id == engine_id_) dead = false;
      if (dead) {
        b.tx.delete_engine(e.id);
      } else {
        live.push_back(e.id);
      }
    }
    for (auto& r : b.tx.running_runs_without(live)) {
      std::string previous = r.lease_owner;
      r.info.status = RunStatus::queued;
      r.lease_owner.clear();
      r.available_at_ms = r.info.updated_at_ms = b.now_ms;
      b.tx.update_run(r);
      b.event(r.info.id, "run.recovered", boost::json::object{{"previous_engine", previous}});
      any = true;
    }
  });
  if (any) wake_scheduler();
}

}  // namespace storyloom::detail
