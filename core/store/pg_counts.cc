// PgTx's counting reads: how many runs a status holds, by workflow
// (runs_by_status finds them; the table is not read past that status).
#include "store/pg_tx.h"

namespace storyloom::store::pg {

std::map<std::string, int64_t> PgTx::count_runs_by_workflow(RunStatus status) {
  Result r = conn_.query("SELECT workflow, count(*) FROM runs WHERE status = $1 GROUP BY workflow",
                         {std::string(to_string(status))});
  std::map<std::string, int64_t> out;
  for (int i = 0; i < r.rows(); ++i) out[r.text(i, 0)] = r.int64(i, 1);
  return out;
}

}  // namespace storyloom::store::pg
