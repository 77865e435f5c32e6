// The skeleton the built-in steps (llm, http, image) share: a memoized
// position or a new attempt, the request sent once the run's earlier writes
// are durable (through a resource when it has one), and the attempt's end
// stored, recorded as a failure, or reported as stopped.
#include "engine/builtin_attempt.h"

#include "engine/engine_core.h"
#include "engine/execution_state.h"
#include "llm/llm_client.h"
#include "store/row_codec.h"

namespace storyloom::detail {

BuiltinStart ExecutionState::start_builtin_locked(std::string_view name, std::string_view kind,
                                                  const std::optional<RetryPolicy>& retry,
                                                  const std::function<void()>& check_new) {
  auto pos = next_position(name, kind);
  BuiltinStart out;
  out.seq = pos.seq;
  if (pos.stored && pos.stored->status == "failed") {
    out.memoized = true;
    out.error = stored_step_error(*pos.stored);
  } else if (pos.stored && pos.stored->status == "completed") {
    out.memoized = true;
    out.result = store::decode_stored_json(
        pos.stored->result, run_id(),
        "the result of " + std::string(kind) + " step '" + pos.stored->name + "'");
  } else {
    // Only a new attempt is checked: a replay returns what is stored even if
    // its provider has gone from the configuration since.
    if (check_new) check_new();
    out.attempt = begin_attempt(pos, name, kind, retry);
  }
  return out;
}

Error ExecutionState::attempt_stopped_error(const std::string& label) const {
  if (core_->closing()) return Error(ErrorCode::closed, label + ": the engine is closing");
  return Error(ErrorCode::cancelled, label + ": the request was cancelled");
}

void ExecutionState::end_attempt(int64_t seq, std::optional<Json> result,
                                 std::optional<Error> error, const AttemptDone& done) {
  std::function<std::optional<Error>()> store;
  if (result) {
    store = [this, seq, &result]() -> std::optional<Error> {
      complete_step(seq, std::move(*result));
      return std::nullopt;
    };
  }
  end_attempt_storing(seq, store, std::move(error), done);
}

void ExecutionState::end_attempt_storing(int64_t seq,
                                         const std::function<std::optional<Error>()>& store,
                                         std::optional<Error> error, const AttemptDone& done) {
  {
    std::lock_guard lock(mutex_);
    llm_calls_.erase(seq);
  }
  if (store) {
    try {
      error = store();
    } catch (const Error& e) {
      return done(e, false);  // too large, or the execution ended (a timeout) meanwhile
    }
    if (!error) {
      // The workflow sees the result once it is committed.
      when_durable([done](std::optional<Error> lost) { done(std::move(lost), false); });
      return;
    }
  }
  // A cancelled run or a closing engine is not the step's failure: nothing to
  // record, but the attempt's report says how it ended.
  bool stopped = error->code() == ErrorCode::cancelled || error->code() == ErrorCode::closed;
  bool will_retry = false;
  if (stopped) {
    report_attempt_stopped(seq, *error);
  } else {
    try {
      will_retry = fail_step(seq, *error).will_retry;
    } catch (const Error&) {
      // The step was already failed (by its timeout) or the execution ended.
    }
  }
  done(std::move(error), will_retry);
}

void ExecutionState::send_when_durable(int64_t seq, ProviderSend how) {
  auto self = shared_from_this();
  auto p = std::make_shared<ProviderSend>(std::move(how));
  // Nothing goes out before every earlier write of the run is committed: a
  // crash must not find a request sent (or paid for) with nothing before it stored.
  when_durable([self, seq, p](std::optional<Error> lost) {
    if (lost) return p->fail(std::move(*lost));
    bool stop_now = false;
    {
      std::lock_guard lock(self->mutex_);
      auto it = self->stored_.find(seq);
      stop_now = self->cancelled_.load() || self->finished_ || it == self->stored_.end() ||
                 it->second.status != "begun";
      if (!stop_now) {
        self->llm_calls_[seq] = p->call;
        if (p->on_kept_locked) p->on_kept_locked();
      }
    }
    if (stop_now) return p->fail(self->attempt_stopped_error(p->label));
    if (p->resource.empty()) return p->send();
    self->wait_for_resource(seq, p->resource, 0, [self, p](const Error* error, bool held) {
      if (error) return p->fail(*error);
      if (!held) return p->fail(self->attempt_stopped_error(p->label));  // ended meanwhile
      p->send();
    });
  });
}

}  // namespace storyloom::detail
