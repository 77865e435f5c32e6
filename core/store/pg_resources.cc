// Shared resources on PostgreSQL (store/shared_resources.h): many processes on
// many machines. An admission is one transaction on a connection of its own
// that locks the resource's row (SELECT ... FOR UPDATE), so admissions of one
// resource are serialised across machines while other resources go on.
#include <cstdio>
#include <mutex>

#include "store/pg_connection.h"
#include "store/shared_resources.h"

namespace storyloom::store {
namespace {

using pg::Connection;
using pg::Params;
using pg::Result;

// How long a call waits for the database to come back before Error(store).
constexpr std::chrono::milliseconds kReconnectWindow{2000};

constexpr const char* kColumns =
    "name, requests, period_ms, burst, max_in_flight, tokens_per_minute, request_level, "
    "token_level, updated_at, paused_until";

std::string number(double v) {
  char text[40];
  std::snprintf(text, sizeof text, "%.17g", v);
  return text;
}

SharedResourceRow read_row(const Result& r, int i) {
  SharedResourceRow row;
  row.name = r.text(i, 0);
  row.limits.requests = std::stod(r.text(i, 1));
  row.limits.period = std::chrono::milliseconds(r.int64(i, 2));
  row.limits.burst = std::stod(r.text(i, 3));
  row.limits.max_in_flight = static_cast<int>(r.int64(i, 4));
  row.limits.tokens_per_minute = std::stod(r.text(i, 5));
  row.request_level = std::stod(r.text(i, 6));
  row.token_level = std::stod(r.text(i, 7));
  row.updated_ms = r.int64(i, 8);
  row.paused_until_ms = r.int64(i, 9);
  return row;
}

Params row_params(const SharedResourceRow& row) {
  return {row.name,
          number(row.limits.requests),
          std::to_string(row.limits.period.count()),
          number(row.limits.burst),
          std::to_string(row.limits.max_in_flight),
          number(row.limits.tokens_per_minute),
          number(row.request_level),
          number(row.token_level),
          std::to_string(row.updated_ms),
          std::to_string(row.paused_until_ms)};
}

bool same_limits(const ResourceLimits& a, const ResourceLimits& b) {
  return a.requests == b.requests && a.period == b.period && a.burst == b.burst &&
         a.max_in_flight == b.max_in_flight && a.tokens_per_minute == b.tokens_per_minute;
}

class PgSharedResources final : public SharedResources {
 public:
  PgSharedResources(std::string conninfo, std::string display)
      : conninfo_(std::move(conninfo)), display_(std::move(display)) {}

  SharedAdmission admit(const std::string& engine_id, const std::string& name,
                        const ResourceLimits& limits, double cost, int64_t now_ms,
                        int64_t lease_ms) override {
    return in_transaction([&](Connection& c) {
      SharedResourceRow row = lock_row(c, name, limits, now_ms);
      if (!same_limits(row.limits, limits)) shared::set_limits(row, limits, now_ms);
      shared::refill(row, now_ms);
      row.in_flight = in_flight(c, name, engine_id, now_ms - lease_ms);
      SharedAdmission out = shared::admit(row, cost, now_ms);
      if (out.admitted) {
        c.query(
            "INSERT INTO resource_holders (resource, engine_id, in_flight) VALUES ($1, $2, 1) "
            "ON CONFLICT (resource, engine_id) DO UPDATE SET "
            "in_flight = resource_holders.in_flight + 1",
            {name, engine_id});
      }
      save(c, row);
      c.query(
          "DELETE FROM resource_holders WHERE resource = $1 AND engine_id <> $2 "
          "AND engine_id NOT IN (SELECT id FROM engines)",
          {name, engine_id});
      return out;
    });
  }

  void apply(const std::string& engine_id, const std::vector<SharedResourceUpdate>& updates,
             int64_t now_ms) override {
    if (updates.empty()) return;
    in_transaction([&](Connection& c) {
      for (const auto& u : updates) {
        SharedResourceRow row = lock_row(c, u.name, u.limits.value_or(ResourceLimits{}), now_ms);
        shared::apply(row, u, now_ms);
        save(c, row);
        if (u.released > 0) {
          c.query(
              "UPDATE resource_holders SET in_flight = GREATEST(0, in_flight - $3) "
              "WHERE resource = $1 AND engine_id = $2",
              {u.name, engine_id, std::to_string(u.released)});
        }
      }
      return 0;
    });
  }

  std::vector<SharedResourceRow> list(int64_t now_ms, int64_t lease_ms) override {
    return in_transaction([&](Connection& c) {
      std::vector<SharedResourceRow> rows;
      Result r = c.query_once(std::string("SELECT ") + kColumns + " FROM resources ORDER BY name");
      for (int i = 0; i < r.rows(); ++i) rows.push_back(read_row(r, i));
      for (auto& row : rows) {
        shared::refill(row, now_ms);
        row.in_flight = in_flight(c, row.name, "", now_ms - lease_ms);
      }
      return rows;
    });
  }

  void publish_workflow_limits(const WorkflowLimitsRow& row, int64_t now_ms) override {
    in_transaction([&](Connection& c) {
      c.query(
          "INSERT INTO workflow_limits (workflow, max_running, concurrency_key, key_limit, "
          "throttle_key, throttle_limit, throttle_period_ms, updated_at) "
          "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (workflow) DO UPDATE SET "
          "max_running = excluded.max_running, concurrency_key = excluded.concurrency_key, "
          "key_limit = excluded.key_limit, throttle_key = excluded.throttle_key, "
          "throttle_limit = excluded.throttle_limit, "
          "throttle_period_ms = excluded.throttle_period_ms, updated_at = excluded.updated_at",
          {row.workflow, std::to_string(row.max_running), row.concurrency_key,
           std::to_string(row.key_limit), row.throttle_key, std::to_string(row.throttle_limit),
           std::to_string(row.throttle_period_ms), std::to_string(now_ms)});
      return 0;
    });
  }

