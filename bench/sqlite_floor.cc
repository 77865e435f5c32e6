// The bare SQLite floor a durable queue cannot beat on this machine: jobs
// inserted, claimed and completed through plain SQL with no engine around it,
// in transactions of `group` jobs (a group commit), in WAL mode with the same
// synchronous setting the engine uses at that durability. Each job costs three
// row writes (insert, claim, complete) and a third of a commit per group.
#include <sqlite3.h>

#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench.h"
#include "stats.h"
#include "storage_io.h"

namespace storyloom::bench {
namespace {

class Db {
 public:
  explicit Db(const std::string& path) {
    if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK) fail("open");
  }
  ~Db() { sqlite3_close_v2(db_); }
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;
  void exec(const char* sql) {
    if (sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) != SQLITE_OK) fail(sql);
  }
  sqlite3_stmt* prepare(const char* sql) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr) != SQLITE_OK)
      fail(sql);
    return s;
  }
  [[noreturn]] void fail(const std::string& what) {
    throw std::runtime_error("sqlite floor: " + what + ": " + sqlite3_errmsg(db_));
  }

 private:
  sqlite3* db_ = nullptr;
};

void step_done(Db& db, sqlite3_stmt* s) {
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
  }
  if (rc != SQLITE_DONE) db.fail("step");
  sqlite3_reset(s);
}

}  // namespace

boost::json::object measure_sqlite_floor(size_t jobs, size_t group, Durability durability,
                                         const std::string& tmp_dir) {
  TempStore store(tmp_dir);
  const std::string path = store.spec().substr(std::string("sqlite:").size());
  boost::json::object section;
  {
    Db db(path);
    db.exec("PRAGMA journal_mode=WAL");
    db.exec(durability == Durability::full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
    db.exec(
        "CREATE TABLE jobs(id INTEGER PRIMARY KEY, status INTEGER NOT NULL, payload TEXT NOT NULL,"
        " result TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL)");
    db.exec("CREATE INDEX jobs_queued ON jobs(id) WHERE status = 0");
    sqlite3_stmt* insert =
        db.prepare("INSERT INTO jobs(status, payload, created_at, updated_at) VALUES(0, ?, ?, ?)");
    sqlite3_stmt* claim = db.prepare(
        "UPDATE jobs SET status = 1, updated_at = ?1 WHERE id IN (SELECT id FROM jobs WHERE "
        "status = 0 ORDER BY id LIMIT ?2) RETURNING id");
    sqlite3_stmt* complete =
        db.prepare("UPDATE jobs SET status = 2, result = ?1, updated_at = ?2 WHERE id = ?3");
    const std::string payload = R"({"client":0})";
    const std::string result = R"({"ok":true})";

    FileSizeWatcher wal(path + "-wal");
    Conditions conditions;
    int64_t bytes_before = process_bytes_written();
    int64_t t0 = steady_ns();
    size_t done = 0;
    while (done < jobs) {
      size_t n = std::min(group, jobs - done);
      int64_t now = steady_ns() / 1'000'000;
      db.exec("BEGIN IMMEDIATE");
      for (size_t i = 0; i < n; ++i) {
        sqlite3_bind_text(insert, 1, payload.data(), static_cast<int>(payload.size()),
                          SQLITE_STATIC);
        sqlite3_bind_int64(insert, 2, now);
        sqlite3_bind_int64(insert, 3, now);
        step_done(db, insert);
      }
      db.exec("COMMIT");
      std::vector<int64_t> claimed;
      db.exec("BEGIN IMMEDIATE");
      sqlite3_bind_int64(claim, 1, now);
      sqlite3_bind_int64(claim, 2, static_cast<int64_t>(n));
      while (sqlite3_step(claim) == SQLITE_ROW) claimed.push_back(sqlite3_column_int64(claim, 0));
      sqlite3_reset(claim);
      db.exec("COMMIT");
      db.exec("BEGIN IMMEDIATE");
      for (int64_t id : claimed) {
        sqlite3_bind_text(complete, 1, result.data(), static_cast<int>(result.size()),
                          SQLITE_STATIC);
        sqlite3_bind_int64(complete, 2, now);
        sqlite3_bind_int64(complete, 3, id);
        step_done(db, complete);
      }
      db.exec("COMMIT");
      if (claimed.size() != n) throw std::runtime_error("sqlite floor: claimed fewer than queued");
      done += n;
    }
    double seconds = static_cast<double>(steady_ns() - t0) / 1e9;
    int64_t bytes = process_bytes_written() - bytes_before;
    wal.stop();
    sqlite3_finalize(insert);
    sqlite3_finalize(claim);
    sqlite3_finalize(complete);
    section["what"] =
        "bare SQLite, no engine: each job inserted, claimed (UPDATE .. RETURNING over a partial "
        "index) and completed, in transactions of `group` jobs; WAL, the synchronous setting of "
        "the durability named";
    section["params"] = {{"jobs", jobs}, {"group", group}, {"durability", to_string(durability)}};
    section["jobs_per_s"] = round3(static_cast<double>(jobs) / seconds);
    section["seconds"] = round3(seconds);
    section["bytes_written_per_job"] = round3(static_cast<double>(bytes) / static_cast<double>(jobs));
    section["wal_max_bytes"] = wal.max_bytes();
    section["conditions"] = conditions.finish();
  }
  return section;
}

}  // namespace storyloom::bench
