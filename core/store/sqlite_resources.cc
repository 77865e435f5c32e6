// Shared resources on SQLite (store/shared_resources.h): several processes on
// one file. Each admission is one BEGIN IMMEDIATE transaction on a connection
// of its own; SQLite's file lock serialises them across processes. The
// connection commits with synchronous=NORMAL: losing the last bucket levels
// with the machine's power only refills a bucket early.
#include <SQLiteCpp/SQLiteCpp.h>

#include <mutex>

#include "storyloom/error.h"
#include "store/shared_resources.h"

namespace storyloom::store {
namespace {

constexpr int kBusyTimeoutMs = 5000;

constexpr const char* kSelectRow =
    "SELECT name, requests, period_ms, burst, max_in_flight, tokens_per_minute, request_level, "
    "token_level, updated_at, paused_until FROM resources";
// Requests in flight of engines alive within the lease (or of the caller).
constexpr const char* kInFlight =
    "SELECT COALESCE(SUM(h.in_flight), 0) FROM resource_holders h LEFT JOIN engines e ON "
    "e.id = h.engine_id WHERE h.resource = ?1 AND (h.engine_id = ?2 OR e.heartbeat_at >= ?3)";

SharedResourceRow read_row(SQLite::Statement& q) {
  SharedResourceRow row;
  row.name = q.getColumn(0).getString();
  row.limits.requests = q.getColumn(1).getDouble();
  row.limits.period = std::chrono::milliseconds(q.getColumn(2).getInt64());
  row.limits.burst = q.getColumn(3).getDouble();
  row.limits.max_in_flight = static_cast<int>(q.getColumn(4).getInt64());
  row.limits.tokens_per_minute = q.getColumn(5).getDouble();
  row.request_level = q.getColumn(6).getDouble();
  row.token_level = q.getColumn(7).getDouble();
  row.updated_ms = q.getColumn(8).getInt64();
  row.paused_until_ms = q.getColumn(9).getInt64();
  return row;
}

bool same_limits(const ResourceLimits& a, const ResourceLimits& b) {
  return a.requests == b.requests && a.period == b.period && a.burst == b.burst &&
         a.max_in_flight == b.max_in_flight && a.tokens_per_minute == b.tokens_per_minute;
}

class SqliteSharedResources final : public SharedResources {
 public:
  SqliteSharedResources(std::string path, bool read_only)
      : path_(std::move(path)), read_only_(read_only) {}

  SharedAdmission admit(const std::string& engine_id, const std::string& name,
                        const ResourceLimits& limits, double cost, int64_t now_ms,
                        int64_t lease_ms) override {
    return guarded("admit a request of resource '" + name + "'", [&](SQLite::Database& db) {
      SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
      SharedResourceRow row = load(db, name, limits, now_ms);
      if (!same_limits(row.limits, limits)) shared::set_limits(row, limits, now_ms);
      shared::refill(row, now_ms);
      row.in_flight = in_flight(db, name, engine_id, now_ms - lease_ms);
      SharedAdmission out = shared::admit(row, cost, now_ms);
      if (out.admitted) {
        SQLite::Statement h(db,
                            "INSERT INTO resource_holders (resource, engine_id, in_flight) "
                            "VALUES (?1, ?2, 1) ON CONFLICT (resource, engine_id) DO UPDATE SET "
                            "in_flight = in_flight + 1");
        h.bind(1, name);
        h.bind(2, engine_id);
        h.exec();
      }
      save(db, row);
      // Rows of engines gone from the engines table (recovered as dead) count
      // nothing; forgetting them keeps the table small.
      SQLite::Statement gone(db,
                             "DELETE FROM resource_holders WHERE resource = ?1 AND engine_id <> ?2 "
                             "AND engine_id NOT IN (SELECT id FROM engines)");
      gone.bind(1, name);
      gone.bind(2, engine_id);
      gone.exec();
      tx.commit();
      return out;
    });
  }

  void apply(const std::string& engine_id, const std::vector<SharedResourceUpdate>& updates,
             int64_t now_ms) override {
    if (updates.empty()) return;
    guarded("update shared resources", [&](SQLite::Database& db) {
      SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
      for (const auto& u : updates) {
        SharedResourceRow row = load(db, u.name, u.limits.value_or(ResourceLimits{}), now_ms);
        shared::apply(row, u, now_ms);
        save(db, row);
        if (u.released > 0) {
          SQLite::Statement h(db,
                              "UPDATE resource_holders SET in_flight = MAX(0, in_flight - ?3) "
                              "WHERE resource = ?1 AND engine_id = ?2");
          h.bind(1, u.name);
          h.bind(2, engine_id);
          h.bind(3, u.released);
          h.exec();
        }
      }
      tx.commit();
      return 0;
    });
  }

  std::vector<SharedResourceRow> list(int64_t now_ms, int64_t lease_ms) override {
    return guarded("read shared resources", [&](SQLite::Database& db) {
      SQLite::Transaction tx(db, SQLite::TransactionBehavior::DEFERRED);
      std::vector<SharedResourceRow> rows;
      SQLite::Statement q(db, std::string(kSelectRow) + " ORDER BY name");
      while (q.executeStep()) rows.push_back(read_row(q));
      for (auto& row : rows) {
        shared::refill(row, now_ms);
        row.in_flight = in_flight(db, row.name, "", now_ms - lease_ms);
      }
      return rows;
    });
  }

