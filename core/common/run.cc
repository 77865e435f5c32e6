#include "storyloom/run.h"

#include "storyloom/error.h"

namespace storyloom {

const char* to_string(RunStatus status) noexcept {
  switch (status) {
    case RunStatus::queued: return "queued";
    case RunStatus::running: return "running";
    case RunStatus::sleeping: return "sleeping";
    case RunStatus::waiting: return "waiting";
    case RunStatus::completed: return "completed";
    case RunStatus::failed: return "failed";
    case RunStatus::cancelled: return "cancelled";
  }
  return "unknown";
}

RunStatus parse_run_status(std::string_view text) {
  for (auto s : {RunStatus::queued, RunStatus::running, RunStatus::sleeping, RunStatus::waiting,
                 RunStatus::completed, RunStatus::failed, RunStatus::cancelled}) {
    if (text == to_string(s)) return s;
  }
  throw Error(ErrorCode::invalid_argument,
              "'" + std::string(text) +
                  "' is not a run status (queued, running, sleeping, waiting, completed, failed, cancelled)");
}

bool is_finished(RunStatus status) noexcept {
  return status == RunStatus::completed || status == RunStatus::failed ||
         status == RunStatus::cancelled;
}

}  // namespace storyloom
