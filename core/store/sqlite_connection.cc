#include "store/sqlite_connection.h"

#include <sqlite3.h>

#include "store/schema.h"

namespace storyloom::store::sqlite {

Error store_error(const std::string& what, const std::exception& e) {
  return Error(ErrorCode::store, what + ": " + e.what(), ErrorClass::retryable);
}

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

}  // namespace storyloom::store::sqlite
