// SqliteTx's writes: runs, steps, signals, artifacts, streams, engines, cursors
// (events: sqlite_events.cc).
#include "store/sqlite_tx.h"

#include <sqlite3.h>

#include "store/hot_queries.h"
#include "store/row_codec.h"

namespace storyloom::store::sqlite {

int64_t SqliteTx::insert_run(const RunRecord& r) {
  auto& q = conn_.prepare(
      "INSERT INTO runs (id, workflow, status, input, output, error, progress, owner, "
      "idempotency_key, parent_id, parent_step, priority, available_at, wake_at, waiting_for, "
      "lease_owner, created_at, updated_at, finished_at, budget, trace_parent, concurrency_key, "
      "throttle_key) "
      "VALUES (?, ?, ?, ?, NULL, NULL, NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  int i = 1;
  q.bind(i++, r.info.id);
  q.bind(i++, r.info.workflow);
  q.bind(i++, to_string(r.info.status));
  q.bind(i++, boost::json::serialize(r.info.input));
  q.bind(i++, r.info.owner);
  if (r.info.idempotency_key.empty()) {
    q.bind(i++);
  } else {
    q.bind(i++, r.info.idempotency_key);
  }
  q.bind(i++, r.info.parent_id);
  q.bind(i++, r.parent_step);
  q.bind(i++, r.info.priority);
  q.bind(i++, r.available_at_ms);
  q.bind(i++, r.wake_at_ms);
  q.bind(i++, r.waiting_for);
  q.bind(i++, r.lease_owner);
  q.bind(i++, r.info.created_at_ms);
  q.bind(i++, r.info.updated_at_ms);
  q.bind(i++, r.info.finished_at_ms);
  if (r.info.budget.limited()) {
    q.bind(i++, boost::json::serialize(to_json(r.info.budget)));
  } else {
    q.bind(i++);  // NULL: no limit
  }
  q.bind(i++, r.info.trace_parent);
  for (const auto* key : {&r.start_keys.concurrency, &r.start_keys.throttle}) {
    if (*key) q.bind(i++, **key); else q.bind(i++);  // NULL: not computed
  }
  try {
    q.exec();
  } catch (const SQLite::Exception& e) {
    if (e.getErrorCode() == SQLITE_CONSTRAINT) {
      throw Error(ErrorCode::invalid_argument,
                  "a run with id '" + r.info.id + "' or idempotency key '" +
                      r.info.idempotency_key + "' already exists");
    }
    throw;
  }
  if (leases_) leases_->put(r.info.id, r.info.status, r.lease_owner);
  return conn_.db().getLastInsertRowid();
}

void SqliteTx::update_run(const RunRecord& r) {
  auto& q = conn_.prepare(
      "UPDATE runs SET status = ?, output = ?, error = ?, progress = ?, priority = ?, "
      "available_at = ?, wake_at = ?, waiting_for = ?, lease_owner = ?, updated_at = ?, "
      "finished_at = ?, deadline_at = ? WHERE id = ?");
  int i = 1;
  q.bind(i++, to_string(r.info.status));
  bind_json(q, i++, r.info.output);
  bind_json(q, i++, r.info.error);
  bind_json(q, i++, r.info.progress);
  q.bind(i++, r.info.priority);
  q.bind(i++, r.available_at_ms);
  q.bind(i++, r.wake_at_ms);
  q.bind(i++, r.waiting_for);
  q.bind(i++, r.lease_owner);
  q.bind(i++, r.info.updated_at_ms);
  q.bind(i++, r.info.finished_at_ms);
  q.bind(i++, r.deadline_at_ms);
  q.bind(i++, r.info.id);
  q.exec();
  if (leases_) leases_->put(r.info.id, r.info.status, r.lease_owner);
}

// One statement, and only the columns an end changes: no read of the row
// before it, no other column bound (a quarter of a one-step run's writer
// work went into reading the row back and writing every column). No
// RETURNING either: measured, it cost more than the read (probably a
// statement journal, a second copy of every page the statement changes).
bool SqliteTx::end_run(const RunEnd& end) {
  bool completed = end.status == RunStatus::completed;
  auto& q = conn_.prepare(
      completed ? "UPDATE runs SET status = ?1, output = ?2, lease_owner = '', updated_at = ?3, "
                  "finished_at = ?3 WHERE id = ?4"
                : "UPDATE runs SET status = ?1, error = ?2, lease_owner = '', updated_at = ?3, "
                  "finished_at = ?3 WHERE id = ?4");
  q.bind(1, to_string(end.status));
  if (end.value.is_null()) {
    q.bind(2);  // as update_run stores a null output
  } else {
    q.bind(2, end.value_json);
  }
  q.bind(3, end.now_ms);
  q.bind(4, end.run_id);
  if (q.exec() == 0) return false;
  if (leases_) leases_->put(end.run_id, end.status, "");
  return true;
}

// Only the columns a wake-up changes: an UPDATE naming every column also
// rewrites the entries of every index on them (runs_by_workflow,
// runs_by_owner...), which a wake-up leaves as they are.
void SqliteTx::resume_parked(const RunRecord& r) {
  auto& q = conn_.prepare(
      "UPDATE runs SET status = ?, available_at = ?, updated_at = ?, wake_at = ?, "
      "waiting_for = ?, lease_owner = ? WHERE id = ?");
  q.bind(1, to_string(r.info.status));
  q.bind(2, r.available_at_ms);
  q.bind(3, r.info.updated_at_ms);
  q.bind(4, r.wake_at_ms);
  q.bind(5, r.waiting_for);
  q.bind(6, r.lease_owner);
  q.bind(7, r.info.id);
  q.exec();
  if (leases_) leases_->put(r.info.id, r.info.status, r.lease_owner);
}

void SqliteTx::delete_run(const std::string& run_id) {
  flush_events();
  if (leases_) leases_->forget(run_id);
  for (const char* sql :
       {"DELETE FROM steps WHERE run_id = ?", "DELETE FROM signals WHERE run_id = ?",
        "DELETE FROM artifacts WHERE run_id = ?", "DELETE FROM artifact_bytes WHERE run_id = ?",
        "DELETE FROM events WHERE run_id = ?",
        "DELETE FROM chunk_streams WHERE run_id = ?", "DELETE FROM runs WHERE id = ?"}) {
    auto& q = conn_.prepare(sql);
    q.bind(1, run_id);
    q.exec();
  }
}

bool SqliteTx::upsert_step(const StepRecord& s) {
  auto& q = conn_.prepare(
      "INSERT INTO steps (run_id, seq, name, kind, status, result, wake_at, child_id, "
      "completed_at, attempts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, seq) "
      "DO UPDATE SET name = excluded.name, kind = excluded.kind, status = excluded.status, "
      "result = excluded.result, wake_at = excluded.wake_at, child_id = excluded.child_id, "
      "completed_at = excluded.completed_at, attempts = excluded.attempts "
      "WHERE steps.status <> 'completed'");
  q.bind(1, s.run_id);
  q.bind(2, s.seq);
  q.bind(3, s.name);
  q.bind(4, s.kind);
  q.bind(5, s.status);
  q.bind(6, s.result);
  q.bind(7, s.wake_at_ms);
  q.bind(8, s.child_id);
  q.bind(9, s.completed_at_ms);
  q.bind(10, s.attempts);
  return q.exec() > 0;
}

// The step found by the primary key's run_id prefix, then updated by its
// key: no read of the other steps' rows, no insert attempt.
std::optional<int64_t> SqliteTx::complete_pending_wait(const std::string& run_id,
                                                       const std::string& kind,
                                                       const std::string& name,
                                                       const std::string& result, int64_t now_ms) {
  auto& find = conn_.prepare(sql::kPendingWait);
  find.bind(1, run_id);
  find.bind(2, kind);
  find.bind(3, name);
  if (!find.executeStep()) {
    find.reset();
    return std::nullopt;
  }
  int64_t seq = find.getColumn(0).getInt64();
  find.reset();
  auto& update = conn_.prepare(
      "UPDATE steps SET status = 'completed', result = ?, wake_at = 0, completed_at = ? "
      "WHERE run_id = ? AND seq = ?");
  update.bind(1, result);
  update.bind(2, now_ms);
  update.bind(3, run_id);
  update.bind(4, seq);
  update.exec();
  return seq;
}

void SqliteTx::delete_steps_from(const std::string& run_id, int64_t seq) {
  auto& q = conn_.prepare("DELETE FROM steps WHERE run_id = ? AND seq >= ?");
  q.bind(1, run_id);
  q.bind(2, seq);
  q.exec();
}

void SqliteTx::delete_retrying_steps(const std::string& run_id) {
  auto& q = conn_.prepare(
      "DELETE FROM steps WHERE run_id = ? AND status IN ('retrying', 'failed')");
  q.bind(1, run_id);
  q.exec();
}

int64_t SqliteTx::insert_signal(const SignalRecord& s, int64_t now_ms) {
  auto& q = conn_.prepare(
      "INSERT INTO signals (run_id, name, payload, created_at, consumed_seq) VALUES (?, ?, ?, ?, ?)");
  q.bind(1, s.run_id);
  q.bind(2, s.name);
  q.bind(3, s.payload);
  q.bind(4, now_ms);
  q.bind(5, s.consumed_seq);
  q.exec();
  return conn_.db().getLastInsertRowid();
}

void SqliteTx::consume_signal(int64_t signal_id, int64_t step_seq) {
  auto& q = conn_.prepare("UPDATE signals SET consumed_seq = ? WHERE id = ?");
  q.bind(1, step_seq);
  q.bind(2, signal_id);
  q.exec();
}

int64_t SqliteTx::insert_artifact(const std::string& run_id, const std::string& key,
                                  const std::string& value, int64_t now_ms) {
  auto& q = conn_.prepare(
      "INSERT INTO artifacts (run_id, key, version, value, created_at) VALUES (?, ?, "
      "(SELECT coalesce(max(version), 0) + 1 FROM artifacts WHERE run_id = ? AND key = ?), ?, ?) "
      "RETURNING version");
  q.bind(1, run_id);
  q.bind(2, key);
  q.bind(3, run_id);
  q.bind(4, key);
  q.bind(5, value);
  q.bind(6, now_ms);
  q.executeStep();
  int64_t version = q.getColumn(0).getInt64();
  q.reset();
  return version;
}

int64_t SqliteTx::insert_binary_artifact(const std::string& run_id, const std::string& key,
                                         const std::string& content_type, const std::string& value,
                                         const std::string& bytes, int64_t now_ms) {
  auto& q = conn_.prepare(
      "INSERT INTO artifacts (run_id, key, version, value, created_at, content_type) "
      "VALUES (?, ?, (SELECT coalesce(max(version), 0) + 1 FROM artifacts "
      "WHERE run_id = ? AND key = ?), ?, ?, ?) RETURNING version");
  q.bind(1, run_id);
  q.bind(2, key);
  q.bind(3, run_id);
  q.bind(4, key);
  q.bind(5, value);
  q.bind(6, now_ms);
  q.bind(7, content_type);
  q.executeStep();
  int64_t version = q.getColumn(0).getInt64();
  q.reset();
  auto& b = conn_.prepare(
      "INSERT INTO artifact_bytes (run_id, key, version, bytes) VALUES (?, ?, ?, ?)");
  b.bind(1, run_id);
  b.bind(2, key);
  b.bind(3, version);
  // No copy: `bytes` outlives the statement's execution.
  b.bindNoCopy(4, bytes.data(), static_cast<int>(bytes.size()));
  b.exec();
  return version;
}

void SqliteTx::set_chunk_stream(const std::string& run_id, const ChunkStream& stream) {
  auto& q = conn_.prepare(
      "INSERT OR REPLACE INTO chunk_streams (run_id, stream, end_offset, attempt_start) "
      "VALUES (?, ?, ?, ?)");
  q.bind(1, run_id);
  q.bind(2, stream.stream);
  q.bind(3, stream.end_offset);
  q.bind(4, stream.attempt_start);
  q.exec();
}

void SqliteTx::upsert_engine(const std::string& engine_id, int64_t pid, const std::string& host,
                             int64_t now_ms, const std::string& workflows_json_array) {
  auto& q = conn_.prepare(
      "INSERT OR REPLACE INTO engines (id, pid, host, heartbeat_at, workflows) "
      "VALUES (?, ?, ?, ?, ?)");
  q.bind(1, engine_id);
  q.bind(2, pid);
  q.bind(3, host);
  q.bind(4, now_ms);
  q.bind(5, workflows_json_array);
  q.exec();
}

void SqliteTx::set_cursor(const std::string& name, int64_t position) {
  auto& q = conn_.prepare(
      "INSERT INTO cursors(name, position) VALUES (?, ?) "
      "ON CONFLICT(name) DO UPDATE SET position = excluded.position");
  q.bind(1, name);
  q.bind(2, position);
  q.exec();
}

void SqliteTx::delete_engine(const std::string& engine_id) {
  auto& q = conn_.prepare("DELETE FROM engines WHERE id = ?");
  q.bind(1, engine_id);
  q.exec();
}

}  // namespace storyloom::store::sqlite
