// SqliteTx's reads: runs, steps, artifacts, signals, events, streams, engines.
#include "store/sqlite_tx.h"

#include "store/hot_queries.h"
#include "store/row_codec.h"

namespace storyloom::store::sqlite {

std::optional<RunRecord> SqliteTx::find_run(const std::string& run_id) {
  static const std::string sql = std::string("SELECT ") + kRunColumns + " FROM runs WHERE id = ?";
  auto& q = conn_.prepare(sql.c_str());
  q.bind(1, run_id);
  if (!q.executeStep()) return std::nullopt;
  return readable(read_run(q));
}

std::optional<RunRecord> SqliteTx::find_run_by_key(const std::string& key) {
  static const std::string sql =
      std::string("SELECT ") + kRunColumns + " FROM runs WHERE idempotency_key = ?";
  auto& q = conn_.prepare(sql.c_str());
  q.bind(1, key);
  if (!q.executeStep()) return std::nullopt;
  return readable(read_run(q));
}

std::optional<std::pair<RunStatus, std::string>> SqliteTx::run_lease(const std::string& run_id) {
  if (leases_) {
    if (const auto* lease = leases_->find(run_id)) return *lease;
  }
  auto& q = conn_.prepare("SELECT status, lease_owner FROM runs WHERE id = ?");
  q.bind(1, run_id);
  if (!q.executeStep()) return std::nullopt;
  auto lease =
      std::make_pair(parse_run_status(q.getColumn(0).getString()), q.getColumn(1).getString());
  if (leases_) leases_->put(run_id, lease.first, lease.second);
  return lease;
}

int64_t SqliteTx::run_seq(const std::string& run_id) {
  auto& q = conn_.prepare("SELECT seq FROM runs WHERE id = ?");
  q.bind(1, run_id);
  return q.executeStep() ? q.getColumn(0).getInt64() : 0;
}

std::vector<RunRecord> SqliteTx::list_runs(const ListQuery& query, int64_t* last_seq) {
  std::string sql = std::string("SELECT seq, ") + kRunColumns + " FROM runs WHERE seq > ?";
  // Written in the SQL, not bound: SQLite then uses the partial index holding
  // that status (runs_by_status holds only parked and finished runs).
  if (query.status) sql += std::string(" AND status = '") + to_string(*query.status) + "'";
  if (query.unfinished_only) sql += " AND status IN ('queued', 'running', 'sleeping', 'waiting')";
  if (!query.workflow.empty()) sql += " AND workflow = ?";
  if (!query.owner.empty()) sql += " AND owner = ?";
  // json_valid first: one corrupted error column must not fail the whole list.
  if (!query.error_class.empty()) {
    sql += " AND CASE WHEN json_valid(error) THEN json_extract(error, '$.class') END = ?";
  }
  if (query.finished_after_ms > 0) sql += " AND finished_at >= ?";
  if (query.finished_before_ms > 0) sql += " AND finished_at > 0 AND finished_at < ?";
  sql += " ORDER BY seq LIMIT ?";
  SQLite::Statement q(conn_.db(), sql);
  int i = 1;
  q.bind(i++, query.after_seq);
  if (!query.workflow.empty()) q.bind(i++, query.workflow);
  if (!query.owner.empty()) q.bind(i++, query.owner);
  if (!query.error_class.empty()) q.bind(i++, query.error_class);
  if (query.finished_after_ms > 0) q.bind(i++, query.finished_after_ms);
  if (query.finished_before_ms > 0) q.bind(i++, query.finished_before_ms);
  q.bind(i++, static_cast<int64_t>(query.limit));
  std::vector<RunRecord> out;
  *last_seq = 0;
  while (q.executeStep()) {
    *last_seq = q.getColumn(0).getInt64();
    out.push_back(read_run(q, 1));
  }
  return out;
}

std::vector<StepRecord> SqliteTx::steps(const std::string& run_id) {
  auto& q = conn_.prepare(
      "SELECT seq, name, kind, status, result, wake_at, child_id, completed_at, attempts "
      "FROM steps WHERE run_id = ? ORDER BY seq");
  q.bind(1, run_id);
  std::vector<StepRecord> out;
  while (q.executeStep()) {
    out.push_back(StepRecord{run_id, q.getColumn(0).getInt64(), q.getColumn(1).getString(),
                             q.getColumn(2).getString(), q.getColumn(3).getString(),
                             q.getColumn(4).getString(), q.getColumn(5).getInt64(),
                             q.getColumn(6).getString(), q.getColumn(7).getInt64(),
                             q.getColumn(8).getInt64()});
  }
  return out;
}

std::vector<ArtifactRecord> SqliteTx::artifacts(const std::string& run_id, bool latest_only) {
  auto& q = latest_only
                ? conn_.prepare(
                      "SELECT key, max(version), value, created_at, content_type FROM artifacts "
                      "WHERE run_id = ? "
                      "GROUP BY key ORDER BY key")
                : conn_.prepare(
                      "SELECT key, version, value, created_at, content_type FROM artifacts "
                      "WHERE run_id = ? ORDER BY key, version");
  q.bind(1, run_id);
  std::vector<ArtifactRecord> out;
  while (q.executeStep()) {
    out.push_back(ArtifactRecord{q.getColumn(0).getString(), q.getColumn(1).getInt64(),
                                 q.getColumn(2).getString(), q.getColumn(3).getInt64(),
                                 q.getColumn(4).getString()});
  }
  return out;
}

std::optional<ArtifactRecord> SqliteTx::latest_artifact(const std::string& run_id,
                                                        const std::string& key) {
  auto& q = conn_.prepare(
      "SELECT key, version, value, created_at, content_type FROM artifacts "
      "WHERE run_id = ? AND key = ? ORDER BY version DESC LIMIT 1");
  q.bind(1, run_id);
  q.bind(2, key);
  if (!q.executeStep()) return std::nullopt;
  return ArtifactRecord{q.getColumn(0).getString(), q.getColumn(1).getInt64(),
                        q.getColumn(2).getString(), q.getColumn(3).getInt64(),
                        q.getColumn(4).getString()};
}

std::optional<std::string> SqliteTx::artifact_bytes(const std::string& run_id,
                                                    const std::string& key, int64_t version) {
  auto& q = conn_.prepare(
      "SELECT bytes FROM artifact_bytes WHERE run_id = ? AND key = ? AND version = ?");
  q.bind(1, run_id);
  q.bind(2, key);
  q.bind(3, version);
  if (!q.executeStep()) return std::nullopt;
  const auto& column = q.getColumn(0);
  return std::string(static_cast<const char*>(column.getBlob()),
                     static_cast<size_t>(column.getBytes()));
}

bool SqliteTx::has_signal(const std::string& run_id, const std::string& name) {
  auto& q = conn_.prepare("SELECT 1 FROM signals WHERE run_id = ? AND name = ? LIMIT 1");
  q.bind(1, run_id);
  q.bind(2, name);
  return q.executeStep();
}

std::vector<SignalRecord> SqliteTx::unconsumed_signals(const std::string& run_id,
                                                       const std::string& name) {
  auto& q = conn_.prepare(
      "SELECT id, payload FROM signals WHERE run_id = ? AND name = ? AND consumed_seq = -1 "
      "ORDER BY id");
  q.bind(1, run_id);
  q.bind(2, name);
  std::vector<SignalRecord> out;
  while (q.executeStep()) {
    out.push_back(SignalRecord{q.getColumn(0).getInt64(), run_id, name, q.getColumn(1).getString()});
  }
  return out;
}

std::vector<EventRecord> SqliteTx::events(const std::string& run_id, int64_t after_id,
                                          size_t limit) {
  flush_events();
  auto& q = conn_.prepare(
      "SELECT id, run_id, type, data, created_at FROM events WHERE run_id = ? AND id > ? "
      "ORDER BY id LIMIT ?");
  q.bind(1, run_id);
  q.bind(2, after_id);
  q.bind(3, static_cast<int64_t>(limit));
  std::vector<EventRecord> out;
  while (q.executeStep()) out.push_back(read_event(q));
  return out;
}

std::vector<EventRecord> SqliteTx::events_since(int64_t after_id, size_t limit) {
  flush_events();
  auto& q = conn_.prepare(
      "SELECT id, run_id, type, data, created_at FROM events WHERE id > ? ORDER BY id LIMIT ?");
  q.bind(1, after_id);
  q.bind(2, static_cast<int64_t>(limit));
  std::vector<EventRecord> out;
  while (q.executeStep()) out.push_back(read_event(q));
  return out;
}

int64_t SqliteTx::last_event_id() {
  flush_events();
  auto& q = conn_.prepare("SELECT coalesce(max(id), 0) FROM events");
  q.executeStep();
  return q.getColumn(0).getInt64();
}

int64_t SqliteTx::last_event_id(const std::string& run_id) {
  flush_events();
  auto& q = conn_.prepare("SELECT coalesce(max(id), 0) FROM events WHERE run_id = ?");
  q.bind(1, run_id);
  q.executeStep();
  return q.getColumn(0).getInt64();
}

ChunkStream SqliteTx::chunk_stream(const std::string& run_id, const std::string& stream) {
  auto& q = conn_.prepare(
      "SELECT end_offset, attempt_start FROM chunk_streams WHERE run_id = ? AND stream = ?");
  q.bind(1, run_id);
  q.bind(2, stream);
  ChunkStream out{stream, 0, 0};
  if (q.executeStep()) {
    out.end_offset = q.getColumn(0).getInt64();
    out.attempt_start = q.getColumn(1).getInt64();
  }
  return out;
}

std::vector<ChunkStream> SqliteTx::chunk_streams(const std::string& run_id) {
  auto& q = conn_.prepare(
      "SELECT stream, end_offset, attempt_start FROM chunk_streams WHERE run_id = ? ORDER BY stream");
  q.bind(1, run_id);
  std::vector<ChunkStream> out;
  while (q.executeStep()) {
    out.push_back(ChunkStream{q.getColumn(0).getString(), q.getColumn(1).getInt64(),
                              q.getColumn(2).getInt64()});
  }
  return out;
}

std::optional<int64_t> SqliteTx::next_parked_ms() {
  auto& q = conn_.prepare(sql::kNextParked);
  q.executeStep();
  if (q.getColumn(0).isNull()) return std::nullopt;
  return q.getColumn(0).getInt64();
}

std::optional<int64_t> SqliteTx::next_queued_ms(int64_t after_ms) {
  auto& q = conn_.prepare(sql::kNextQueued);
  q.bind(1, after_ms);
  q.executeStep();
  if (q.getColumn(0).isNull()) return std::nullopt;
  return q.getColumn(0).getInt64();
}

std::vector<std::string> SqliteTx::children(const std::string& run_id) {
  auto& q = conn_.prepare("SELECT id FROM runs WHERE parent_id = ? ORDER BY seq");
  q.bind(1, run_id);
  std::vector<std::string> out;
  while (q.executeStep()) out.push_back(q.getColumn(0).getString());
  return out;
}

std::vector<std::pair<std::string, RunStatus>> SqliteTx::statuses(
    const std::vector<std::string>& run_ids) {
  std::vector<std::pair<std::string, RunStatus>> out;
  auto& q = conn_.prepare("SELECT status FROM runs WHERE id = ?");
  for (const auto& id : run_ids) {
    q.reset();
    q.bind(1, id);
    if (q.executeStep()) out.emplace_back(id, parse_run_status(q.getColumn(0).getString()));
  }
  return out;
}

bool SqliteTx::workflow_known(const std::string& name) {
  auto& q = conn_.prepare(
      "SELECT 1 FROM engines, json_each(engines.workflows) WHERE json_each.value = ? LIMIT 1");
  q.bind(1, name);
  return q.executeStep();
}

std::optional<int64_t> SqliteTx::cursor(const std::string& name) {
  auto& q = conn_.prepare("SELECT position FROM cursors WHERE name = ?");
  q.bind(1, name);
  if (!q.executeStep()) return std::nullopt;
  return q.getColumn(0).getInt64();
}

std::vector<SqliteTx::EngineRow> SqliteTx::engines() {
  auto& q = conn_.prepare("SELECT id, pid, host, heartbeat_at FROM engines");
  std::vector<EngineRow> out;
  while (q.executeStep()) {
    out.push_back(EngineRow{q.getColumn(0).getString(), q.getColumn(1).getInt64(),
                            q.getColumn(2).getString(), q.getColumn(3).getInt64()});
  }
  return out;
}

// Only the orphans' rows are read and decoded: the running runs of live
// engines (every run in flight, at every heartbeat) stay in the index.
std::vector<RunRecord> SqliteTx::running_runs_without(
    const std::vector<std::string>& live_engine_ids) {
  static const std::string sql = std::string("SELECT ") + kRunColumns +
                                 " FROM runs WHERE status = 'running' AND lease_owner NOT IN "
                                 "(SELECT value FROM json_each(?))";
  boost::json::array live;
  for (const auto& id : live_engine_ids) live.emplace_back(id);
  auto& q = conn_.prepare(sql.c_str());
  q.bind(1, boost::json::serialize(live));
  std::vector<RunRecord> out;
  while (q.executeStep()) {
    RunRecord r = read_run(q);
    if (r.info.unreadable.empty()) out.push_back(std::move(r));  // never resumed: its input is unknown
  }
  return out;
}

}  // namespace storyloom::store::sqlite
