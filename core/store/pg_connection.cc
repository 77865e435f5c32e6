#include "store/pg_connection.h"

#include <cstdlib>
#include <thread>

namespace storyloom::store::pg {
namespace {

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

Error store_error(const std::string& message) {
  return Error(ErrorCode::store, message, ErrorClass::retryable);
}

}  // namespace

bool is_postgres_spec(const std::string& spec) {
  return starts_with(spec, "postgresql://") || starts_with(spec, "postgres://") ||
         spec == "postgresql:" || spec == "postgres:";
}

std::string conninfo_of(const std::string& spec) {
  if (spec == "postgresql:" || spec == "postgres:") return "";
  return spec;
}

std::string redact(const std::string& spec) {
  std::string out = spec;
  size_t scheme = out.find("://");
  if (scheme != std::string::npos) {
    size_t start = scheme + 3;
    size_t end = out.find_first_of("/?#", start);
    if (end == std::string::npos) end = out.size();
    size_t at = out.rfind('@', end);
    if (at != std::string::npos && at >= start) {
      size_t colon = out.find(':', start);
      if (colon != std::string::npos && colon < at) out.replace(colon + 1, at - colon - 1, "***");
    }
  }
  // A password given as a query parameter.
  for (size_t pos = out.find("password="); pos != std::string::npos;
       pos = out.find("password=", pos + 1)) {
    if (pos > 0 && out[pos - 1] != '?' && out[pos - 1] != '&') continue;
    size_t value = pos + 9;
    size_t end = out.find('&', value);
    if (end == std::string::npos) end = out.size();
    out.replace(value, end - value, "***");
  }
  return out;
}

Result& Result::operator=(Result&& o) noexcept {
  if (this != &o) {
    if (r_) PQclear(r_);
    r_ = o.r_;
    o.r_ = nullptr;
  }
  return *this;
}

int64_t Result::int64(int row, int col) const {
  if (null(row, col)) return 0;
  return std::strtoll(PQgetvalue(r_, row, col), nullptr, 10);
}

int64_t Result::affected() const {
  const char* n = PQcmdTuples(r_);
  return n && *n ? std::strtoll(n, nullptr, 10) : 0;
}

Connection::Connection(std::string conninfo, std::string display)
    : conninfo_(std::move(conninfo)), display_(std::move(display)) {
  if (!conninfo_.empty()) {
    char* err = nullptr;
    PQconninfoOption* opts = PQconninfoParse(conninfo_.c_str(), &err);
    if (!opts) {
      std::string why = err ? trimmed(err) : "unknown reason";
      if (err) PQfreemem(err);
      throw Error(ErrorCode::store, "store '" + display_ + "' is not a valid PostgreSQL URL: " + why);
    }
    PQconninfoFree(opts);
  }
  connect();
}

Connection::~Connection() {
  if (conn_) PQfinish(conn_);
}

void Connection::connect() {
  if (conn_) PQfinish(conn_);
  answer_ahead_ = false;
  prepared_.clear();
  next_name_ = 0;
  deferred_.clear();
  conn_ = PQconnectdb(conninfo_.c_str());
  if (PQstatus(conn_) != CONNECTION_OK) {
    std::string why = conn_ ? trimmed(PQerrorMessage(conn_)) : "out of memory";
    throw store_error("cannot connect to store '" + display_ + "': " + why);
  }
  // Notices (a DROP ... IF EXISTS that found nothing) are not errors; keep
  // them off stderr.
  PQsetNoticeProcessor(conn_, [](void*, const char*) {}, nullptr);
  if (!setup_.empty()) {
    Result r(PQexec(conn_, setup_.c_str()));
    if (PQresultStatus(r.get()) != PGRES_COMMAND_OK) fail("the session setup failed", r.get());
  }
}

void Connection::set_session_setup(std::string sql) {
  setup_ = std::move(sql);
  Result r(PQexec(conn_, setup_.c_str()));
  if (PQresultStatus(r.get()) != PGRES_COMMAND_OK) fail("the session setup failed", r.get());
}

void Connection::begin_deferred(std::string sql, std::chrono::milliseconds window) {
  deferred_.clear();
  deferred_failed_ = false;
  deferred_.push_back(Statement{nullptr, std::move(sql), {}});
  replay_ = true;
  replay_window_ = window;
}

void Connection::send_ahead(const char* sql) {
  take_answer_ahead();
  // A failure to send leaves the connection broken: its next use reconnects.
  answer_ahead_ = PQsendQuery(conn_, sql) == 1;
}

void Connection::take_answer_ahead() {
  if (!answer_ahead_) return;
  answer_ahead_ = false;
  while (PGresult* r = PQgetResult(conn_)) PQclear(r);
}

void Connection::ensure(std::chrono::milliseconds window) {
  take_answer_ahead();
  if (ok()) return;
  auto deadline = std::chrono::steady_clock::now() + window;
  auto delay = std::chrono::milliseconds(50);
  for (;;) {
    try {
      connect();
      return;
    } catch (const Error&) {
      if (std::chrono::steady_clock::now() + delay > deadline) throw;
    }
    std::this_thread::sleep_for(delay);
    delay = std::min(delay * 2, std::chrono::milliseconds(1000));
  }
}

void Connection::fail(const std::string& what, const PGresult* r) const {
  std::string why = r ? PQresultErrorMessage(r) : "";
  if (why.empty() && conn_) why = PQerrorMessage(conn_);
  if (why.empty()) why = "unknown error";
  throw store_error(what + " on store '" + display_ + "': " + trimmed(why));
}

std::string Connection::with_deferred(const std::string& sql) {
  // Statements with parameters cannot ride in a simple-protocol string.
  for (const auto& d : deferred_) {
    if (d.sql || !d.params.empty()) {
      run_with_replay({}, true, nullptr);
      break;
    }
  }
  std::string all;
  for (const auto& d : deferred_) all += d.text + "; ";
  deferred_.clear();
  replay_ = false;
  return all + sql;
}

void Connection::exec_script(const std::string& sql) {
  take_answer_ahead();
  Result r(PQexec(conn_, with_deferred(sql).c_str()));
  auto status = PQresultStatus(r.get());
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) fail("a statement failed", r.get());
}

