// The WAL of an SQLite store stays bounded under a sustained write load while
// readers come and go (sqlite_checkpointer.h): the log is cut back to its
// start instead of growing with everything written since the store opened.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "store/sqlite_checkpointer.h"
#include "store/store.h"
#include "support/test_support.h"

using namespace storyloom;
using storyloom::testing::TempDir;

TEST(SqliteWal, StaysBoundedUnderSustainedWritesWithReaders) {
  TempDir dir;
  std::string path = dir.file("wal.db");
  store::StoreOptions options;
  options.sync_every_commit = false;  // the policy is the same; the test runs faster
  auto store = store::open_store(path, options);
  std::atomic<bool> stop{false};
  // Short read transactions all along, as subscribers and pollers make.
  std::thread reader([&] {
    while (!stop.load()) {
      store->begin_read()->last_event_id();
    }
  });
  const std::string payload(6000, 'x');  // two pages of log per commit at least
  constexpr int kCommits = 12000;        // about 100 MiB of log in all
  uintmax_t largest = 0;
  for (int i = 0; i < kCommits; ++i) {
    auto tx = store->begin_write();
    tx->append_event("run-" + std::to_string(i % 50), "t", payload, i);
    tx->commit();
    std::error_code ec;
    auto size = std::filesystem::file_size(path + "-wal", ec);
    if (!ec && size > largest) largest = size;
  }
  stop = true;
  reader.join();
  // Past the restart threshold the writer finishes the copy and the next
  // commit starts the log again. A reader that holds an old snapshot, or the
  // background copy running at that moment, delays the restart by a few
  // commits: allow 16 MiB for that (the test writes over 90 MiB in all; a log
  // that never restarts ends near that size).
  const uintmax_t bound = uintmax_t{store::Checkpointer::kRestartPages} * 4096 + (16u << 20);
  EXPECT_LT(largest, bound) << "the WAL grew to " << largest << " bytes";
  EXPECT_GT(largest, uintmax_t{store::Checkpointer::kCopyEveryPages} * 4096)
      << "the load was too small to test anything";
  EXPECT_EQ(store->begin_read()->last_event_id(), kCommits);
}
