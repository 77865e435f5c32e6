// SqliteTx's transaction: begin, commit, savepoints, and the end of its lock.
#include "store/sqlite_tx.h"

#include <sqlite3.h>

#include "store/row_codec.h"

namespace storyloom::store::sqlite {

// `leases` (write transactions of the writer connection only) may be null.
SqliteTx::SqliteTx(Connection& conn, std::unique_lock<std::mutex> lock, bool write,
                   std::function<void()> on_end, LeaseCache* leases)
    : conn_(conn), lock_(std::move(lock)), write_(write), on_end_(std::move(on_end)),
      leases_(leases) {
  try {
    // Cached statements: parsing these again for each transaction cost more
    // than a small run's inserts (sqlite3_exec).
    conn_.prepare(write ? "BEGIN IMMEDIATE" : "BEGIN").exec();
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

SqliteTx::~SqliteTx() {
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

void SqliteTx::commit() {
  flush_events();
  if (events_lost_) throw Error(ErrorCode::store, "commit refused: events of this transaction were not written");
  conn_.reset_used();
  try {
    conn_.prepare("COMMIT").exec();
    open_ = false;
  } catch (const std::exception& e) {
    if (leases_) leases_->clear();
    throw store_error("commit failed", e);
  }
}

void SqliteTx::savepoint() {
  flush_events();  // so a rollback to it drops exactly the events held after it
  conn_.prepare("SAVEPOINT op").exec();
}

void SqliteTx::release() { conn_.prepare("RELEASE op").exec(); }

void SqliteTx::rollback_to_savepoint() {
  if (leases_) leases_->clear();
  pending_events_.clear();  // all held since the savepoint
  conn_.prepare("ROLLBACK TO op").exec();
  conn_.prepare("RELEASE op").exec();
}

bool SqliteTx::transaction_usable() const {
  return open_ && !sqlite3_get_autocommit(conn_.db().getHandle());
}

// Held events count as written: they will be.
int64_t SqliteTx::rows_written() const {
  return sqlite3_total_changes(conn_.db().getHandle()) + static_cast<int64_t>(pending_events_.size());
}

// A run row that cannot be decoded is an Error(store) naming the run.
RunRecord SqliteTx::readable(RunRecord run) {
  if (!run.info.unreadable.empty()) throw unreadable_run_error(run);
  return run;
}

void SqliteTx::bind_json(SQLite::Statement& q, int index, const Json& v) {
  if (v.is_null()) {
    q.bind(index);
  } else {
    q.bind(index, boost::json::serialize(v));
  }
}

void SqliteTx::finish_lock() {
  if (lock_.owns_lock()) lock_.unlock();
  if (on_end_) on_end_();
  on_end_ = nullptr;
}

}  // namespace storyloom::store::sqlite
