// PgTx: the transaction itself and every read.
#include <map>

#include "store/pg_tx.h"

namespace storyloom::store::pg {
namespace {

Error unreadable_error(const RunRecord& run) {
  return Error(ErrorCode::store,
               "run '" + run.info.id + "' cannot be read from the store: " + run.info.unreadable);
}

std::optional<RunRecord> one_run(const Result& r) {
  if (r.rows() == 0) return std::nullopt;
  RunRecord run = read_run(r, 0);
  if (!run.info.unreadable.empty()) throw unreadable_error(run);
  return run;
}

std::vector<EventRecord> all_events(const Result& r) {
  std::vector<EventRecord> out;
  out.reserve(static_cast<size_t>(r.rows()));
  for (int i = 0; i < r.rows(); ++i) out.push_back(read_event(r, i));
  return out;
}

const std::string& run_sql(const char* where) {
  static std::map<const char*, std::string> built;  // filled once per literal, at first use
  static std::mutex mutex;
  std::lock_guard lock(mutex);
  auto it = built.find(where);
  if (it == built.end()) {
    it = built.emplace(where, std::string("SELECT ") + kRunColumns + " FROM runs " + where).first;
  }
  return it->second;
}

}  // namespace

const char* const kSettledEventId =
    "(SELECT (pg_snapshot_xmin(pg_current_snapshot())::text::bigint << 20) - 1)";

PgTx::PgTx(Connection& conn, std::unique_lock<std::mutex> lock, bool write,
           const std::string& begin_sql, const std::string* notify_sql, std::function<void()> on_end,
           SettledAhead* settled_ahead)
    : conn_(conn), lock_(std::move(lock)), write_(write), notify_sql_(notify_sql),
      on_end_(std::move(on_end)), settled_ahead_(settled_ahead) {
  // The BEGIN rides with the transaction's first statement.
  conn_.begin_deferred(begin_sql, kReconnectWindow);
  open_ = true;
}

PgTx::~PgTx() {
  conn_.discard_deferred();  // a BEGIN never sent leaves nothing to end
  if (open_ && conn_.in_transaction()) {
    if (write_) {
      PQclear(PQexec(conn_.raw(), "ROLLBACK"));
    } else {
      conn_.send_ahead("COMMIT");  // a read's end costs it no round trip
    }
  }
  end();
}

void PgTx::end() {
  if (lock_.owns_lock()) lock_.unlock();
  if (on_end_) on_end_();
  on_end_ = nullptr;
}

// Notes for the NOTIFY's transaction (PgStore's notify_sql) whether this one
// wrote anything: only then can other engines find something new, or see
// events settle that this transaction's id held back.
const char* const kNoteWrote =
    "SELECT set_config('storyloom.wrote', CASE WHEN pg_current_xact_id_if_assigned() IS NULL "
    "THEN 'f' ELSE 't' END, false)";

// On failure the transaction stays open for the destructor to roll back.
// The NOTIFY goes after the COMMIT, in a transaction of its own that waits
// for no disk flush: inside the writing transaction it would hold
// PostgreSQL's notify lock across the commit's flush, so writers of the
// whole cluster would commit one at a time. Both, and any deferred
// statements before them (event inserts, run updates), go in one round trip
// (pipeline mode); the server stops at the first that fails. Losing the
// NOTIFY (the connection drops just then) costs other engines one poll
// interval, never data. The NOTIFY is sent only when the transaction wrote
// (had a transaction id, kNoteWrote): a claim that took nothing wakes no
// one. The read of settled events that the engine makes
// next, to publish what it committed, rides along too (pg_settled_ahead.h).
void PgTx::commit() {
  // A deferred statement failed earlier and its error was thrown by a later
  // operation's statement, which the writer undid by itself: the failed
  // write may belong to an operation that looked done, so nothing commits.
  if (conn_.deferred_failed()) {
    conn_.fail("the commit failed: a statement sent ahead of a later one failed");
  }
  std::vector<Statement> statements;
  if (notify_sql_) statements.push_back(Statement{nullptr, kNoteWrote, {}});
  statements.push_back(Statement{nullptr, "COMMIT", {}});
  const size_t commit_at = statements.size() - 1;
  if (notify_sql_) {
    for (const char* s : {"BEGIN", "SET LOCAL synchronous_commit = off"}) {
      statements.push_back(Statement{nullptr, s, {}});
    }
    statements.push_back(Statement{nullptr, *notify_sql_, {}});
    statements.push_back(Statement{nullptr, "COMMIT", {}});
  }
  const size_t last_of_commit = statements.size() - 1;
  int64_t read_after = write_ && settled_ahead_ ? settled_ahead_->floor() : 0;
  if (settled_ahead_) settled_ahead_->drop();
  if (read_after > 0) {
    statements.push_back(Statement{settled_events_sql(), {},
                                   {p(read_after), p(static_cast<int64_t>(SettledAhead::kPage))}});
  }
  std::vector<Result> results = conn_.query_each(statements, /*check=*/false);
  auto ok = [](const Result& r) {
    auto status = PQresultStatus(r.get());
    return status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK;
  };
  for (size_t i = 0; i <= commit_at; ++i) {
    if (i >= results.size() || !ok(results[i])) {
      conn_.fail("the commit failed", i < results.size() ? results[i].get() : nullptr);
    }
  }
  // COMMIT of a transaction that had failed answers ROLLBACK, with no error.
  if (std::string(PQcmdStatus(results[commit_at].get())) != "COMMIT") {
    open_ = false;
    conn_.fail("the commit failed: the transaction had been rolled back");
  }
  open_ = false;
  if (results.size() <= last_of_commit || !ok(results[last_of_commit])) {
    if (conn_.ok() && PQtransactionStatus(conn_.raw()) != PQTRANS_IDLE) {
      PQclear(PQexec(conn_.raw(), "ROLLBACK"));  // the NOTIFY's transaction
    }
    return;
  }
  if (read_after > 0 && results.size() > last_of_commit + 1 &&
      PQresultStatus(results.back().get()) == PGRES_TUPLES_OK) {
    int64_t settled = 0;
    auto events = read_settled_events(results.back(), &settled);
    settled_ahead_->keep(read_after, settled, std::move(events));
  }
}

// Savepoints cost no round trip of their own: they ride with the next statement.
void PgTx::savepoint() { conn_.defer("SAVEPOINT op"); }
void PgTx::release() { conn_.defer("RELEASE op"); }
void PgTx::rollback_to_savepoint() {
  conn_.defer("ROLLBACK TO op");
  conn_.defer("RELEASE op");
  locked_runs_.clear();  // row locks taken since the savepoint are gone; forget them all
  last_event_.clear();   // and the events appended since
  claimed_steps_.clear();
}

// A write transaction locks every run it reads until it ends: the engine
// checks a run's status or lease and then writes it, and no other process
// may change the run in between.
// The run's last event id is read in the same round trip, by a statement of
// its own: one that waited for the row lock sees what the lock's previous
// holder committed only with a snapshot taken after the wait.
std::optional<RunRecord> PgTx::find_run(const std::string& run_id) {
  if (!write_) return one_run(conn_.query(run_sql("WHERE id = $1").c_str(), {run_id}));
  auto results = conn_.query_each(
      {Statement{run_sql("WHERE id = $1 FOR NO KEY UPDATE").c_str(), {}, {run_id}}, last_event_of(run_id)});
  auto run = one_run(results[0]);
  if (run) {
    locked_runs_.insert(run_id);
    learn_last(run_id, results[1]);
  }
  return run;
}

std::optional<RunRecord> PgTx::find_run_by_key(const std::string& key) {
  if (!write_) return one_run(conn_.query(run_sql("WHERE idempotency_key = $1").c_str(), {key}));
  auto run = one_run(
      conn_.query(run_sql("WHERE idempotency_key = $1 FOR NO KEY UPDATE").c_str(), {key}));
  if (run) locked_runs_.insert(run->info.id);
  return run;
}

void PgTx::lock_run(const std::string& run_id) {
  if (!write_ || locked_runs_.count(run_id)) return;
  auto results = conn_.query_each(
      {Statement{"SELECT 1 FROM runs WHERE id = $1 FOR NO KEY UPDATE", {}, {run_id}}, last_event_of(run_id)});
  locked_runs_.insert(run_id);
  learn_last(run_id, results[1]);
}

Statement PgTx::last_event_of(const std::string& run_id) {
  return Statement{"SELECT pg_current_xact_id()::text::bigint, coalesce(max(id), 0) FROM events "
                   "WHERE run_id = $1",
                   {}, {run_id}};
}

void PgTx::learn_last(const std::string& run_id, const Result& r) {
  xid_ = r.int64(0, 0);
  last_event_[run_id] = r.int64(0, 1);
}

int64_t PgTx::run_seq(const std::string& run_id) {
  Result r = conn_.query("SELECT seq FROM runs WHERE id = $1", {run_id});
  return r.rows() ? r.int64(0, 0) : 0;
}

std::optional<std::pair<RunStatus, std::string>> PgTx::run_lease(const std::string& run_id) {
  if (!write_) {
    Result r = conn_.query("SELECT status, lease_owner FROM runs WHERE id = $1", {run_id});
    if (r.rows() == 0) return std::nullopt;
    return std::make_pair(parse_run_status(r.text(0, 0)), r.text(0, 1));
  }
  auto results = conn_.query_each(
      {Statement{"SELECT status, lease_owner FROM runs WHERE id = $1 FOR NO KEY UPDATE", {}, {run_id}},
       last_event_of(run_id)});
  const Result& r = results[0];
  if (r.rows() == 0) return std::nullopt;
  locked_runs_.insert(run_id);
  learn_last(run_id, results[1]);
  return std::make_pair(parse_run_status(r.text(0, 0)), r.text(0, 1));
}

std::vector<RunRecord> PgTx::list_runs(const ListQuery& query, int64_t* last_seq) {
  Params params{p(query.after_seq)};
  auto next = [&params](std::optional<std::string> v) {
    params.push_back(std::move(v));
    return "$" + std::to_string(params.size());
  };
  std::string sql = std::string("SELECT seq, ") + kRunColumns + " FROM runs WHERE seq > $1";
  if (query.status) sql += " AND status = " + next(std::string(to_string(*query.status)));
  if (query.unfinished_only) sql += " AND status IN ('queued', 'running', 'sleeping', 'waiting')";
  if (!query.workflow.empty()) sql += " AND workflow = " + next(query.workflow);
  if (!query.owner.empty()) sql += " AND owner = " + next(query.owner);
  if (!query.error_class.empty()) sql += " AND storyloom_error_class(error) = " + next(query.error_class);
  if (query.finished_after_ms > 0) sql += " AND finished_at >= " + next(p(query.finished_after_ms)) + "::bigint";
  if (query.finished_before_ms > 0) {
    sql += " AND finished_at > 0 AND finished_at < " + next(p(query.finished_before_ms)) + "::bigint";
  }
  sql += " ORDER BY seq LIMIT " + next(p(static_cast<int64_t>(query.limit))) + "::bigint";
  Result r = conn_.query_once(sql, params);
  std::vector<RunRecord> out;
  *last_seq = 0;
  for (int i = 0; i < r.rows(); ++i) {
    *last_seq = r.int64(i, 0);
    out.push_back(read_run(r, i, 1));
  }
  return out;
}

std::vector<StepRecord> PgTx::steps(const std::string& run_id) {
  auto claimed = claimed_steps_.find(run_id);
  if (claimed != claimed_steps_.end()) {
    std::vector<StepRecord> out = std::move(claimed->second);
    claimed_steps_.erase(claimed);
    return out;
  }
  Result r = conn_.query(
      "SELECT seq, name, kind, status, result, wake_at, child_id, completed_at, attempts "
      "FROM steps WHERE run_id = $1 ORDER BY seq",
      {run_id});
  std::vector<StepRecord> out;
  for (int i = 0; i < r.rows(); ++i) {
    out.push_back(StepRecord{run_id, r.int64(i, 0), r.text(i, 1), r.text(i, 2), r.text(i, 3),
                             r.text(i, 4), r.int64(i, 5), r.text(i, 6), r.int64(i, 7),
                             r.int64(i, 8)});
  }
  return out;
}

std::vector<ArtifactRecord> PgTx::artifacts(const std::string& run_id, bool latest_only) {
  Result r = latest_only
                 ? conn_.query(
                       "SELECT DISTINCT ON (key) key, version, value, created_at, content_type "
                       "FROM artifacts WHERE run_id = $1 ORDER BY key, version DESC",
                       {run_id})
                 : conn_.query(
                       "SELECT key, version, value, created_at, content_type FROM artifacts "
                       "WHERE run_id = $1 ORDER BY key, version",
                       {run_id});
  std::vector<ArtifactRecord> out;
  for (int i = 0; i < r.rows(); ++i) {
    out.push_back(
        ArtifactRecord{r.text(i, 0), r.int64(i, 1), r.text(i, 2), r.int64(i, 3), r.text(i, 4)});
  }
  return out;
}

std::optional<ArtifactRecord> PgTx::latest_artifact(const std::string& run_id,
                                                    const std::string& key) {
  Result r = conn_.query(
      "SELECT key, version, value, created_at, content_type FROM artifacts WHERE run_id = $1 "
      "AND key = $2 ORDER BY version DESC LIMIT 1",
      {run_id, key});
  if (r.rows() == 0) return std::nullopt;
  return ArtifactRecord{r.text(0, 0), r.int64(0, 1), r.text(0, 2), r.int64(0, 3), r.text(0, 4)};
}

std::optional<std::string> PgTx::artifact_bytes(const std::string& run_id, const std::string& key,
                                                int64_t version) {
  // bytea in text form is "\x" and two hex digits per byte.
  Result r = conn_.query(
      "SELECT bytes FROM artifact_bytes WHERE run_id = $1 AND key = $2 AND version = $3::bigint",
      {run_id, key, p(version)});
  if (r.rows() == 0) return std::nullopt;
  return bytes_from_hex(r.text(0, 0));
}

bool PgTx::has_signal(const std::string& run_id, const std::string& name) {
  return conn_.query("SELECT 1 FROM signals WHERE run_id = $1 AND name = $2 LIMIT 1",
                     {run_id, name})
             .rows() > 0;
}

std::optional<int64_t> PgTx::cursor(const std::string& name) {
  Result r = conn_.query("SELECT position FROM cursors WHERE name = $1", {name});
  if (r.rows() == 0) return std::nullopt;
  return r.int64(0, 0);
}

std::vector<SignalRecord> PgTx::unconsumed_signals(const std::string& run_id,
                                                   const std::string& name) {
  Result r = conn_.query(
      "SELECT id, payload FROM signals WHERE run_id = $1 AND name = $2 AND consumed_seq = -1 "
      "ORDER BY id",
      {run_id, name});
  std::vector<SignalRecord> out;
  for (int i = 0; i < r.rows(); ++i) {
    out.push_back(SignalRecord{r.int64(i, 0), run_id, name, r.text(i, 1)});
  }
  return out;
}

std::vector<EventRecord> PgTx::events(const std::string& run_id, int64_t after_id, size_t limit) {
  return all_events(conn_.query(
      "SELECT id, run_id, type, data, created_at FROM events WHERE run_id = $1 AND id > $2::bigint "
      "ORDER BY id LIMIT $3::bigint",
      {run_id, p(after_id), p(static_cast<int64_t>(limit))}));
}

// One run's events need no settling: they commit in id order (appended under
// the run's row lock, pg_writes.cc). Events of every run do: an older
// transaction still running may commit ids below newer ones.
std::vector<EventRecord> PgTx::events_since(int64_t after_id, size_t limit) {
  static const std::string sql =
      std::string("SELECT id, run_id, type, data, created_at FROM events WHERE id > $1::bigint ") +
      "AND id <= " + kSettledEventId + " ORDER BY id LIMIT $2::bigint";
  return all_events(conn_.query(sql.c_str(), {p(after_id), p(static_cast<int64_t>(limit))}));
}

int64_t PgTx::last_event_id() {
  static const std::string sql =
      std::string("SELECT coalesce(max(id), 0) FROM events WHERE id <= ") + kSettledEventId;
  return conn_.query(sql.c_str()).int64(0, 0);
}

int64_t PgTx::settled_event_id() {
  static const std::string sql = std::string("SELECT ") + kSettledEventId;
  return conn_.query(sql.c_str()).int64(0, 0);
}

const char* settled_events_sql() {
  static const std::string sql =
      std::string("SELECT s.settled, e.id, e.run_id, e.type, e.data, e.created_at FROM (SELECT ") +
      kSettledEventId + " AS settled) s LEFT JOIN LATERAL (SELECT id, run_id, type, data, created_at "
      "FROM events WHERE id > $1::bigint AND id <= s.settled ORDER BY id LIMIT $2::bigint) e ON true";
  return sql.c_str();
}

std::vector<EventRecord> read_settled_events(const Result& r, int64_t* settled) {
  *settled = r.int64(0, 0);
  std::vector<EventRecord> out;
  if (r.null(0, 1)) return out;
  out.reserve(static_cast<size_t>(r.rows()));
  for (int i = 0; i < r.rows(); ++i) {
    out.push_back(EventRecord{r.int64(i, 1), r.text(i, 2), r.text(i, 3), r.text(i, 4), r.int64(i, 5)});
  }
  return out;
}

// One round trip, or none: the answer the last commit on this thread read
// with itself (pg_settled_ahead.h), when it has what is asked.
std::vector<EventRecord> PgTx::settled_events_since(int64_t after_id, size_t limit, int64_t* settled) {
  if (settled_ahead_) {
    if (auto kept = settled_ahead_->take(after_id, limit, settled)) return std::move(*kept);
  }
  auto out = read_settled_events(
      conn_.query(settled_events_sql(), {p(after_id), p(static_cast<int64_t>(limit))}), settled);
  if (settled_ahead_) settled_ahead_->note_read(after_id, *settled);
  return out;
}

int64_t PgTx::last_event_id(const std::string& run_id) {
  return conn_.query("SELECT coalesce(max(id), 0) FROM events WHERE run_id = $1", {run_id}).int64(0, 0);
}

ChunkStream PgTx::chunk_stream(const std::string& run_id, const std::string& stream) {
  Result r = conn_.query(
      "SELECT end_offset, attempt_start FROM chunk_streams WHERE run_id = $1 AND stream = $2",
      {run_id, stream});
  ChunkStream out{stream, 0, 0};
  if (r.rows()) {
    out.end_offset = r.int64(0, 0);
    out.attempt_start = r.int64(0, 1);
  }
  return out;
}

std::vector<ChunkStream> PgTx::chunk_streams(const std::string& run_id) {
  Result r = conn_.query(
      "SELECT stream, end_offset, attempt_start FROM chunk_streams WHERE run_id = $1 ORDER BY stream",
      {run_id});
  std::vector<ChunkStream> out;
  for (int i = 0; i < r.rows(); ++i) out.push_back(ChunkStream{r.text(i, 0), r.int64(i, 1), r.int64(i, 2)});
  return out;
}

std::optional<int64_t> PgTx::next_parked_ms() {
  Result r = conn_.query(
      "SELECT min(wake_at) FROM runs WHERE status IN ('sleeping', 'waiting') AND wake_at > 0");
  if (r.null(0, 0)) return std::nullopt;
  return r.int64(0, 0);
}

std::optional<int64_t> PgTx::next_queued_ms(int64_t after_ms) {
  Result r = conn_.query(
      "SELECT min(available_at) FROM runs WHERE status = 'queued' AND available_at > $1::bigint",
      {p(after_ms)});
  if (r.null(0, 0)) return std::nullopt;
  return r.int64(0, 0);
}

std::vector<std::string> PgTx::children(const std::string& run_id) {
  Result r = conn_.query("SELECT id FROM runs WHERE parent_id = $1 ORDER BY seq", {run_id});
  std::vector<std::string> out;
  for (int i = 0; i < r.rows(); ++i) out.push_back(r.text(i, 0));
  return out;
}

std::vector<RunRecord> PgTx::overdue_runs(int64_t now_ms, size_t limit) {
  Result r = conn_.query(
      run_sql("WHERE deadline_at > 0 AND status IN ('queued', 'running', 'sleeping', 'waiting') "
              "AND deadline_at <= $1::bigint ORDER BY deadline_at LIMIT $2::bigint")
          .c_str(),
      {p(now_ms), p(static_cast<int64_t>(limit))});
  std::vector<RunRecord> out;
  for (int i = 0; i < r.rows(); ++i) {
    RunRecord run = read_run(r, i);
    if (run.info.unreadable.empty()) out.push_back(std::move(run));
  }
  return out;
}

std::vector<std::pair<std::string, RunStatus>> PgTx::statuses(const std::vector<std::string>& run_ids) {
  Result r = conn_.query("SELECT id, status FROM runs WHERE id = ANY($1::text[])",
                         {text_array(run_ids)});
  std::map<std::string, std::string> found;
  for (int i = 0; i < r.rows(); ++i) found[r.text(i, 0)] = r.text(i, 1);
  std::vector<std::pair<std::string, RunStatus>> out;
  for (const auto& id : run_ids) {
    auto it = found.find(id);
    if (it != found.end()) out.emplace_back(id, parse_run_status(it->second));
  }
  return out;
}

bool PgTx::workflow_known(const std::string& name) {
  return conn_.query("SELECT 1 FROM engines WHERE jsonb_exists(workflows::jsonb, $1) LIMIT 1", {name})
             .rows() > 0;
}

}  // namespace storyloom::store::pg
