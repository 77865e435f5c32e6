// How an execution's writes reach the store, and the durability barrier:
// writes of one execution commit in the order they were made, a write never
// commits when an earlier one of the same execution failed, and the workflow
// learns of a result only once everything before it is committed.
#include "engine/engine_core.h"
#include "engine/execution_state.h"

namespace storyloom::detail {
namespace {

// Why a write of this execution no longer belongs in the run's history.
Error refusal(const std::string& run_id, std::optional<std::pair<RunStatus, std::string>> lease,
              const std::string& owner) {
  if (!lease) {
    return Error(ErrorCode::cancelled, "run '" + run_id + "' was deleted; nothing more is recorded");
  }
  if (lease->first == RunStatus::cancelled) {
    return Error(ErrorCode::cancelled, "run '" + run_id + "' was cancelled");
  }
  std::string holder = lease->second.empty() ? "no engine" : "engine " + lease->second;
  return Error(ErrorCode::invalid_state,
               "run '" + run_id + "' is " + to_string(lease->first) + " under " + holder +
                   ", no longer running under this engine (" + owner +
                   "); this execution's writes are not recorded");
}

}  // namespace

void ExecutionState::submit_tracked_locked(std::function<void(Batch&)> op,
                                           Writer::Isolation isolation,
                                           std::function<void(const std::optional<Error>&)> on_done,
                                           bool then_tail, Writer::Urgency urgency) {
  uint64_t n = ++writes_submitted_;
  std::weak_ptr<ExecutionState> weak = weak_from_this();
  auto wrapped = [weak, op = std::move(op)](Batch& b) {
    auto self = weak.lock();
    if (self && self->lost_flag_.load()) {
      b.refuse(Error(ErrorCode::store, "an earlier write of this execution was not committed"));
      return;
    }
    try {
      op(b);
    } catch (...) {
      // Later writes of this execution in the same batch must not commit either.
      if (self) self->lost_flag_ = true;
      throw;
    }
  };
  // `done` keeps the execution alive: a write that fails after the host has
  // finished (and dropped) the execution must still release its run.
  auto done = [self = shared_from_this(), n, on_done = std::move(on_done)](std::exception_ptr error) {
    self->write_done(n, error);
    if (on_done) {
      std::optional<Error> e;
      if (error) {
        try {
          std::rethrow_exception(error);
        } catch (const Error& err) {
          e = err;
        } catch (...) {
          e = Error(ErrorCode::store, "store write failed");
        }
      }
      on_done(e);
    }
  };
  try {
    core_->writer().submit(std::move(wrapped), std::move(done), isolation, then_tail, urgency);
  } catch (const Error& e) {
    // The writer has stopped: this write will never be applied.
    writes_done_ = n;
    if (!lost_) lost_ = e;
    lost_flag_ = true;
    durable_cv_.notify_all();
  }
}

void ExecutionState::submit_locked(std::function<void(Batch&)> op, bool guarded, bool then_tail,
                                   Writer::Urgency urgency) {
  auto chunks = core_->hub().take_chunks(run_id());
  if (!chunks.empty()) {
    last_chunk_flush_ms_ = core_->now_ms();
    submit_tracked_locked([chunks = std::move(chunks), core = core_](Batch& b) {
      write_chunk_events(b, core->hub(), chunks);
    }, Writer::Isolation::none, {}, false, urgency);
  }
  if (!op) return;
  // Once the run is cancelled, deleted or reclaimed, this execution's writes
  // (other than token text already streamed) no longer belong in its history.
  submit_tracked_locked([run = run_id(), owner = core_->engine_id(), op = std::move(op)](Batch& b) {
    auto lease = b.tx.run_lease(run);
    if (!lease || lease->first != RunStatus::running || lease->second != owner) {
      b.refuse(refusal(run, lease, owner));
      return;
    }
    op(b);
  }, guarded ? Writer::Isolation::savepoint : Writer::Isolation::none, {}, then_tail, urgency);
}

void ExecutionState::flush_chunks() {
  std::lock_guard lock(mutex_);
  if (lost_flag_) return;
  submit_locked(nullptr);
}

void ExecutionState::write_done(uint64_t n, std::exception_ptr error) {
  std::vector<std::function<void(std::optional<Error>)>> ready;
  std::optional<Error> outcome;
  {
    std::lock_guard lock(mutex_);
    writes_done_ = std::max(writes_done_, n);
    if (error && !lost_) {
      try {
        std::rethrow_exception(error);
      } catch (const Error& e) {
        // A refusal says the run moved on without us; anything else is the
        // store failing, and the run must go back to the queue.
        lost_to_store_ = e.code() != ErrorCode::cancelled && e.code() != ErrorCode::invalid_state;
        lost_ = lost_to_store_ ? Error(ErrorCode::store,
                                       "a write of run '" + run_id() +
                                           "' was not committed: " + e.what() +
                                           "; the run goes back to the queue",
                                       ErrorClass::retryable)
                               : e;
      } catch (...) {
        lost_to_store_ = true;
        lost_ = Error(ErrorCode::store, "a write of run '" + run_id() + "' was not committed",
                      ErrorClass::retryable);
      }
      lost_flag_ = true;
    }
    outcome = lost_;
    auto it = std::partition(durable_waiters_.begin(), durable_waiters_.end(),
                             [this](const auto& w) { return w.first > writes_done_ && !lost_; });
    for (auto w = it; w != durable_waiters_.end(); ++w) ready.push_back(std::move(w->second));
    durable_waiters_.erase(it, durable_waiters_.end());
  }
  durable_cv_.notify_all();
  for (auto& fn : ready) fn(outcome);
}

void ExecutionState::when_durable(std::function<void(std::optional<Error>)> done) {
  std::optional<Error> outcome;
  {
    std::lock_guard lock(mutex_);
    if (!lost_ && writes_done_ < writes_submitted_) {
      durable_waiters_.emplace_back(writes_submitted_, std::move(done));
      return;
    }
    outcome = lost_;
  }
  done(std::move(outcome));
}

void ExecutionState::wait_durable() {
  std::unique_lock lock(mutex_);
  uint64_t target = writes_submitted_;
  durable_cv_.wait(lock, [&] { return lost_.has_value() || writes_done_ >= target; });
  if (lost_) throw *lost_;
}

void ExecutionState::release_locked(const std::string& reason) {
  auto core = core_;
  std::string run = run_id();
  auto release = [run, owner = core_->engine_id(), reason](Batch& b) {
    auto lease = b.tx.run_lease(run);
    if (!lease || lease->first != RunStatus::running || lease->second != owner) return;
    auto r = b.tx.find_run(run);
    if (!r) return;
    r->info.status = RunStatus::queued;
    r->lease_owner.clear();
    r->available_at_ms = b.now_ms;
    r->info.updated_at_ms = b.now_ms;
    b.tx.update_run(*r);
    b.event(run, "run.released", boost::json::object{{"reason", reason}});
  };
  try {
    core_->writer().submit(release, [core, run, release](std::exception_ptr error) {
      if (error) {
        core->release_later(run, release);
      } else {
        core->wake_scheduler();
      }
    });
  } catch (const Error&) {
    // The writer has stopped (the engine is closed): the next open recovers the run.
  }
}

}  // namespace storyloom::detail
