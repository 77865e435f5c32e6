// PgTx's counting reads: how many runs a status holds, by workflow.
#include <array>

#include "store/pg_tx.h"

namespace storyloom::store::pg {
namespace {

constexpr size_t kStatuses = static_cast<size_t>(RunStatus::cancelled) + 1;

// One statement per status, the status written in: a prepared statement with
// the status as a parameter may get a generic plan, which scans every run
// when most are finished; with it written in, the planner takes that status's
// own index (runs_available for queued, runs_by_status for the others).
const char* count_sql(RunStatus status) {
  static const std::array<std::string, kStatuses> sql = [] {
    std::array<std::string, kStatuses> out;
    for (size_t i = 0; i < kStatuses; ++i) {
      out[i] = std::string("SELECT workflow, count(*) FROM runs WHERE status = '") +
               to_string(static_cast<RunStatus>(i)) + "' GROUP BY workflow";
    }
    return out;
  }();
  return sql.at(static_cast<size_t>(status)).c_str();
}

}  // namespace

std::map<std::string, int64_t> PgTx::count_runs_by_workflow(RunStatus status) {
  Result r = conn_.query(count_sql(status));
  std::map<std::string, int64_t> out;
  for (int i = 0; i < r.rows(); ++i) out[r.text(i, 0)] = r.int64(i, 1);
  return out;
}

}  // namespace storyloom::store::pg
