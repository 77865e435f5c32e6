// SqliteTx's counting reads: how many runs a status holds, by workflow.
#include "store/hot_queries.h"
#include "store/sqlite_tx.h"

namespace storyloom::store::sqlite {

std::map<std::string, int64_t> SqliteTx::count_runs_by_workflow(RunStatus status) {
  auto& q = conn_.prepare(sql::kCountByWorkflow);
  q.bind(1, to_string(status));
  std::map<std::string, int64_t> out;
  while (q.executeStep()) out[q.getColumn(0).getString()] = q.getColumn(1).getInt64();
  return out;
}

}  // namespace storyloom::store::sqlite
