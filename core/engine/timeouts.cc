// Run timeouts: a run still unfinished at its deadline fails with a timeout.
#include "engine/engine_core.h"

namespace storyloom::detail {

void EngineCore::expire_overdue_runs() {
  {
    auto tx = read();
    if (tx->overdue_runs(now_ms(), 1).empty()) return;
  }
  writer_->run([&](Batch& b) {
    std::vector<std::string> stopped;
    for (auto& run : b.tx.overdue_runs(b.now_ms, 500)) {
      int64_t limit_ms = run.deadline_at_ms - run.started_at_ms;
      Error error(ErrorCode::timeout,
                  "run '" + run.info.id + "' exceeded its run timeout of " +
                      std::to_string(limit_ms) + " ms",
                  ErrorClass::timeout);
      run.info.status = RunStatus::failed;
      run.info.error = error_json(error);
      run.info.finished_at_ms = run.info.updated_at_ms = b.now_ms;
      run.lease_owner.clear();
      run.wake_at_ms = 0;
      run.waiting_for.clear();
      b.tx.update_run(run);
      b.event(run.info.id, "run.failed", boost::json::object{{"error", run.info.error}});
      wake_parent(b, run);
      stopped.push_back(run.info.id);
    }
    // Its execution, if any, is told to stop; its later writes no longer apply.
    b.after_commit([this, stopped] { stop_inflight(stopped); });
  });
}

}  // namespace storyloom::detail
