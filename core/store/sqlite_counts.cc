// SqliteTx's counting reads: how many runs a status holds, by workflow.
#include <array>

#include "store/hot_queries.h"
#include "store/sqlite_tx.h"

namespace storyloom::store::sqlite {
namespace {

// The count's SQL for each status, with the status written in it: SQLite
// uses a partial index only when the query's own text implies its WHERE.
const char* count_sql(RunStatus status) {
  static const auto by_status = [] {
    std::array<std::string, 7> sql;
    for (RunStatus s : {RunStatus::sleeping, RunStatus::waiting, RunStatus::completed,
                        RunStatus::failed, RunStatus::cancelled}) {
      sql.at(static_cast<size_t>(s)) = std::string(sql::kCountByWorkflowBegin) + "'" +
                                       to_string(s) + "'" + sql::kCountByWorkflowEnd;
    }
    return sql;
  }();
  if (status == RunStatus::queued) return sql::kCountQueuedByWorkflow;
  if (status == RunStatus::running) return sql::kCountRunningByWorkflow;
  return by_status.at(static_cast<size_t>(status)).c_str();
}

}  // namespace

std::map<std::string, int64_t> SqliteTx::count_runs_by_workflow(RunStatus status) {
  auto& q = conn_.prepare(count_sql(status));
  std::map<std::string, int64_t> out;
  while (q.executeStep()) out[q.getColumn(0).getString()] = q.getColumn(1).getInt64();
  return out;
}

}  // namespace storyloom::store::sqlite
