// PgTx: writes of runs, steps, signals, artifacts, chunk streams and events.
#include <boost/json.hpp>

#include "store/pg_tx.h"

namespace storyloom::store::pg {
namespace {

std::optional<std::string> json_or_null(const Json& v) {
  if (v.is_null()) return std::nullopt;
  return boost::json::serialize(v);
}

}  // namespace

int64_t PgTx::insert_run(const RunRecord& r) {
  std::string sqlstate;
  Result res = conn_.try_query(
      "INSERT INTO runs (id, workflow, status, input, owner, idempotency_key, parent_id, "
      "parent_step, priority, available_at, wake_at, waiting_for, lease_owner, created_at, "
      "updated_at, finished_at, budget, trace_parent, concurrency_key, throttle_key) VALUES ($1, $2, "
      "$3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20) "
      "ON CONFLICT DO NOTHING "
      "RETURNING seq, pg_current_xact_id()::text::bigint",
      {r.info.id, r.info.workflow, std::string(to_string(r.info.status)),
       boost::json::serialize(r.info.input), r.info.owner,
       r.info.idempotency_key.empty() ? std::nullopt : std::optional(r.info.idempotency_key),
       r.info.parent_id, p(r.parent_step), p(r.info.priority), p(r.available_at_ms), p(r.wake_at_ms),
       r.waiting_for, r.lease_owner, p(r.info.created_at_ms), p(r.info.updated_at_ms),
       p(r.info.finished_at_ms),
       r.info.budget.limited() ? std::optional(boost::json::serialize(to_json(r.info.budget)))
                               : std::nullopt,
       r.info.trace_parent, r.start_keys.concurrency, r.start_keys.throttle},
      &sqlstate);
  if (!sqlstate.empty()) conn_.fail("inserting run '" + r.info.id + "' failed", res.get());
  // DO NOTHING rather than an error, so the transaction stays usable: the
  // caller may read the run that another process inserted with this key the
  // moment before (it waited for that insert to commit).
  if (res.rows() == 0) {
    throw Error(ErrorCode::invalid_argument, "a run with id '" + r.info.id + "' or idempotency key '" +
                                                 r.info.idempotency_key + "' already exists");
  }
  locked_runs_.insert(r.info.id);  // a new row is this transaction's until it commits
  xid_ = res.int64(0, 1);
  last_event_[r.info.id] = 0;  // a new run has no events (delete_run takes a run's with it)
  return res.int64(0, 0);
}

// Sent with the next statement (or the COMMIT): nothing waits for its answer.
void PgTx::update_run(const RunRecord& r) {
  conn_.defer(
      "UPDATE runs SET status = $1, output = $2, error = $3, progress = $4, priority = $5, "
      "available_at = $6, wake_at = $7, waiting_for = $8, lease_owner = $9, updated_at = $10, "
      "finished_at = $11, deadline_at = $12 WHERE id = $13",
      {std::string(to_string(r.info.status)), json_or_null(r.info.output), json_or_null(r.info.error),
       json_or_null(r.info.progress), p(r.info.priority), p(r.available_at_ms), p(r.wake_at_ms),
       r.waiting_for, r.lease_owner, p(r.info.updated_at_ms), p(r.info.finished_at_ms),
       p(r.deadline_at_ms), r.info.id});
}

void PgTx::delete_run(const std::string& run_id) {
  claimed_steps_.clear();
  last_event_.erase(run_id);
  for (const char* sql :
       {"DELETE FROM steps WHERE run_id = $1", "DELETE FROM signals WHERE run_id = $1",
        "DELETE FROM artifacts WHERE run_id = $1", "DELETE FROM artifact_bytes WHERE run_id = $1",
        "DELETE FROM events WHERE run_id = $1",
        "DELETE FROM chunk_streams WHERE run_id = $1", "DELETE FROM runs WHERE id = $1"}) {
    conn_.query(sql, {run_id});
  }
}

bool PgTx::upsert_step(const StepRecord& s) {
  claimed_steps_.clear();
  Result r = conn_.query(
      "INSERT INTO steps (run_id, seq, name, kind, status, result, wake_at, child_id, "
      "completed_at, attempts) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
      "ON CONFLICT (run_id, seq) DO UPDATE SET name = excluded.name, kind = excluded.kind, "
      "status = excluded.status, result = excluded.result, wake_at = excluded.wake_at, "
      "child_id = excluded.child_id, completed_at = excluded.completed_at, "
      "attempts = excluded.attempts WHERE steps.status <> 'completed'",
      {s.run_id, p(s.seq), s.name, s.kind, s.status, s.result, p(s.wake_at_ms), s.child_id,
       p(s.completed_at_ms), p(s.attempts)});
  return r.affected() > 0;
}

// One round trip: the step is found and completed by one statement (the
// caller holds the run's row lock, so no other engine completes it meanwhile).
std::optional<int64_t> PgTx::complete_pending_wait(const std::string& run_id,
                                                   const std::string& kind,
                                                   const std::string& name,
                                                   const std::string& result, int64_t now_ms) {
  claimed_steps_.clear();
  Result r = conn_.query(
      "UPDATE steps SET status = 'completed', result = $4, wake_at = 0, completed_at = $5 "
      "WHERE run_id = $1 AND seq = (SELECT min(seq) FROM steps WHERE run_id = $1 AND "
      "status = 'pending' AND kind = $2 AND name = $3) RETURNING seq",
      {run_id, kind, name, result, p(now_ms)});
  if (r.rows() == 0) return std::nullopt;
  return r.int64(0, 0);
}

// These writes, like update_run, need no answer: sent with the next statement.
void PgTx::delete_steps_from(const std::string& run_id, int64_t seq) {
  claimed_steps_.clear();
  conn_.defer("DELETE FROM steps WHERE run_id = $1 AND seq >= $2::bigint", {run_id, p(seq)});
}

void PgTx::delete_retrying_steps(const std::string& run_id) {
  claimed_steps_.clear();
  conn_.defer("DELETE FROM steps WHERE run_id = $1 AND status IN ('retrying', 'failed')", {run_id});
}

int64_t PgTx::insert_signal(const SignalRecord& s, int64_t now_ms) {
  return conn_
      .query("INSERT INTO signals (run_id, name, payload, created_at, consumed_seq) "
             "VALUES ($1, $2, $3, $4, $5) RETURNING id",
             {s.run_id, s.name, s.payload, p(now_ms), p(s.consumed_seq)})
      .int64(0, 0);
}

void PgTx::consume_signal(int64_t signal_id, int64_t step_seq) {
  conn_.defer("UPDATE signals SET consumed_seq = $1 WHERE id = $2", {p(step_seq), p(signal_id)});
}

int64_t PgTx::insert_artifact(const std::string& run_id, const std::string& key,
                              const std::string& value, int64_t now_ms) {
  return conn_
      .query("INSERT INTO artifacts (run_id, key, version, value, created_at) VALUES ($1, $2, "
             "(SELECT coalesce(max(version), 0) + 1 FROM artifacts WHERE run_id = $1 AND key = $2), "
             "$3, $4) RETURNING version",
             {run_id, key, value, p(now_ms)})
      .int64(0, 0);
}

int64_t PgTx::insert_binary_artifact(const std::string& run_id, const std::string& key,
                                     const std::string& content_type, const std::string& value,
                                     const std::string& bytes, int64_t now_ms) {
  int64_t version =
      conn_
          .query("INSERT INTO artifacts (run_id, key, version, value, created_at, content_type) "
                 "VALUES ($1, $2, (SELECT coalesce(max(version), 0) + 1 FROM artifacts WHERE "
                 "run_id = $1 AND key = $2), $3, $4, $5) RETURNING version",
                 {run_id, key, value, p(now_ms), content_type})
          .int64(0, 0);
  conn_.query(
      "INSERT INTO artifact_bytes (run_id, key, version, bytes) VALUES ($1, $2, $3, $4::bytea)",
      {run_id, key, p(version), bytes_to_hex(bytes)});
  return version;
}

void PgTx::set_cursor(const std::string& name, int64_t position) {
  conn_.query(
      "INSERT INTO cursors (name, position) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET "
      "position = excluded.position",
      {name, p(position)});
}

void PgTx::set_chunk_stream(const std::string& run_id, const ChunkStream& stream) {
  conn_.defer(
      "INSERT INTO chunk_streams (run_id, stream, end_offset, attempt_start) VALUES ($1, $2, $3, $4) "
      "ON CONFLICT (run_id, stream) DO UPDATE SET end_offset = excluded.end_offset, "
      "attempt_start = excluded.attempt_start",
      {run_id, stream.stream, p(stream.end_offset), p(stream.attempt_start)});
}

// An event's id is (transaction id << 20) + its number in the transaction, so
// a reader of every event can tell which ids may still appear: none below the
// oldest running transaction's (kSettledEventId). One run's events are
// appended under its row lock and so commit in turn; when a newer
// transaction (larger id) has committed events of the run meanwhile, this
// one's come after them (the run's last id + 1, the next free one if another
// such event took it): a run's events are in id order, in commit order. Such
// an id is above this transaction's own, so it is not passed while it runs.
//
// The run's last id is read once per transaction, with the statement that
// locked the run (lock_run, find_run, run_lease, a claim, an insert). An id
// in this transaction's own range is free (no other transaction writes
// there while this one runs, and ours are numbered in turn), so its INSERT
// is deferred: sent with the next statement or the COMMIT, in the same round
// trip. Only an id past another transaction's needs the slow path below.
EventRecord PgTx::append_event(const std::string& run_id, const std::string& type,
                               const std::string& data, int64_t now_ms) {
  if (events_ >= (int64_t{1} << kEventIdBits)) {
    throw Error(ErrorCode::store, "one transaction cannot append more than " +
                                      std::to_string(int64_t{1} << kEventIdBits) + " events");
  }
  lock_run(run_id);
  auto last = last_event_.find(run_id);
  if (last == last_event_.end()) {  // locked by a read that did not learn it (find_run_by_key)
    learn_last(run_id, conn_.query_each({last_event_of(run_id)})[0]);
    last = last_event_.find(run_id);
  }
  const int64_t own = (xid_ << kEventIdBits) + events_;
  if (last->second < own) {
    conn_.defer("INSERT INTO events (id, run_id, type, data, created_at) VALUES ($1, $2, $3, $4, $5)",
                {p(own), run_id, type, data, p(now_ms)});
    last->second = own;
    ++events_;
    return EventRecord{own, run_id, type, data, now_ms};
  }
  Result r = conn_.query(
      "INSERT INTO events (id, run_id, type, data, created_at) SELECT CASE WHEN last < own THEN own "
      "ELSE last + 1 END, $1, $2, $3, $4 FROM (SELECT (pg_current_xact_id()::text::bigint << 20) + "
      "$5::bigint AS own, (SELECT coalesce(max(id), 0) FROM events WHERE run_id = $1) AS last) n "
      "ON CONFLICT (id) DO NOTHING RETURNING id",
      {run_id, type, data, p(now_ms), p(events_)});
  if (r.rows() == 0) {
    // The id wanted is taken (by another transaction that went past a run's
    // last id, or at the top of a full range): the next free one above it.
    int64_t wanted =
        conn_
            .query("SELECT greatest((pg_current_xact_id()::text::bigint << 20) + $2::bigint, "
                   "(SELECT coalesce(max(id), 0) + 1 FROM events WHERE run_id = $1))",
                   {run_id, p(events_)})
            .int64(0, 0);
    while (r.rows() == 0) {
      Result gap = conn_.query(
          "SELECT e.id + 1 FROM events e WHERE e.id >= $1::bigint AND NOT EXISTS "
          "(SELECT 1 FROM events f WHERE f.id = e.id + 1) ORDER BY e.id LIMIT 1",
          {p(wanted)});
      wanted = gap.rows() ? gap.int64(0, 0) : wanted;
      r = conn_.query(
          "INSERT INTO events (id, run_id, type, data, created_at) VALUES ($1, $2, $3, $4, $5) "
          "ON CONFLICT (id) DO NOTHING RETURNING id",
          {p(wanted), run_id, type, data, p(now_ms)});
    }
  }
  ++events_;
  last->second = r.int64(0, 0);
  return EventRecord{r.int64(0, 0), run_id, type, data, now_ms};
}

std::vector<std::string> PgTx::wake_due_parked(int64_t now_ms, size_t limit) {
  Result due = conn_.query(
      "SELECT id FROM runs WHERE status IN ('sleeping', 'waiting') AND wake_at > 0 AND "
      "wake_at <= $1::bigint ORDER BY wake_at LIMIT $2::bigint FOR NO KEY UPDATE SKIP LOCKED",
      {p(now_ms), p(static_cast<int64_t>(limit))});
  std::vector<std::string> ids;
  for (int i = 0; i < due.rows(); ++i) ids.push_back(due.text(i, 0));
  if (!ids.empty()) {
    conn_.query(
        "UPDATE runs SET status = 'queued', available_at = $1, updated_at = $1, wake_at = 0, "
        "waiting_for = '' WHERE id = ANY($2::text[])",
        {p(now_ms), text_array(ids)});
  }
  return ids;
}

}  // namespace storyloom::store::pg