namespace {

bool succeeded(const PGresult* r) {
  auto status = PQresultStatus(r);
  return status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK;
}

void take_sqlstate(const PGresult* r, std::string* sqlstate) {
  if (!sqlstate) return;
  const char* s = PQresultErrorField(r, PG_DIAG_SQLSTATE);
  *sqlstate = s ? s : "";
}

}  // namespace

// The deferred statements, then `statements`, in one round trip: sent in
// pipeline mode, then read back in order. The first failure is the one that
// counts (the server skips the rest of the pipeline after it). A statement
// not yet prepared on this connection is prepared in the same pipeline.
std::vector<Result> Connection::run_pipelined(const std::vector<Statement>& statements, bool check,
                                              std::string* sqlstate) {
  take_answer_ahead();
  std::vector<Statement> deferred = std::move(deferred_);
  deferred_.clear();
  std::vector<const Statement*> all;
  for (const auto& d : deferred) all.push_back(&d);
  for (const auto& s : statements) all.push_back(&s);
  if (!PQenterPipelineMode(conn_)) fail("pipeline mode could not start");
  bool sent = true;
  std::vector<std::string> fresh(all.size());  // a name prepared in this pipeline, per statement
  std::unordered_map<const char*, std::string> preparing;
  for (size_t i = 0; i < all.size() && sent; ++i) {
    const Statement& s = *all[i];
    std::vector<const char*> values;
    values.reserve(s.params.size());
    for (const auto& v : s.params) values.push_back(v ? v->c_str() : nullptr);
    const int n = static_cast<int>(values.size());
    if (!s.sql) {
      sent = PQsendQueryParams(conn_, s.text.c_str(), n, nullptr, values.data(), nullptr, nullptr, 0);
      continue;
    }
    const std::string* name = nullptr;
    if (auto it = prepared_.find(s.sql); it != prepared_.end()) name = &it->second;
    if (auto it = preparing.find(s.sql); !name && it != preparing.end()) name = &it->second;
    if (!name) {
      fresh[i] = "s" + std::to_string(next_name_++);
      sent = PQsendPrepare(conn_, fresh[i].c_str(), s.sql, n, nullptr);
      name = &preparing.emplace(s.sql, fresh[i]).first->second;
    }
    sent = sent && PQsendQueryPrepared(conn_, name->c_str(), n, values.data(), nullptr, nullptr, 0);
  }
  sent = sent && PQpipelineSync(conn_);
  if (!sent) {
    std::string why = trimmed(PQerrorMessage(conn_));
    PQexitPipelineMode(conn_);
    deferred_ = std::move(deferred);  // kept for a replay
    throw store_error("a statement could not be sent to store '" + display_ + "': " + why);
  }
  // Each statement's result (then a null), and the sync's at the end.
  std::vector<Result> results;
  for (;;) {
    PGresult* r = PQgetResult(conn_);
    if (!r) {
      if (PQstatus(conn_) != CONNECTION_OK) break;
      continue;
    }
    if (PQresultStatus(r) == PGRES_PIPELINE_SYNC) {
      PQclear(r);
      break;
    }
    results.emplace_back(r);
  }
  PQexitPipelineMode(conn_);
  size_t expected = all.size();
  for (const auto& f : fresh) expected += f.empty() ? 0 : 1;
  if (results.size() < expected) {
    deferred_ = std::move(deferred);  // kept for a replay
    fail("the connection was lost");
  }
  std::vector<Result> out;
  size_t at = 0;
  for (size_t i = 0; i < all.size(); ++i) {
    bool is_deferred = i < deferred.size();
    if (!fresh[i].empty()) {
      Result& prep = results[at++];
      if (succeeded(prep.get())) {
        prepared_.emplace(all[i]->sql, fresh[i]);
      } else if (is_deferred) {
        deferred_failed_ = true;
        fail("a statement could not be prepared", prep.get());
      } else if (check) {
        fail("a statement could not be prepared", prep.get());
      } else {
        take_sqlstate(prep.get(), sqlstate);
        out.push_back(std::move(prep));
        ++at;  // its execution was skipped
        continue;
      }
    }
    Result& r = results[at++];
    if (!succeeded(r.get())) {
      if (is_deferred) {
        deferred_failed_ = true;
        fail("a statement failed", r.get());
      }
      if (check) fail("a query failed", r.get());
      if (sqlstate && sqlstate->empty()) take_sqlstate(r.get(), sqlstate);
    }
    if (!is_deferred) out.push_back(std::move(r));
  }
  return out;
}

