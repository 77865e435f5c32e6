#include "store/sqlite_store.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <sqlite3.h>

#include <condition_variable>
#include <mutex>
#include <algorithm>
#include <climits>
#include <map>
#include <set>
#include <thread>
#include <unordered_map>
#include <vector>

#include "storyloom/error.h"
#include "store/hot_queries.h"
#include "store/pg_store.h"
#include "store/row_codec.h"
#include "store/schema.h"
#include "store/shared_resources.h"
#include "store/sqlite_checkpointer.h"

namespace storyloom::store {
namespace {

constexpr int kBusyTimeoutMs = 5000;

Error store_error(const std::string& what, const std::exception& e) {
  return Error(ErrorCode::store, what + ": " + e.what(), ErrorClass::retryable);
}

// One SQLite connection and its prepared statements.
class Connection {
 public:
  Connection(const std::string& path, bool memory)
      : db_(memory ? ":memory:" : path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE |
                                            SQLite::OPEN_NOMUTEX) {
    db_.setBusyTimeout(kBusyTimeoutMs);
  }
  // A read-only connection: `uri` is a file: URI (mode=ro, maybe immutable=1).
  struct ReadOnly {};
  Connection(const std::string& uri, ReadOnly)
      : db_(uri, SQLite::OPEN_READONLY | SQLite::OPEN_URI | SQLite::OPEN_NOMUTEX) {
    db_.setBusyTimeout(kBusyTimeoutMs);
  }

  SQLite::Database& db() { return db_; }

  // A cached statement, reset and ready to bind. Keyed by the SQL literal's address.
  SQLite::Statement& prepare(const char* sql) {
    auto it = cache_.find(sql);
    if (it == cache_.end()) {
      it = cache_.emplace(sql, std::make_unique<SQLite::Statement>(db_, sql)).first;
    } else {
      it->second->reset();
      it->second->clearBindings();
    }
    used_.push_back(it->second.get());
    return *it->second;
  }

  // A statement left mid-result keeps its read snapshot open after COMMIT, so
  // every statement used in a transaction is reset when the transaction ends.
  void reset_used() {
    for (auto* q : used_) q->tryReset();
    used_.clear();
  }

 private:
  SQLite::Database db_;
  std::unordered_map<const char*, std::unique_ptr<SQLite::Statement>> cache_;
  std::vector<SQLite::Statement*> used_;
};

// Bytes the WAL file is cut back to after a checkpoint (journal_size_limit).
constexpr int64_t kWalSizeLimitBytes = 16 << 20;

// Every connection: temporary data in memory (savepoint journals would
// otherwise spill to files) and a page cache large enough for hot indexes.
void configure(Connection& conn, int cache_kib) {
  conn.db().exec("PRAGMA temp_store=MEMORY");
  conn.db().exec("PRAGMA cache_size=-" + std::to_string(cache_kib));
  conn.db().exec("PRAGMA foreign_keys=OFF");
}

// The writer: WAL, and no automatic checkpoint inside COMMIT: the Checkpointer
// (sqlite_checkpointer.h) decides when the log is copied back. synchronous=FULL syncs the WAL at every commit
// (durable against power loss); NORMAL only at checkpoints (durable against a
// crash of the process).
void configure_writer(Connection& conn, bool memory, const StoreOptions& options) {
  configure(conn, 65536);
  if (!memory) {
    conn.db().exec("PRAGMA journal_mode=WAL");
    conn.db().exec(options.sync_every_commit ? "PRAGMA synchronous=FULL"
                                             : "PRAGMA synchronous=NORMAL");
    conn.db().exec("PRAGMA wal_autocheckpoint=0");
    // Once a checkpoint has copied the log back, the next commit starts the
    // log again and cuts the file to this size: the WAL stays bounded under a
    // sustained load instead of keeping its largest size forever.
    conn.db().exec("PRAGMA journal_size_limit=" + std::to_string(kWalSizeLimitBytes));
  }
}

int64_t pragma_int(Connection& conn, const char* pragma) {
  SQLite::Statement q(conn.db(), pragma);
  q.executeStep();
  return q.getColumn(0).getInt64();
}

// Checks that the file is ours (or empty) and brings its schema up to date.
void migrate(Connection& conn, const std::string& path) {
  int64_t app_id = 0;
  int64_t tables = 0;
  try {
    app_id = pragma_int(conn, "PRAGMA application_id");
    tables = pragma_int(conn, "SELECT count(*) FROM sqlite_master");
  } catch (const SQLite::Exception& e) {
    if (e.getErrorCode() == SQLITE_NOTADB) {
      throw Error(ErrorCode::not_a_database,
                  "store '" + path + "' is not a storyloom database (not an SQLite file)");
    }
    throw store_error("cannot read store '" + path + "'", e);
  }
  if (app_id != kApplicationId && (app_id != 0 || tables > 0)) {
    throw Error(ErrorCode::not_a_database,
                "store '" + path + "' is not a storyloom database (an SQLite file of another application)");
  }
  const auto& steps = migrations();
  SQLite::Transaction tx(conn.db(), SQLite::TransactionBehavior::IMMEDIATE);
  int64_t version = pragma_int(conn, "PRAGMA user_version");
  if (version > current_schema_version()) {
    throw Error(ErrorCode::schema_too_new,
                "store '" + path + "' has schema version " + std::to_string(version) +
                    ", newer than this storyloom supports (" +
                    std::to_string(current_schema_version()) + "); upgrade storyloom");
  }
  for (int64_t v = version; v < current_schema_version(); ++v) {
    conn.db().exec(steps[static_cast<size_t>(v)]);
  }
  if (version < current_schema_version()) {
    conn.db().exec("PRAGMA application_id=" + std::to_string(kApplicationId));
    conn.db().exec("PRAGMA user_version=" + std::to_string(current_schema_version()));
  }
  tx.commit();
}

// The status and lease owner of runs this process's writer has read or
// written, so an execution's writes skip the lease re-check query. It is only
// trusted while no other connection has committed (PRAGMA data_version, read
// once per write transaction), and forgotten whenever a write rolls back.
class LeaseCache {
 public:
  using Lease = std::pair<RunStatus, std::string>;
  // At the start of each write transaction, with the connection's data_version.
  void begin(int64_t data_version) {
    if (data_version != data_version_) entries_.clear();
    data_version_ = data_version;
  }
  const Lease* find(const std::string& run_id) const {
    auto it = entries_.find(run_id);
    return it == entries_.end() ? nullptr : &it->second;
  }
  void put(const std::string& run_id, RunStatus status, const std::string& owner) {
    if (entries_.size() >= kMaxEntries) entries_.clear();  // bounded; refilled on demand
    entries_[run_id] = Lease{status, owner};
  }
  void forget(const std::string& run_id) { entries_.erase(run_id); }
  void clear() { entries_.clear(); }