  void publish_workflow_limits(const WorkflowLimitsRow& row, int64_t now_ms) override {
    guarded("record the limits of workflow '" + row.workflow + "'", [&](SQLite::Database& db) {
      SQLite::Statement q(db,
                          "INSERT OR REPLACE INTO workflow_limits (workflow, max_running, "
                          "concurrency_key, key_limit, throttle_key, throttle_limit, "
                          "throttle_period_ms, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
      q.bind(1, row.workflow);
      q.bind(2, row.max_running);
      q.bind(3, row.concurrency_key);
      q.bind(4, row.key_limit);
      q.bind(5, row.throttle_key);
      q.bind(6, row.throttle_limit);
      q.bind(7, row.throttle_period_ms);
      q.bind(8, now_ms);
      q.exec();
      return 0;
    });
  }

  std::vector<KeyLoadRow> busiest_keys(size_t top) override {
    return guarded("read concurrency keys", [&](SQLite::Database& db) {
      SQLite::Statement q(
          db,
          "SELECT r.workflow, r.concurrency_key, SUM(r.status = 'running'), "
          "SUM(r.status = 'queued'), COALESCE(MAX(w.key_limit), 0) FROM runs r "
          "LEFT JOIN workflow_limits w ON w.workflow = r.workflow "
          "WHERE r.status IN ('running', 'queued') AND r.concurrency_key IS NOT NULL "
          "GROUP BY r.workflow, r.concurrency_key ORDER BY 3 DESC, 4 DESC, 1, 2 LIMIT ?1");
      q.bind(1, static_cast<int64_t>(top));
      std::vector<KeyLoadRow> out;
      while (q.executeStep()) {
        out.push_back({q.getColumn(0).getString(), q.getColumn(1).getString(),
                       q.getColumn(2).getInt64(), q.getColumn(3).getInt64(),
                       q.getColumn(4).getInt64()});
      }
      return out;
    });
  }

  std::vector<ThrottleWindowRow> throttle_windows(int64_t now_ms, size_t top) override {
    return guarded("read throttle windows", [&](SQLite::Database& db) {
      SQLite::Statement q(
          db,
          "SELECT r.workflow, r.throttle_key, COUNT(*), MAX(w.throttle_limit), "
          "MAX(w.throttle_period_ms), MIN(r.started_at) FROM runs r "
          "JOIN workflow_limits w ON w.workflow = r.workflow "
          "WHERE w.throttle_limit > 0 AND r.throttle_key IS NOT NULL "
          "AND r.started_at > ?1 - w.throttle_period_ms "
          "GROUP BY r.workflow, r.throttle_key ORDER BY 3 DESC, 1, 2 LIMIT ?2");
      q.bind(1, now_ms);
      q.bind(2, static_cast<int64_t>(top));
      std::vector<ThrottleWindowRow> out;
      while (q.executeStep()) {
        out.push_back({q.getColumn(0).getString(), q.getColumn(1).getString(),
                       q.getColumn(2).getInt64(), q.getColumn(3).getInt64(),
                       q.getColumn(4).getInt64(), q.getColumn(5).getInt64()});
      }
      return out;
    });
  }

 private:
  template <typename Fn>
  auto guarded(const std::string& what, Fn fn) -> decltype(fn(std::declval<SQLite::Database&>())) {
    std::lock_guard lock(mutex_);
    try {
      if (!db_) open();
      return fn(*db_);
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {
      db_.reset();  // reopened on the next call
      throw Error(ErrorCode::store, "cannot " + what + " in store '" + path_ + "': " + e.what(),
                  ErrorClass::retryable);
    }
  }

  void open() {
    int flags = read_only_ ? SQLite::OPEN_READONLY : SQLite::OPEN_READWRITE;
    db_ = std::make_unique<SQLite::Database>(path_, flags | SQLite::OPEN_NOMUTEX);
    db_->setBusyTimeout(kBusyTimeoutMs);
    if (!read_only_) db_->exec("PRAGMA synchronous=NORMAL");
  }

  static SharedResourceRow load(SQLite::Database& db, const std::string& name,
                                const ResourceLimits& limits, int64_t now_ms) {
    SQLite::Statement q(db, std::string(kSelectRow) + " WHERE name = ?1");
    q.bind(1, name);
    if (q.executeStep()) return read_row(q);
    return shared::fresh_row(name, limits, now_ms);
  }

  static void save(SQLite::Database& db, const SharedResourceRow& row) {
    SQLite::Statement q(db,
                        "INSERT OR REPLACE INTO resources (name, requests, period_ms, burst, "
                        "max_in_flight, tokens_per_minute, request_level, token_level, updated_at, "
                        "paused_until) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
    q.bind(1, row.name);
    q.bind(2, row.limits.requests);
    q.bind(3, static_cast<int64_t>(row.limits.period.count()));
    q.bind(4, row.limits.burst);
    q.bind(5, row.limits.max_in_flight);
    q.bind(6, row.limits.tokens_per_minute);
    q.bind(7, row.request_level);
    q.bind(8, row.token_level);
    q.bind(9, row.updated_ms);
    q.bind(10, row.paused_until_ms);
    q.exec();
  }

  static int64_t in_flight(SQLite::Database& db, const std::string& name,
                           const std::string& engine_id, int64_t alive_since_ms) {
    SQLite::Statement q(db, kInFlight);
    q.bind(1, name);
    q.bind(2, engine_id);
    q.bind(3, alive_since_ms);
    q.executeStep();
    return q.getColumn(0).getInt64();
  }

  std::string path_;
  bool read_only_;
  std::mutex mutex_;
  std::unique_ptr<SQLite::Database> db_;
};

}  // namespace

std::shared_ptr<SharedResources> open_sqlite_shared_resources(const std::string& path,
                                                              bool read_only) {
  return std::make_shared<SqliteSharedResources>(path, read_only);
}

}  // namespace storyloom::store