// A transaction whose BEGIN has not reached the server yet is sent again,
// whole, after a reconnection (its first round trip found the connection lost).
std::vector<Result> Connection::run_with_replay(const std::vector<Statement>& statements, bool check,
                                                std::string* sqlstate) {
  for (;;) {
    std::vector<Statement> kept = deferred_;
    try {
      auto out = run_pipelined(statements, check, sqlstate);
      replay_ = false;
      return out;
    } catch (const Error&) {
      if (!replay_ || ok()) {
        replay_ = false;
        throw;
      }
      ensure(replay_window_);  // throws once the window is over
      deferred_ = std::move(kept);
      deferred_failed_ = false;  // what failed died with the old connection, before its BEGIN
    }
  }
}

Result Connection::run(const char* sql, const std::string* dynamic, const Params& params,
                       bool check, std::string* sqlstate) {
  take_answer_ahead();
  if (!deferred_.empty()) {
    Statement s{sql, dynamic ? *dynamic : std::string(), params};
    return std::move(run_with_replay({s}, check, sqlstate)[0]);
  }
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  const int n = static_cast<int>(values.size());
  PGresult* raw = nullptr;
  if (dynamic) {
    raw = PQexecParams(conn_, dynamic->c_str(), n, nullptr, values.data(), nullptr, nullptr, 0);
  } else {
    auto it = prepared_.find(sql);
    if (it == prepared_.end()) {
      std::string name = "s" + std::to_string(next_name_++);
      Result prep(PQprepare(conn_, name.c_str(), sql, n, nullptr));
      if (PQresultStatus(prep.get()) != PGRES_COMMAND_OK) {
        if (!check) {
          take_sqlstate(prep.get(), sqlstate);
          return prep;
        }
        fail("a statement could not be prepared", prep.get());
      }
      it = prepared_.emplace(sql, std::move(name)).first;
    }
    raw = PQexecPrepared(conn_, it->second.c_str(), n, values.data(), nullptr, nullptr, 0);
  }
  Result r(raw);
  if (!succeeded(raw)) {
    take_sqlstate(raw, sqlstate);
    if (check) fail("a query failed", raw);
  }
  return r;
}

std::vector<Result> Connection::query_each(const std::vector<Statement>& statements, bool check) {
  return run_with_replay(statements, check, nullptr);
}

Result Connection::query(const char* sql, const Params& params) {
  return run(sql, nullptr, params, true, nullptr);
}

Result Connection::query_once(const std::string& sql, const Params& params) {
  return run(nullptr, &sql, params, true, nullptr);
}

Result Connection::try_query(const char* sql, const Params& params, std::string* sqlstate) {
  sqlstate->clear();
  return run(sql, nullptr, params, false, sqlstate);
}

std::string text_array(const std::vector<std::string>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i) out += ',';
    out += '"';
    for (char c : values[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

}  // namespace storyloom::store::pg