 private:
  static constexpr size_t kMaxEntries = 65536;
  std::unordered_map<std::string, Lease> entries_;
  int64_t data_version_ = -1;
};

// Read and write queries over one connection; the caller holds its lock.
class SqliteTx : public WriteTx {
 public:
  // `leases` (write transactions of the writer connection only) may be null.
  SqliteTx(Connection& conn, std::unique_lock<std::mutex> lock, bool write,
           std::function<void()> on_end, LeaseCache* leases = nullptr)
      : conn_(conn), lock_(std::move(lock)), write_(write), on_end_(std::move(on_end)),
        leases_(leases) {
    try {
      conn_.db().exec(write ? "BEGIN IMMEDIATE" : "BEGIN");
      if (leases_) {
        auto& q = conn_.prepare("PRAGMA data_version");
        q.executeStep();
        leases_->begin(q.getColumn(0).getInt64());
        q.reset();
      }
    } catch (const std::exception& e) {
      if (leases_) leases_->clear();
      if (conn_.db().getHandle() && !sqlite3_get_autocommit(conn_.db().getHandle())) {
        try {
          conn_.db().exec("ROLLBACK");
        } catch (...) {
        }
      }
      finish_lock();
      throw store_error("cannot begin a transaction", e);
    }
    open_ = true;
  }

  ~SqliteTx() override {
    conn_.reset_used();
    if (open_) {
      if (leases_) leases_->clear();  // rolled back: what it cached may not be stored
      try {
        conn_.db().exec(write_ ? "ROLLBACK" : "COMMIT");
      } catch (...) {
      }
    }
    finish_lock();
  }

  void commit() override {
    conn_.reset_used();
    try {
      conn_.db().exec("COMMIT");
      open_ = false;
    } catch (const std::exception& e) {
      if (leases_) leases_->clear();
      throw store_error("commit failed", e);
    }
  }
  void savepoint() override { conn_.prepare("SAVEPOINT op").exec(); }
  void release() override { conn_.prepare("RELEASE op").exec(); }
  void rollback_to_savepoint() override {
    if (leases_) leases_->clear();
    conn_.prepare("ROLLBACK TO op").exec();
    conn_.prepare("RELEASE op").exec();
  }

  // ---- reads ----

  std::optional<RunRecord> find_run(const std::string& run_id) override {
    static const std::string sql = std::string("SELECT ") + kRunColumns + " FROM runs WHERE id = ?";
    auto& q = conn_.prepare(sql.c_str());
    q.bind(1, run_id);
    if (!q.executeStep()) return std::nullopt;
    return readable(read_run(q));
  }

  std::optional<RunRecord> find_run_by_key(const std::string& key) override {
    static const std::string sql =
        std::string("SELECT ") + kRunColumns + " FROM runs WHERE idempotency_key = ?";
    auto& q = conn_.prepare(sql.c_str());
    q.bind(1, key);
    if (!q.executeStep()) return std::nullopt;
    return readable(read_run(q));
  }

