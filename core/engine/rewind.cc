// Rewind ("redo page 3"): forget a step's result and everything after it, and
// run the workflow again; replay returns the earlier steps from the memo.
#include <algorithm>

#include "engine/engine_core.h"

namespace storyloom::detail {

void EngineCore::rewind(std::string_view run_id, std::string_view step_name) {
  if (step_name.empty()) throw Error(ErrorCode::invalid_argument, "step name is empty");
  writer_->run([&](Batch& b) {
    auto run = must_find(b.tx, run_id);
    if (run.info.status != RunStatus::completed && run.info.status != RunStatus::failed) {
      throw Error(ErrorCode::invalid_state, "run '" + run.info.id + "' is " +
                                                to_string(run.info.status) +
                                                "; only completed or failed runs can be rewound");
    }
    auto steps = b.tx.steps(run.info.id);
    auto from = std::find_if(steps.begin(), steps.end(),
                             [&](const store::StepRecord& s) { return s.name == step_name; });
    if (from == steps.end()) {
      throw Error(ErrorCode::not_found, "run '" + run.info.id + "' has no step named '" +
                                            std::string(step_name) + "'");
    }
    boost::json::array invalidated;
    for (auto it = from; it != steps.end(); ++it) {
      // A child run keeps its idempotency key (parent:seq), so invoking again
      // would collide with it; refuse rather than half-redo.
      if (it->kind == "invoke") {
        throw Error(ErrorCode::invalid_state,
                    "rewinding run '" + run.info.id + "' to step '" + std::string(step_name) +
                        "' would redo child run step '" + it->name + "', which is not supported");
      }
      invalidated.push_back(boost::json::string(it->name));
    }
    b.tx.delete_steps_from(run.info.id, from->seq);
    run.info.status = RunStatus::queued;
    run.info.output = nullptr;
    run.info.error = nullptr;
    run.info.finished_at_ms = 0;
    run.deadline_at_ms = 0;
    run.lease_owner.clear();
    run.available_at_ms = run.info.updated_at_ms = b.now_ms;
    b.tx.update_run(run);
    b.event(run.info.id, "run.rewound",
            boost::json::object{{"step", step_name}, {"invalidated", std::move(invalidated)}});
    b.after_commit([this] { wake_scheduler(); });
  });
}

}  // namespace storyloom::detail
