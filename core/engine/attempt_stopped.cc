// The lifecycle report of a built-in step's attempt stopped by a cancel or a
// close: the attempt has not failed (nothing is stored, it runs again after a
// reopen), but its span must still end, with the reason.
#include "engine/engine_core.h"
#include "engine/execution_state.h"

namespace storyloom::detail {

void ExecutionState::report_attempt_stopped(int64_t seq, const Error& error) {
  // Reported under the lock, as every report of the execution, so it keeps
  // its place before the run's end.
  std::lock_guard lock(mutex_);
  // Only an attempt still open: one a step timeout already failed has had
  // its report.
  auto started = attempt_started_ms_.find(seq);
  auto step = stored_.find(seq);
  if (started == attempt_started_ms_.end() || step == stored_.end()) return;
  LifecycleEvent event;
  event.kind = LifecycleKind::step_failed;
  event.step = step->second.name;
  event.seq = seq;
  event.step_kind = step->second.kind;
  event.attempt = static_cast<int>(step->second.attempts) + 1;
  event.started_at_ms = started->second;
  event.ended_at_ms = core_->now_ms();
  event.error_class = to_string(error.code());  // "cancelled" or "closed"
  event.will_retry = false;
  attempt_started_ms_.erase(started);
  report(std::move(event));
}

}  // namespace storyloom::detail