  std::optional<std::pair<RunStatus, std::string>> run_lease(const std::string& run_id) override {
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

  int64_t run_seq(const std::string& run_id) override {
    auto& q = conn_.prepare("SELECT seq FROM runs WHERE id = ?");
    q.bind(1, run_id);
    return q.executeStep() ? q.getColumn(0).getInt64() : 0;
  }

  std::vector<RunRecord> list_runs(const ListQuery& query, int64_t* last_seq) override {
    std::string sql = std::string("SELECT seq, ") + kRunColumns + " FROM runs WHERE seq > ?";
    if (query.status) sql += " AND status = ?";
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
    if (query.status) q.bind(i++, to_string(*query.status));
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

  std::vector<StepRecord> steps(const std::string& run_id) override {
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

  std::vector<ArtifactRecord> artifacts(const std::string& run_id, bool latest_only) override {
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

  std::optional<ArtifactRecord> latest_artifact(const std::string& run_id,
                                                const std::string& key) override {
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

  std::optional<std::string> artifact_bytes(const std::string& run_id, const std::string& key,
                                            int64_t version) override {
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

  bool has_signal(const std::string& run_id, const std::string& name) override {
    auto& q = conn_.prepare("SELECT 1 FROM signals WHERE run_id = ? AND name = ? LIMIT 1");
    q.bind(1, run_id);
    q.bind(2, name);
    return q.executeStep();
  }

  std::vector<SignalRecord> unconsumed_signals(const std::string& run_id,
                                               const std::string& name) override {
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

  std::vector<EventRecord> events(const std::string& run_id, int64_t after_id,
                                  size_t limit) override {
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

  std::vector<EventRecord> events_since(int64_t after_id, size_t limit) override {
    auto& q = conn_.prepare(
        "SELECT id, run_id, type, data, created_at FROM events WHERE id > ? ORDER BY id LIMIT ?");
    q.bind(1, after_id);
    q.bind(2, static_cast<int64_t>(limit));
    std::vector<EventRecord> out;
    while (q.executeStep()) out.push_back(read_event(q));
    return out;
  }

  int64_t last_event_id() override {
    auto& q = conn_.prepare("SELECT coalesce(max(id), 0) FROM events");
    q.executeStep();
    return q.getColumn(0).getInt64();
  }

  int64_t last_event_id(const std::string& run_id) override {
    auto& q = conn_.prepare("SELECT coalesce(max(id), 0) FROM events WHERE run_id = ?");
    q.bind(1, run_id);
    q.executeStep();
    return q.getColumn(0).getInt64();
  }

  ChunkStream chunk_stream(const std::string& run_id, const std::string& stream) override {
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

  std::vector<ChunkStream> chunk_streams(const std::string& run_id) override {
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

  std::optional<int64_t> next_parked_ms() override {
    auto& q = conn_.prepare(sql::kNextParked);
    q.executeStep();
    if (q.getColumn(0).isNull()) return std::nullopt;
    return q.getColumn(0).getInt64();
  }

  std::optional<int64_t> next_queued_ms(int64_t after_ms) override {
    auto& q = conn_.prepare(sql::kNextQueued);
    q.bind(1, after_ms);
    q.executeStep();
    if (q.getColumn(0).isNull()) return std::nullopt;
    return q.getColumn(0).getInt64();
  }

  std::vector<std::string> children(const std::string& run_id) override {
    auto& q = conn_.prepare("SELECT id FROM runs WHERE parent_id = ? ORDER BY seq");
    q.bind(1, run_id);
    std::vector<std::string> out;
    while (q.executeStep()) out.push_back(q.getColumn(0).getString());
    return out;
  }

  std::vector<std::pair<std::string, RunStatus>> statuses(
      const std::vector<std::string>& run_ids) override {
    std::vector<std::pair<std::string, RunStatus>> out;
    auto& q = conn_.prepare("SELECT status FROM runs WHERE id = ?");
    for (const auto& id : run_ids) {
      q.reset();
      q.bind(1, id);
      if (q.executeStep()) out.emplace_back(id, parse_run_status(q.getColumn(0).getString()));
    }
    return out;
  }

  // ---- writes ----

  int64_t insert_run(const RunRecord& r) override {
    auto& q = conn_.prepare(
        "INSERT INTO runs (id, workflow, status, input, output, error, progress, owner, "
        "idempotency_key, parent_id, parent_step, priority, available_at, wake_at, waiting_for, "
        "lease_owner, created_at, updated_at, finished_at, budget, trace_parent) "
        "VALUES (?, ?, ?, ?, NULL, NULL, NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
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

  void update_run(const RunRecord& r) override {
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

  void delete_run(const std::string& run_id) override {
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

  bool upsert_step(const StepRecord& s) override {
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

  void delete_steps_from(const std::string& run_id, int64_t seq) override {
    auto& q = conn_.prepare("DELETE FROM steps WHERE run_id = ? AND seq >= ?");
    q.bind(1, run_id);
    q.bind(2, seq);
    q.exec();
  }

  void delete_retrying_steps(const std::string& run_id) override {
    auto& q = conn_.prepare(
        "DELETE FROM steps WHERE run_id = ? AND status IN ('retrying', 'failed')");
    q.bind(1, run_id);
    q.exec();
  }

  int64_t insert_signal(const SignalRecord& s, int64_t now_ms) override {
    auto& q = conn_.prepare(
        "INSERT INTO signals (run_id, name, payload, created_at) VALUES (?, ?, ?, ?)");
    q.bind(1, s.run_id);
    q.bind(2, s.name);
    q.bind(3, s.payload);
    q.bind(4, now_ms);
    q.exec();
    return conn_.db().getLastInsertRowid();
  }

  void consume_signal(int64_t signal_id, int64_t step_seq) override {
    auto& q = conn_.prepare("UPDATE signals SET consumed_seq = ? WHERE id = ?");
    q.bind(1, step_seq);
    q.bind(2, signal_id);
    q.exec();
  }

  int64_t insert_artifact(const std::string& run_id, const std::string& key,
                          const std::string& value, int64_t now_ms) override {
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

  int64_t insert_binary_artifact(const std::string& run_id, const std::string& key,
                                 const std::string& content_type, const std::string& value,
                                 const std::string& bytes, int64_t now_ms) override {
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

  void set_chunk_stream(const std::string& run_id, const ChunkStream& stream) override {
    auto& q = conn_.prepare(
        "INSERT OR REPLACE INTO chunk_streams (run_id, stream, end_offset, attempt_start) "
        "VALUES (?, ?, ?, ?)");
    q.bind(1, run_id);
    q.bind(2, stream.stream);
    q.bind(3, stream.end_offset);
    q.bind(4, stream.attempt_start);
    q.exec();
  }

  EventRecord append_event(const std::string& run_id, const std::string& type,
                           const std::string& data, int64_t now_ms) override {
    auto& q = conn_.prepare("INSERT INTO events (run_id, type, data, created_at) VALUES (?, ?, ?, ?)");
    q.bind(1, run_id);
    q.bind(2, type);
    q.bind(3, data);
    q.bind(4, now_ms);
    q.exec();
    return EventRecord{conn_.db().getLastInsertRowid(), run_id, type, data, now_ms};
  }

  ClaimResult claim_runs(const ClaimRequest& req) override {
    ClaimResult out = req.rules.empty() ? claim_unlimited(req) : claim_limited(req);
    fail_unreadable(out.runs, req.now_ms);
    if (leases_) {
      for (const auto& r : out.runs) leases_->put(r.info.id, RunStatus::running, req.owner);
    }
    return out;
  }

  std::vector<RunRecord> overdue_runs(int64_t now_ms, size_t limit) override {
    static const std::string sql =
        std::string("SELECT ") + kRunColumns +
        " FROM runs WHERE deadline_at > 0 AND status IN ('queued', 'running', 'sleeping', "
        "'waiting') AND deadline_at <= ? ORDER BY deadline_at LIMIT ?";
    auto& q = conn_.prepare(sql.c_str());
    q.bind(1, now_ms);
    q.bind(2, static_cast<int64_t>(limit));
    std::vector<RunRecord> out;
    while (q.executeStep()) {
      RunRecord r = read_run(q);
      if (r.info.unreadable.empty()) out.push_back(std::move(r));  // nothing to time out
    }
    return out;
  }

  std::vector<std::string> wake_due_parked(int64_t now_ms, size_t limit) override {
    auto& select = conn_.prepare(sql::kDueParked);
    select.bind(1, now_ms);
    select.bind(2, static_cast<int64_t>(limit));
    std::vector<std::string> ids;
    while (select.executeStep()) ids.push_back(select.getColumn(0).getString());
    select.reset();
    auto& update = conn_.prepare(
        "UPDATE runs SET status = 'queued', available_at = ?, updated_at = ?, wake_at = 0, "
        "waiting_for = '' WHERE id = ?");
    for (const auto& id : ids) {
      update.reset();
      update.bind(1, now_ms);
      update.bind(2, now_ms);
      update.bind(3, id);
      update.exec();
      if (leases_) leases_->forget(id);
    }
    return ids;
  }

  void upsert_engine(const std::string& engine_id, int64_t pid, const std::string& host,
                     int64_t now_ms, const std::string& workflows_json_array) override {
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

  bool workflow_known(const std::string& name) override {
    auto& q = conn_.prepare(
        "SELECT 1 FROM engines, json_each(engines.workflows) WHERE json_each.value = ? LIMIT 1");
    q.bind(1, name);
    return q.executeStep();
  }

  std::optional<int64_t> cursor(const std::string& name) override {
    auto& q = conn_.prepare("SELECT position FROM cursors WHERE name = ?");
    q.bind(1, name);
    if (!q.executeStep()) return std::nullopt;
    return q.getColumn(0).getInt64();
  }

  void set_cursor(const std::string& name, int64_t position) override {
    auto& q = conn_.prepare(
        "INSERT INTO cursors(name, position) VALUES (?, ?) "
        "ON CONFLICT(name) DO UPDATE SET position = excluded.position");
    q.bind(1, name);
    q.bind(2, position);
    q.exec();
  }

  void delete_engine(const std::string& engine_id) override {
    auto& q = conn_.prepare("DELETE FROM engines WHERE id = ?");
    q.bind(1, engine_id);
    q.exec();
  }

  std::vector<EngineRow> engines() override {
    auto& q = conn_.prepare("SELECT id, pid, host, heartbeat_at FROM engines");
    std::vector<EngineRow> out;
    while (q.executeStep()) {
      out.push_back(EngineRow{q.getColumn(0).getString(), q.getColumn(1).getInt64(),
                              q.getColumn(2).getString(), q.getColumn(3).getInt64()});
    }
    return out;
  }

  std::vector<RunRecord> running_runs_without(
      const std::vector<std::string>& live_engine_ids) override {
    static const std::string sql =
        std::string("SELECT ") + kRunColumns + " FROM runs WHERE status = 'running'";
    auto& q = conn_.prepare(sql.c_str());
    std::vector<RunRecord> out;
    while (q.executeStep()) {
      RunRecord r = read_run(q);
      if (!r.info.unreadable.empty()) continue;  // never resumed: its input is unknown
      bool live = false;
      for (const auto& id : live_engine_ids) live = live || id == r.lease_owner;
      if (!live) out.push_back(std::move(r));
    }
    return out;
  }

 private:
  // A run row that cannot be decoded is an Error(store) naming the run.
  static RunRecord readable(RunRecord run) {
    if (!run.info.unreadable.empty()) throw unreadable_run_error(run);
    return run;
  }

  // Claimed runs whose row cannot be decoded are never executed (their input
  // is unknown): they fail with a store error and leave the claim result.
  void fail_unreadable(std::vector<RunRecord>& runs, int64_t now_ms) {
    auto bad = std::stable_partition(runs.begin(), runs.end(), [](const RunRecord& r) {
      return r.info.unreadable.empty();
    });
    for (auto it = bad; it != runs.end(); ++it) {
      Json error = boost::json::object{{"code", "store"},
                                       {"class", "fatal"},
                                       {"message", unreadable_run_error(*it).what()},
                                       {"step", ""}};
      auto& q = conn_.prepare(
          "UPDATE runs SET status = 'failed', error = ?1, lease_owner = '', finished_at = ?2, "
          "updated_at = ?2 WHERE id = ?3");
      q.bind(1, boost::json::serialize(error));
      q.bind(2, now_ms);
      q.bind(3, it->info.id);
      q.exec();
      if (leases_) leases_->forget(it->info.id);
    }
    runs.erase(bad, runs.end());
  }

  static void bind_json(SQLite::Statement& q, int index, const Json& v) {
    if (v.is_null()) {
      q.bind(index);
    } else {
      q.bind(index, boost::json::serialize(v));
    }
  }

  ClaimResult claim_unlimited(const ClaimRequest& req) {
    static const std::string sql =
        std::string("UPDATE runs SET status = 'running', lease_owner = ?1, updated_at = ?2 ") +
        "WHERE id IN (" + sql::kClaimQueueWalk + ") RETURNING " + kRunColumns;
    auto& q = conn_.prepare(sql.c_str());
    q.bind(1, req.owner);
    q.bind(2, req.now_ms);
    q.bind(3, static_cast<int64_t>(req.limit));
    q.bind(4, req.workflows_json_array);
    ClaimResult out;
    while (q.executeStep()) out.runs.push_back(read_run(q));
    q.reset();
    // RETURNING gives no order guarantee: keep the queue order.
    std::stable_sort(out.runs.begin(), out.runs.end(), [](const RunRecord& a, const RunRecord& b) {
      if (a.info.priority != b.info.priority) return a.info.priority > b.info.priority;
      return a.available_at_ms < b.available_at_ms;
    });
    return out;
  }

  // Walks the queue in order and takes each run its workflow's limits allow.
  // The counts come from the runs table inside this write transaction, so two
  // processes claiming at once cannot both take the last slot.
  ClaimResult claim_limited(const ClaimRequest& req) {
    constexpr int64_t kPage = 256;
    constexpr size_t kMaxScan = 4096;  // bounds one claim; the rest wait for the next
    ClaimResult out;
    std::vector<std::string> names;
    Json workflows = boost::json::parse(req.workflows_json_array);
    for (const auto& v : workflows.as_array()) {
      names.emplace_back(v.as_string());
    }
    std::map<std::string, int64_t> running;
    std::map<std::pair<std::string, std::string>, int64_t> running_by_key;
    std::map<std::pair<std::string, std::string>, std::vector<int64_t>> starts;
    std::set<std::string> full;  // workflows at their global limit
    struct Pick {
      RunRecord run;
      RunKeys keys;
      int64_t timeout_ms;
    };
    std::vector<Pick> picks;
    auto count_running = [&](const std::string& wf) -> int64_t& {
      auto it = running.find(wf);
      if (it != running.end()) return it->second;
      auto& q = conn_.prepare("SELECT count(*) FROM runs WHERE status = 'running' AND workflow = ?");
      q.bind(1, wf);
      q.executeStep();
      return running[wf] = q.getColumn(0).getInt64();
    };
    auto count_key = [&](const std::string& wf, const std::string& key) -> int64_t& {
      auto id = std::make_pair(wf, key);
      auto it = running_by_key.find(id);
      if (it != running_by_key.end()) return it->second;
      auto& q = conn_.prepare(
          "SELECT count(*) FROM runs WHERE status = 'running' AND workflow = ? AND "
          "concurrency_key = ?");
      q.bind(1, wf);
      q.bind(2, key);
      q.executeStep();
      return running_by_key[id] = q.getColumn(0).getInt64();
    };
    auto starts_of = [&](const std::string& wf, const std::string& key,
                         int64_t since) -> std::vector<int64_t>& {
      auto id = std::make_pair(wf, key);
      auto it = starts.find(id);
      if (it != starts.end()) return it->second;
      auto& q = conn_.prepare(
          "SELECT started_at FROM runs WHERE workflow = ? AND throttle_key = ? AND started_at > ? "
          "ORDER BY started_at");
      q.bind(1, wf);
      q.bind(2, key);
      q.bind(3, since);
      auto& v = starts[id];
      while (q.executeStep()) v.push_back(q.getColumn(0).getInt64());
      return v;
    };
    static const std::string page_sql =
        std::string("SELECT seq, ") + kRunColumns + sql::kQueuePageWhere;
    int64_t after_priority = INT64_MIN, after_available = INT64_MIN, after_seq = INT64_MIN;
    size_t scanned = 0;
    while (picks.size() < req.limit && scanned < kMaxScan) {
      boost::json::array eligible;
      for (const auto& n : names) {
        if (!full.count(n)) eligible.push_back(boost::json::string(n));
      }
      if (eligible.empty()) break;
      SQLite::Statement q(conn_.db(), page_sql);
      q.bind(1, req.now_ms);
      q.bind(2, boost::json::serialize(eligible));
      q.bind(3, after_priority);
      q.bind(4, after_available);
      q.bind(5, after_seq);
      q.bind(6, kPage);
      int64_t rows = 0;
      while (picks.size() < req.limit && q.executeStep()) {
        ++rows;
        ++scanned;
        after_seq = q.getColumn(0).getInt64();
        RunRecord run = read_run(q, 1);
        after_priority = -static_cast<int64_t>(run.info.priority);
        after_available = run.available_at_ms;
        const std::string& wf = run.info.workflow;
        auto rules_it = req.rules.find(wf);
        if (rules_it == req.rules.end()) {
          picks.push_back(Pick{std::move(run), RunKeys{}, 0});
          continue;
        }
        const ClaimRules& rules = rules_it->second;
        if (full.count(wf)) continue;
        if (rules.max_running > 0 && count_running(wf) >= rules.max_running) {
          full.insert(wf);
          out.limited = true;
          continue;
        }
        RunKeys keys = req.keys(run);
        if (rules.key_limit > 0 && keys.concurrency &&
            count_key(wf, *keys.concurrency) >= rules.key_limit) {
          out.limited = true;
          continue;
        }
        bool first_start = run.started_at_ms == 0;
        if (rules.throttle_limit > 0 && keys.throttle && first_start) {
          auto& v = starts_of(wf, *keys.throttle, req.now_ms - rules.throttle_period_ms);
          if (static_cast<int64_t>(v.size()) >= rules.throttle_limit) {
            // The start that must leave the window before another fits in it.
            int64_t wake = v[v.size() - static_cast<size_t>(rules.throttle_limit)] +
                           rules.throttle_period_ms;
            out.throttle_wake_ms = out.throttle_wake_ms == 0 ? wake : std::min(out.throttle_wake_ms, wake);
            out.limited = true;
            continue;
          }
          v.push_back(req.now_ms);
        }
        if (rules.max_running > 0) ++count_running(wf);
        if (rules.key_limit > 0 && keys.concurrency) ++count_key(wf, *keys.concurrency);
        picks.push_back(Pick{std::move(run), std::move(keys), rules.run_timeout_ms});
      }
      if (rows < kPage) break;
    }
    auto& update = conn_.prepare(
        "UPDATE runs SET status = 'running', lease_owner = ?1, updated_at = ?2, "
        "concurrency_key = ?3, throttle_key = ?4, "
        "started_at = CASE WHEN started_at = 0 THEN ?2 ELSE started_at END, "
        "deadline_at = CASE WHEN deadline_at = 0 AND ?5 > 0 THEN ?2 + ?5 ELSE deadline_at END "
        "WHERE id = ?6 AND status = 'queued' RETURNING deadline_at, started_at");
    for (auto& p : picks) {
      update.reset();
      update.clearBindings();
      update.bind(1, req.owner);
      update.bind(2, req.now_ms);
      if (p.keys.concurrency) update.bind(3, *p.keys.concurrency); else update.bind(3);
      if (p.keys.throttle) update.bind(4, *p.keys.throttle); else update.bind(4);
      update.bind(5, p.timeout_ms);
      update.bind(6, p.run.info.id);
      if (!update.executeStep()) continue;
      p.run.deadline_at_ms = update.getColumn(0).getInt64();
      p.run.started_at_ms = update.getColumn(1).getInt64();
      update.reset();
      p.run.info.status = RunStatus::running;
      p.run.lease_owner = req.owner;
      p.run.info.updated_at_ms = req.now_ms;
      out.runs.push_back(std::move(p.run));
    }
    return out;
  }

  void finish_lock() {
    if (lock_.owns_lock()) lock_.unlock();
    if (on_end_) on_end_();
    on_end_ = nullptr;
  }

  Connection& conn_;
  std::unique_lock<std::mutex> lock_;
  bool write_;
  bool open_ = false;
  std::function<void()> on_end_;
  LeaseCache* leases_;
};

class SqliteStore final : public Store {
 public:
  SqliteStore(const std::string& path, const StoreOptions& options)
      : path_(path), memory_(path == ":memory:") {
    try {
      writer_ = std::make_unique<Connection>(path, memory_);
      configure_writer(*writer_, memory_, options);
    } catch (const Error&) {
      throw;
    } catch (const SQLite::Exception& e) {
      if (e.getErrorCode() == SQLITE_NOTADB) {
        throw Error(ErrorCode::not_a_database,
                    "store '" + path + "' is not a storyloom database (not an SQLite file)");
      }
      throw Error(ErrorCode::store, "cannot open store '" + path + "': " + e.what());
    }
    migrate(*writer_, path);
    if (!memory_) checkpointer_ = std::make_unique<Checkpointer>(path, writer_->db().getHandle());
  }

  ~SqliteStore() override { checkpointer_.reset(); }

  std::unique_ptr<ReadTx> begin_read() override {
    if (memory_) {
      // One private database: reads share the writer's connection and lock.
      return std::make_unique<SqliteTx>(*writer_, std::unique_lock(write_mutex_), false, nullptr);
    }
    Connection* conn = acquire_reader();
    return std::make_unique<SqliteTx>(*conn, std::unique_lock<std::mutex>(), false,
                                      [this, conn] { release_reader(conn); });
  }

  std::unique_ptr<WriteTx> begin_write() override {
    return std::make_unique<SqliteTx>(*writer_, std::unique_lock(write_mutex_), true, nullptr,
                                      &leases_);
  }

  std::shared_ptr<SharedResources> shared_resources() override {
    if (memory_) return nullptr;
    std::lock_guard lock(readers_mutex_);
    if (!shared_) shared_ = open_sqlite_shared_resources(path_, false);
    return shared_;
  }

 private:
  Connection* acquire_reader() {
    {
      std::lock_guard lock(readers_mutex_);
      if (!idle_readers_.empty()) {
        Connection* c = idle_readers_.back();
        idle_readers_.pop_back();
        return c;
      }
    }
    auto conn = std::make_unique<Connection>(path_, false);
    configure(*conn, 16384);
    Connection* raw = conn.get();
    std::lock_guard lock(readers_mutex_);
    all_readers_.push_back(std::move(conn));
    return raw;
  }

  void release_reader(Connection* conn) {
    std::lock_guard lock(readers_mutex_);
    idle_readers_.push_back(conn);
  }

  std::string path_;
  bool memory_;
  std::mutex write_mutex_;
  std::unique_ptr<Connection> writer_;
  LeaseCache leases_;  // used under write_mutex_ only
  std::mutex readers_mutex_;
  std::vector<std::unique_ptr<Connection>> all_readers_;
  std::vector<Connection*> idle_readers_;
  std::shared_ptr<SharedResources> shared_;  // under readers_mutex_
  std::unique_ptr<Checkpointer> checkpointer_;  // declared last: stops first
};

// A store opened for reading only (SQLITE_OPEN_READONLY): no migration, no
// writer connection, no checkpointer, so it works on a read-only file or
// directory and on a full disk. One connection, one reader at a time.
class ReadOnlySqliteStore : public Store {
 public:
  explicit ReadOnlySqliteStore(const std::string& path) : path_(path) {
    // A WAL database whose -shm file is missing and cannot be created (a
    // read-only directory) opens only as immutable; no writer can be running
    // then, since a writer keeps the -shm file.
    try {
      conn_ = open_checked(uri(false));
    } catch (const Error& e) {
      if (e.code() != ErrorCode::store) throw;
      conn_ = open_checked(uri(true));
    }
  }

  std::unique_ptr<ReadTx> begin_read() override {
    return std::make_unique<SqliteTx>(*conn_, std::unique_lock(mutex_), false, nullptr);
  }

  std::unique_ptr<WriteTx> begin_write() override {
    throw Error(ErrorCode::invalid_state,
                "store '" + path_ + "' is open read-only; nothing can be changed through it");
  }

  std::shared_ptr<SharedResources> shared_resources() override {
    return open_sqlite_shared_resources(path_, true);
  }

 private:
  std::string uri(bool immutable) const {
    // Percent-encode what a URI path cannot hold as is.
    std::string out = "file:";
    for (unsigned char c : path_) {
      if (c == '%' || c == '?' || c == '#' || c < 0x20) {
        static const char* hex = "0123456789ABCDEF";
        out += '%';
        out += hex[c >> 4];
        out += hex[c & 0xf];
      } else {
        out += static_cast<char>(c);
      }
    }
    return out + (immutable ? "?mode=ro&immutable=1" : "?mode=ro");
  }

  std::unique_ptr<Connection> open_checked(const std::string& uri) {
    std::unique_ptr<Connection> conn;
    int64_t app_id = 0, version = 0, tables = 0;
    try {
      conn = std::make_unique<Connection>(uri, Connection::ReadOnly{});
      app_id = pragma_int(*conn, "PRAGMA application_id");
      version = pragma_int(*conn, "PRAGMA user_version");
      tables = pragma_int(*conn, "SELECT count(*) FROM sqlite_master");
    } catch (const SQLite::Exception& e) {
      if (e.getErrorCode() == SQLITE_NOTADB) {
        throw Error(ErrorCode::not_a_database,
                    "store '" + path_ + "' is not a storyloom database (not an SQLite file)");
      }
      throw store_error("cannot open store '" + path_ + "' read-only", e);
    }
    if (app_id != kApplicationId) {
      throw Error(ErrorCode::not_a_database,
                  "store '" + path_ + "' is not a storyloom database" +
                      (tables > 0 ? " (an SQLite file of another application)" : " (it is empty)"));
    }
    if (version > current_schema_version()) {
      throw Error(ErrorCode::schema_too_new,
                  "store '" + path_ + "' has schema version " + std::to_string(version) +
                      ", newer than this storyloom supports (" +
                      std::to_string(current_schema_version()) + "); upgrade storyloom");
    }
    if (version < current_schema_version()) {
      throw Error(ErrorCode::invalid_state,
                  "store '" + path_ + "' has schema version " + std::to_string(version) +
                      ", older than this storyloom's (" + std::to_string(current_schema_version()) +
                      "); open it once read-write (any engine) to migrate it");
    }
    configure_read_only(*conn);
    return conn;
  }

  static void configure_read_only(Connection& conn) {
    conn.db().exec("PRAGMA temp_store=MEMORY");
    conn.db().exec("PRAGMA cache_size=-16384");
  }

  std::string path_;
  std::mutex mutex_;
  std::unique_ptr<Connection> conn_;
};

// "file:..." would be an SQLite URI to SQLite but a plain path to storyloom;
// refusing it avoids both surprises.
void refuse_uri(const std::string& path) {
  if (path.rfind("file:", 0) == 0) {
    throw Error(ErrorCode::invalid_argument,
                "store '" + path + "': SQLite URIs (file:...) are not supported; give a plain "
                "path (sqlite:./story.db or ./story.db) or :memory:");
  }
}

std::string sqlite_path(const std::string& spec) {
  const std::string prefix = "sqlite:";
  std::string path = spec.rfind(prefix, 0) == 0 ? spec.substr(prefix.size()) : spec;
  if (spec.rfind(prefix, 0) != 0 && spec.find("://") != std::string::npos) {
    throw Error(ErrorCode::invalid_argument,
                "store '" + spec + "' uses a scheme this build does not support (use sqlite:PATH "
                "or postgresql://...)");
  }
  if (path.empty()) throw Error(ErrorCode::invalid_argument, "store path is empty");
  refuse_uri(path);
  return path;
}

}  // namespace

std::unique_ptr<Store> open_read_only_store(const std::string& spec) {
  if (is_postgres_spec(spec)) return open_pg_read_only_store(spec);
  std::string path = sqlite_path(spec);
  if (path == ":memory:") {
    throw Error(ErrorCode::invalid_argument,
                "store ':memory:' cannot be opened read-only: it would always be empty");
  }
  return std::make_unique<ReadOnlySqliteStore>(path);
}

std::unique_ptr<Store> open_sqlite_store(const std::string& path, const StoreOptions& options) {
  if (path.empty()) throw Error(ErrorCode::invalid_argument, "store path is empty");
  return std::make_unique<SqliteStore>(path, options);
}

std::unique_ptr<Store> open_store(const std::string& spec, const StoreOptions& options) {
  if (is_postgres_spec(spec)) return open_pg_store(spec, options);
  return open_sqlite_store(sqlite_path(spec), options);
}

}  // namespace storyloom::store