  std::vector<KeyLoadRow> busiest_keys(size_t top) override {
    return in_transaction([&](Connection& c) {
      Result r = c.query(
          "SELECT r.workflow, r.concurrency_key, "
          "SUM(CASE WHEN r.status = 'running' THEN 1 ELSE 0 END), "
          "SUM(CASE WHEN r.status = 'queued' THEN 1 ELSE 0 END), COALESCE(MAX(w.key_limit), 0) "
          "FROM runs r LEFT JOIN workflow_limits w ON w.workflow = r.workflow "
          "WHERE r.status IN ('running', 'queued') AND r.concurrency_key IS NOT NULL "
          "GROUP BY r.workflow, r.concurrency_key ORDER BY 3 DESC, 4 DESC, 1, 2 LIMIT $1",
          {std::to_string(top)});
      std::vector<KeyLoadRow> out;
      for (int i = 0; i < r.rows(); ++i) {
        out.push_back({r.text(i, 0), r.text(i, 1), r.int64(i, 2), r.int64(i, 3), r.int64(i, 4)});
      }
      return out;
    });
  }

  std::vector<ThrottleWindowRow> throttle_windows(int64_t now_ms, size_t top) override {
    return in_transaction([&](Connection& c) {
      Result r = c.query(
          "SELECT r.workflow, r.throttle_key, COUNT(*), MAX(w.throttle_limit), "
          "MAX(w.throttle_period_ms), MIN(r.started_at) FROM runs r "
          "JOIN workflow_limits w ON w.workflow = r.workflow "
          "WHERE w.throttle_limit > 0 AND r.throttle_key IS NOT NULL "
          "AND r.started_at > $1::bigint - w.throttle_period_ms "
          "GROUP BY r.workflow, r.throttle_key ORDER BY 3 DESC, 1, 2 LIMIT $2",
          {std::to_string(now_ms), std::to_string(top)});
      std::vector<ThrottleWindowRow> out;
      for (int i = 0; i < r.rows(); ++i) {
        out.push_back({r.text(i, 0), r.text(i, 1), r.int64(i, 2), r.int64(i, 3), r.int64(i, 4),
                       r.int64(i, 5)});
      }
      return out;
    });
  }

 private:
  // Runs `fn` in one transaction (rolled back when it throws); reconnects
  // first when the server went away.
  template <typename Fn>
  auto in_transaction(Fn fn) -> decltype(fn(std::declval<Connection&>())) {
    std::lock_guard lock(mutex_);
    if (!conn_) {
      conn_ = std::make_unique<Connection>(conninfo_, display_);
      conn_->exec_script("SET synchronous_commit = off");  // a lost level only refills early
    }
    if (!conn_->ok()) {
      conn_->ensure(kReconnectWindow);
      conn_->exec_script("SET synchronous_commit = off");
    }
    conn_->exec_script("BEGIN");
    try {
      auto out = fn(*conn_);
      conn_->exec_script("COMMIT");
      return out;
    } catch (...) {
      if (conn_->ok()) PQclear(PQexec(conn_->raw(), "ROLLBACK"));
      throw;
    }
  }

  // The row, locked until the transaction ends; created (full) when new.
  static SharedResourceRow lock_row(Connection& c, const std::string& name,
                                    const ResourceLimits& limits, int64_t now_ms) {
    static const std::string select =
        std::string("SELECT ") + kColumns + " FROM resources WHERE name = $1 FOR UPDATE";
    Result r = c.query(select.c_str(), {name});
    if (r.rows() == 1) return read_row(r, 0);
    SharedResourceRow row = shared::fresh_row(name, limits, now_ms);
    Params p = row_params(row);
    c.query(
        "INSERT INTO resources (name, requests, period_ms, burst, max_in_flight, "
        "tokens_per_minute, request_level, token_level, updated_at, paused_until) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (name) DO NOTHING",
        p);
    r = c.query(select.c_str(), {name});  // another process may have inserted it first
    return read_row(r, 0);
  }

  static void save(Connection& c, const SharedResourceRow& row) {
    c.query(
        "UPDATE resources SET requests = $2, period_ms = $3, burst = $4, max_in_flight = $5, "
        "tokens_per_minute = $6, request_level = $7, token_level = $8, updated_at = $9, "
        "paused_until = $10 WHERE name = $1",
        row_params(row));
  }

  static int64_t in_flight(Connection& c, const std::string& name, const std::string& engine_id,
                           int64_t alive_since_ms) {
    Result r = c.query(
        "SELECT COALESCE(SUM(h.in_flight), 0) FROM resource_holders h LEFT JOIN engines e ON "
        "e.id = h.engine_id WHERE h.resource = $1 AND (h.engine_id = $2 OR e.heartbeat_at >= $3)",
        {name, engine_id, std::to_string(alive_since_ms)});
    return r.int64(0, 0);
  }

  std::string conninfo_;
  std::string display_;
  std::mutex mutex_;
  std::unique_ptr<Connection> conn_;
};

}  // namespace

std::shared_ptr<SharedResources> open_pg_shared_resources(const std::string& conninfo,
                                                          const std::string& display) {
  return std::make_shared<PgSharedResources>(conninfo, display);
}

}  // namespace storyloom::store
