// The WAL checkpoint policy of an SQLite store: the log is copied back into
// the database off the commit path, and cut back to its start often enough
// that it stays bounded under a sustained load.
#pragma once

#include <sqlite3.h>

#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

namespace storyloom::store {

class Checkpointer {
 public:
  // Every this many new log pages, the checkpointer thread copies what it can
  // (PASSIVE: it never waits for, nor blocks, the writer or readers).
  static constexpr int kCopyEveryPages = 1000;  // 4 MiB at 4 KiB pages
  // Past this many log pages the writer itself finishes the copy right after a
  // commit, while nothing can append: then its next transaction starts the log
  // again from the beginning (and journal_size_limit cuts the file). The
  // background copies leave it only the tail, so the stall is short.
  static constexpr int kRestartPages = 4096;  // 16 MiB at 4 KiB pages

  // Installs itself as `writer`'s WAL hook; `path` is the database file.
  Checkpointer(const std::string& path, sqlite3* writer);
  ~Checkpointer();  // removes the hook, stops the thread, truncates the log
  Checkpointer(const Checkpointer&) = delete;
  Checkpointer& operator=(const Checkpointer&) = delete;

 private:
  static int on_commit(void* self, sqlite3* db, const char* schema, int log_pages);
  void loop();

  sqlite3* writer_;
  sqlite3* conn_ = nullptr;  // the checkpointer thread's own connection
  std::mutex mutex_;
  std::condition_variable wake_;
  int pages_at_last_copy_ = 0;  // writer thread only
  bool due_ = false;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace storyloom::store
