#include "store/sqlite_checkpointer.h"

#include "storyloom/error.h"

namespace storyloom::store {

Checkpointer::Checkpointer(const std::string& path, sqlite3* writer) : writer_(writer) {
  int rc = sqlite3_open_v2(path.c_str(), &conn_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string why = conn_ ? sqlite3_errmsg(conn_) : sqlite3_errstr(rc);
    sqlite3_close(conn_);
    throw Error(ErrorCode::store, "cannot open the checkpoint connection of '" + path + "': " + why);
  }
  sqlite3_busy_timeout(conn_, 5000);
  sqlite3_wal_hook(writer_, &Checkpointer::on_commit, this);
  thread_ = std::thread([this] { loop(); });
}

Checkpointer::~Checkpointer() {
  sqlite3_wal_hook(writer_, nullptr, nullptr);
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
  sqlite3_close(conn_);
}

// Runs on the writer thread inside COMMIT, after the commit is durable.
int Checkpointer::on_commit(void* self, sqlite3* db, const char* schema, int log_pages) {
  auto* c = static_cast<Checkpointer*>(self);
  if (log_pages < c->pages_at_last_copy_) c->pages_at_last_copy_ = 0;  // the log started again
  if (log_pages >= kRestartPages) {
    // Nothing appends while we are here, so this copy can reach the end of
    // the log (unless a reader still needs an older frame: then next commit).
    // SQLITE_BUSY means the background copy is running; it is tried again.
    int copied = 0;
    int rc = sqlite3_wal_checkpoint_v2(db, schema, SQLITE_CHECKPOINT_PASSIVE, nullptr, &copied);
    if (rc == SQLITE_OK) c->pages_at_last_copy_ = log_pages;
    return SQLITE_OK;
  }
  if (log_pages - c->pages_at_last_copy_ >= kCopyEveryPages) {
    c->pages_at_last_copy_ = log_pages;
    {
      std::lock_guard lock(c->mutex_);
      c->due_ = true;
    }
    c->wake_.notify_one();
  }
  return SQLITE_OK;
}

void Checkpointer::loop() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || due_; });
    if (stopping_) break;
    due_ = false;
    lock.unlock();
    // Busy or failing: the next threshold asks again.
    sqlite3_wal_checkpoint_v2(conn_, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    lock.lock();
  }
  lock.unlock();
  sqlite3_wal_checkpoint_v2(conn_, nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
}

}  // namespace storyloom::store
