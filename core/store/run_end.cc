// The defaults of WriteTx's narrow writes: end_run reads the run's row and
// writes it back whole, resume_parked writes every column, and
// complete_pending_wait reads every step of the run. A store with narrower
// statements overrides them (SqliteTx).
#include "store/store.h"

namespace storyloom::store {

bool WriteTx::end_run(const RunEnd& end) {
  auto run = find_run(end.run_id);
  if (!run) return false;
  run->info.status = end.status;
  if (end.status == RunStatus::completed) {
    run->info.output = end.value;
  } else {
    run->info.error = end.value;
  }
  run->lease_owner.clear();
  run->info.finished_at_ms = run->info.updated_at_ms = end.now_ms;
  update_run(*run);
  return true;
}

void WriteTx::resume_parked(const RunRecord& run) { update_run(run); }

std::optional<int64_t> WriteTx::complete_pending_wait(const std::string& run_id,
                                                      const std::string& kind,
                                                      const std::string& name,
                                                      const std::string& result, int64_t now_ms) {
  for (auto& step : steps(run_id)) {
    if (step.status != "pending" || step.kind != kind || step.name != name) continue;
    step.status = "completed";
    step.result = result;
    step.wake_at_ms = 0;
    step.completed_at_ms = now_ms;
    upsert_step(step);
    return step.seq;
  }
  return std::nullopt;
}

}  // namespace storyloom::store
