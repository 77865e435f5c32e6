// PgTx: the engines table (heartbeats), from which every engine finds the
// runs of a dead one: an engine whose heartbeat is older than the lease is
// dead wherever it ran, so recovery needs no pid or host check.
#include "store/pg_tx.h"

namespace storyloom::store::pg {

void PgTx::upsert_engine(const std::string& engine_id, int64_t pid, const std::string& host,
                         int64_t now_ms, const std::string& workflows_json_array) {
  conn_.query(
      "INSERT INTO engines (id, pid, host, heartbeat_at, workflows) VALUES ($1, $2, $3, $4, $5) "
      "ON CONFLICT (id) DO UPDATE SET pid = excluded.pid, host = excluded.host, "
      "heartbeat_at = excluded.heartbeat_at, workflows = excluded.workflows",
      {engine_id, p(pid), host, p(now_ms), workflows_json_array});
}

void PgTx::delete_engine(const std::string& engine_id) {
  conn_.query("DELETE FROM engines WHERE id = $1", {engine_id});
}

std::vector<WriteTx::EngineRow> PgTx::engines() {
  Result r = conn_.query("SELECT id, pid, host, heartbeat_at FROM engines");
  std::vector<EngineRow> out;
  for (int i = 0; i < r.rows(); ++i) {
    out.push_back(EngineRow{r.text(i, 0), r.int64(i, 1), r.text(i, 2), r.int64(i, 3)});
  }
  return out;
}

std::vector<RunRecord> PgTx::running_runs_without(const std::vector<std::string>& live_engine_ids) {
  static const std::string sql = std::string("SELECT ") + kRunColumns +
                                 " FROM runs WHERE status = 'running' AND NOT (lease_owner = ANY($1::text[]))";
  Result r = conn_.query(sql.c_str(), {text_array(live_engine_ids)});
  std::vector<RunRecord> out;
  for (int i = 0; i < r.rows(); ++i) {
    RunRecord run = read_run(r, i);
    if (run.info.unreadable.empty()) out.push_back(std::move(run));  // never resumed: input unknown
  }
  return out;
}

}  // namespace storyloom::store::pg
