// Step timeouts and heartbeats: a host step that neither finishes nor
// heartbeats within its timeout loses the run, which is retried per policy.
#include "engine/engine_core.h"
#include "engine/execution_state.h"

namespace storyloom::detail {

void ExecutionState::heartbeat(int64_t seq) {
  std::lock_guard lock(mutex_);
  if (finished_) {
    throw Error(ErrorCode::invalid_state,
                "this execution of run '" + run_id() + "' has already finished");
  }
  auto it = stored_.find(seq);
  if (it == stored_.end() || it->second.status != "begun") {
    throw Error(ErrorCode::invalid_argument,
                "step position " + std::to_string(seq) + " of run '" + run_id() +
                    "' was not begun by this execution or is already finished");
  }
  auto deadline = step_deadlines_.find(seq);
  if (deadline != step_deadlines_.end()) {
    deadline->second.at_ms = core_->now_ms() + deadline->second.timeout_ms;
  }
}

void ExecutionState::heartbeat_all() {
  std::lock_guard lock(mutex_);
  int64_t now = core_->now_ms();
  for (auto& [seq, deadline] : step_deadlines_) deadline.at_ms = now + deadline.timeout_ms;
}

void ExecutionState::check_step_timeouts(int64_t now_ms) {
  int64_t seq = -1;
  int64_t timeout_ms = 0;
  std::string name;
  {
    std::lock_guard lock(mutex_);
    if (finished_) return;
    for (const auto& [s, deadline] : step_deadlines_) {
      if (deadline.at_ms <= now_ms) {
        seq = s;
        timeout_ms = deadline.timeout_ms;
        name = stored_.at(s).name;
        break;
      }
    }
  }
  if (seq < 0) return;
  Error error(ErrorCode::timeout,
              "step '" + name + "' of run '" + run_id() + "' timed out after " +
                  std::to_string(timeout_ms) + " ms without finishing or a heartbeat",
              ErrorClass::timeout);
  try {
    StepFailure failure = fail_step(seq, error);
    // The host may still be inside the step: tell it to stop, and end the
    // execution here, since a stuck host would never end it.
    if (failure.will_retry) {
      finish_for_retry(pending_retry_at());
    } else {
      finish_failed(error);
    }
    mark_cancelled();
  } catch (const Error&) {
    // The host finished the step or the execution first: nothing timed out.
  }
}

}  // namespace storyloom::detail
