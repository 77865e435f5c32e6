// One SQLite connection with its cached statements, the pragmas every
// connection gets, and the schema check and migration run when a store opens.
// Internal to the SQLite store (core/store/sqlite_*.cc).
#pragma once

#include <SQLiteCpp/SQLiteCpp.h>

#include <exception>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "storyloom/error.h"
#include "store/store.h"

namespace storyloom::store::sqlite {

constexpr int kBusyTimeoutMs = 5000;

// Bytes the WAL file is cut back to after a checkpoint (journal_size_limit).
constexpr int64_t kWalSizeLimitBytes = 16 << 20;

// A retryable Error(store) for a failed SQLite call: "<what>: <SQLite's message>".
Error store_error(const std::string& what, const std::exception& e);

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

// Every connection: temporary data in memory (savepoint journals would
// otherwise spill to files) and a page cache of `cache_kib` KiB.
void configure(Connection& conn, int cache_kib);
// The writer's connection: WAL, the synchronous setting of `options`, and
// checkpoints left to the Checkpointer (sqlite_checkpointer.h).
void configure_writer(Connection& conn, bool memory, const StoreOptions& options);
// Checks that the file is ours (or empty) and brings its schema up to date.
void migrate(Connection& conn, const std::string& path);
// The first column of the first row of a one-value query (a PRAGMA).
int64_t pragma_int(Connection& conn, const char* pragma);

}  // namespace storyloom::store::sqlite
