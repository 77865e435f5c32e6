// EngineCore::start_async: start() for event-loop hosts. The start goes to the
// writer like any other and its answer comes back on the writer thread once
// committed, so a host can have thousands of starts in flight (sharing group
// commits) without a thread blocked per start.
#include "engine/engine_core.h"

namespace storyloom::detail {

void EngineCore::start_async(std::string_view workflow, Json input, const StartOptions& options,
                             Engine::StartDone done) {
  if (!done) throw Error(ErrorCode::invalid_argument, "start_async: done must be callable");
  auto run = std::make_shared<store::RunRecord>(new_run(workflow, std::move(input), options));
  bool local = has_workflow(workflow);
  bool direct = reserve_direct_start(workflow, run->info.id, local);
  struct Outcome {
    RunInfo info;
    std::shared_ptr<ExecutionState> started;
  };
  auto outcome = std::make_shared<Outcome>();
  auto self = shared_from_this();
  try {
    writer_->submit(
        [self, run, direct, local, outcome](Batch& b) {
          self->start_op(b, *run, direct, local, outcome->info, outcome->started);
        },
        [self, run, direct, outcome, done = std::move(done)](std::exception_ptr error) {
          StartResult result;
          if (error) {
            if (direct) self->execution_finished(run->info.id);
            try {
              std::rethrow_exception(error);
            } catch (const Error& e) {
              result.error = e;
            } catch (const std::exception& e) {
              result.error = Error(ErrorCode::internal, e.what());
            }
          } else {
            if (direct) {
              if (outcome->started) {
                self->dispatch(std::move(outcome->started));
              } else {
                self->execution_finished(run->info.id);  // an existing run was returned
              }
            }
            result.run = std::move(outcome->info);
          }
          try {
            done(std::move(result));
          } catch (...) {
            // A throwing callback must not take the writer thread down with it;
            // the run itself is committed (or not) whatever the host does here.
          }
        },
        Writer::Isolation::contained);
  } catch (...) {
    if (direct) execution_finished(run->info.id);
    throw;
  }
}

}  // namespace storyloom::detail
