// One libpq connection to the PostgreSQL store: results that free themselves,
// statements prepared once per connection, reconnection with backoff, and
// errors that never carry the URL's password.
#pragma once

#include <libpq-fe.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "storyloom/error.h"

namespace storyloom::store::pg {

// How long a transaction's start waits for the database to come back (a
// restart) before it fails with Error(store).
constexpr std::chrono::milliseconds kReconnectWindow{30000};

// Whether `spec` names a PostgreSQL store: postgresql://..., postgres://...,
// or a bare "postgresql:" / "postgres:" (every setting from the PG* variables).
bool is_postgres_spec(const std::string& spec);

// The libpq connection string for `spec` ("" for the bare forms: libpq then
// reads PGHOST, PGPORT, PGDATABASE, PGUSER, PGPASSWORD...).
std::string conninfo_of(const std::string& spec);

// `spec` with any password replaced by "***", for messages.
std::string redact(const std::string& spec);

// A query result; frees itself. Values are in text format.
class Result {
 public:
  explicit Result(PGresult* r = nullptr) : r_(r) {}
  Result(Result&& o) noexcept : r_(o.r_) { o.r_ = nullptr; }
  Result& operator=(Result&& o) noexcept;
  ~Result() { if (r_) PQclear(r_); }
  Result(const Result&) = delete;
  Result& operator=(const Result&) = delete;

  int rows() const { return PQntuples(r_); }
  bool null(int row, int col) const { return PQgetisnull(r_, row, col) != 0; }
  std::string text(int row, int col) const {
    return std::string(PQgetvalue(r_, row, col), static_cast<size_t>(PQgetlength(r_, row, col)));
  }
  int64_t int64(int row, int col) const;
  int64_t affected() const;  // rows changed by INSERT/UPDATE/DELETE
  PGresult* get() const { return r_; }

 private:
  PGresult* r_;
};

// Parameters of one query, as text; nullopt is SQL NULL.
using Params = std::vector<std::optional<std::string>>;

// One statement of a pipeline: prepared once per connection when `sql` is set
// (keyed by the literal's address, which must outlive the connection), else
// `text` sent as is.
struct Statement {
  const char* sql = nullptr;
  std::string text;
  Params params;
};

class Connection {
 public:
  // Connects now; throws Error(store) naming the redacted spec and the reason.
  Connection(std::string conninfo, std::string display);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Reconnects when the server went away (a restart): retries with backoff
  // (50 ms doubling to 1 s) for up to `window`, then throws Error(store).
  void ensure(std::chrono::milliseconds window);
  bool ok() const { return conn_ && PQstatus(conn_) == CONNECTION_OK; }

  // Runs one or more statements without parameters (simple protocol), after
  // any deferred ones: in one round trip, unless some of those have
  // parameters (they go first, in a pipeline of their own).
  void exec_script(const std::string& sql);
  // A statement without parameters or result (SAVEPOINT, RELEASE) that need
  // not cost a round trip of its own: it is sent with the next statement
  // (pipeline mode), and its error, if any, is thrown by that one and
  // remembered (deferred_failed) until the next transaction starts.
  void defer(std::string sql) { deferred_.push_back(Statement{nullptr, std::move(sql), {}}); }
  // The same for a statement with parameters whose result is not needed (an
  // event's INSERT, a run's UPDATE); prepared once per connection, like query.
  void defer(const char* sql, Params params) {
    deferred_.push_back(Statement{sql, {}, std::move(params)});
  }
  // Whether a deferred statement failed since the transaction began: its
  // error was thrown by whichever statement carried it, so the caller that
  // caught it may not be the one whose write was lost. Such a transaction
  // must not commit.
  bool deferred_failed() const { return deferred_failed_; }
  // Starts a transaction the same way. Until its first round trip succeeds
  // nothing of it has reached the server, so if that round trip finds the
  // connection lost (the server restarted since the connection was last
  // used), it reconnects (ensure, up to `window`) and sends it again.
  void begin_deferred(std::string sql, std::chrono::milliseconds window);
  // Forgets deferred statements not yet sent (the transaction is rolled back).
  void discard_deferred() {
    deferred_.clear();
    replay_ = false;
  }
  size_t deferred_count() const { return deferred_.size(); }
  // Whether the server has a transaction open on this connection.
  bool in_transaction() {
    take_answer_ahead();
    return ok() && PQtransactionStatus(conn_) != PQTRANS_IDLE;
  }
  // Sends a statement whose answer nobody waits for (the COMMIT that ends a
  // read-only transaction) and returns at once: the server runs it now, and
  // the next use of the connection reads its answer first, so the reader
  // that sent it pays no round trip for it.
  void send_ahead(const char* sql);
  // Statements run after every (re)connection, such as SET of a session setting.
  void set_session_setup(std::string sql);
  // A statement with parameters, prepared once per connection (keyed by the
  // SQL literal's address, which must outlive the connection).
  Result query(const char* sql, const Params& params = {});
  // The deferred statements, then these, in one round trip (pipeline mode):
  // one result per statement of `statements`. With `check`, the first that
  // fails throws Error(store); without, failed results are returned (and
  // statements after a failure come back as PGRES_PIPELINE_ABORTED). A
  // deferred statement's failure always throws.
  std::vector<Result> query_each(const std::vector<Statement>& statements, bool check = true);
  // A statement built at run time: not cached.
  Result query_once(const std::string& sql, const Params& params = {});
  // Like query but returns the failed result instead of throwing, so the
  // caller can look at the SQLSTATE (a unique violation, say).
  Result try_query(const char* sql, const Params& params, std::string* sqlstate);

  PGconn* raw() {
    take_answer_ahead();
    return conn_;
  }
  const std::string& display() const { return display_; }
  [[noreturn]] void fail(const std::string& what, const PGresult* r = nullptr) const;

 private:
  void connect();
  // Reads and drops the answer of a statement sent ahead (send_ahead).
  void take_answer_ahead();
  Result run(const char* sql, const std::string* dynamic, const Params& params, bool check,
             std::string* sqlstate);
  std::vector<Result> run_pipelined(const std::vector<Statement>& statements, bool check,
                                    std::string* sqlstate);
  std::vector<Result> run_with_replay(const std::vector<Statement>& statements, bool check,
                                      std::string* sqlstate);
  std::string with_deferred(const std::string& sql);

  std::string conninfo_;
  std::string display_;
  PGconn* conn_ = nullptr;
  std::unordered_map<const char*, std::string> prepared_;
  std::vector<Statement> deferred_;
  bool deferred_failed_ = false;
  bool answer_ahead_ = false;  // send_ahead's answer is still to be read
  size_t next_name_ = 0;  // prepared statements are named s0, s1, ...
  bool replay_ = false;  // the deferred statements start a transaction not yet sent
  std::chrono::milliseconds replay_window_{0};
  std::string setup_;
};

// A PostgreSQL array literal of text values ({"a","b"}), for ANY($n::text[]).
std::string text_array(const std::vector<std::string>& values);

}  // namespace storyloom::store::pg
