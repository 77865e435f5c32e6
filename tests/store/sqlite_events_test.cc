// The SQLite store holds a transaction's events and inserts them by
// multi-row statements (store/sqlite_events.cc). What a reader of the store
// sees must not change: ids above every id ever handed out, readable inside
// the transaction that appended them, dropped with a rolled-back savepoint,
// and a transaction whose events could not be written never commits.
#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include "store/store.h"
#include "support/test_support.h"

using namespace storyloom;
using storyloom::testing::TempDir;
using storyloom::testing::error_of;

namespace {

store::StepRecord step(const std::string& run_id, int64_t seq) {
  store::StepRecord s;
  s.run_id = run_id;
  s.seq = seq;
  s.name = "s" + std::to_string(seq);
  s.kind = "step";
  s.status = "completed";
  s.result = "1";
  return s;
}

// A store at `path` whose events table refuses rows of type 'poison': stands
// for any failure of the held events' insert (a full disk, say).
std::unique_ptr<store::Store> store_refusing_poison_events(const std::string& path) {
  store::open_store(path);  // creates the schema
  {
    SQLite::Database db(path, SQLite::OPEN_READWRITE);
    db.exec("CREATE TRIGGER refuse_poison BEFORE INSERT ON events WHEN NEW.type = 'poison' "
            "BEGIN SELECT RAISE(ABORT, 'poison refused'); END");
  }
  return store::open_store(path);
}

}  // namespace

TEST(SqliteEvents, ManyEventsInOneTransactionKeepTheirIdsAndOrder) {
  TempDir dir;
  auto store = store::open_store(dir.file("e.db"));
  auto tx = store->begin_write();
  std::vector<int64_t> ids;
  // 300 crosses the flush threshold and leaves a remainder of every size.
  for (int i = 0; i < 300; ++i) {
    ids.push_back(tx->append_event("r", "t", "{\"i\":" + std::to_string(i) + "}", i).id);
  }
  for (size_t i = 1; i < ids.size(); ++i) ASSERT_EQ(ids[i], ids[i - 1] + 1);
  // Readable in the transaction that appended them, before its commit.
  auto inside = tx->events("r", 0, 1000);
  ASSERT_EQ(inside.size(), 300u);
  EXPECT_EQ(tx->last_event_id("r"), ids.back());
  tx->commit();
  auto events = store->begin_read()->events("r", 0, 1000);
  ASSERT_EQ(events.size(), 300u);
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].id, ids[i]);
    EXPECT_EQ(events[i].data, "{\"i\":" + std::to_string(i) + "}");
    EXPECT_EQ(events[i].created_at_ms, static_cast<int64_t>(i));
  }
}

TEST(SqliteEvents, IdsStayAboveTheEventsOfADeletedRun) {
  TempDir dir;
  auto store = store::open_store(dir.file("e.db"));
  int64_t last = 0;
  {
    auto tx = store->begin_write();
    tx->append_event("keep", "t", "{}", 1);
    for (int i = 0; i < 5; ++i) last = tx->append_event("gone", "t", "{}", 1).id;
    tx->commit();
  }
  {
    // The deleted run held the largest ids; in the same transaction and after
    // it, new ids must still be larger, or a reader that saw them would skip
    // the new events.
    auto tx = store->begin_write();
    tx->delete_run("gone");
    int64_t same_tx = tx->append_event("keep", "t", "{}", 2).id;
    EXPECT_GT(same_tx, last);
    tx->commit();
    last = same_tx;
  }
  auto tx = store->begin_write();
  EXPECT_GT(tx->append_event("keep", "t", "{}", 3).id, last);
  tx->commit();
}

TEST(SqliteEvents, TwoStoresOnOneFileNeverHandOutTheSameId) {
  TempDir dir;
  auto a = store::open_store(dir.file("e.db"));
  auto b = store::open_store(dir.file("e.db"));
  int64_t last = 0;
  for (int round = 0; round < 4; ++round) {
    auto& store = round % 2 == 0 ? a : b;
    auto tx = store->begin_write();
    for (int i = 0; i < 3; ++i) {
      int64_t id = tx->append_event("r", "t", "{}", round).id;
      EXPECT_GT(id, last) << "round " << round;
      last = id;
    }
    tx->commit();
  }
  EXPECT_EQ(a->begin_read()->events("r", 0, 100).size(), 12u);
}

TEST(SqliteEvents, ARolledBackSavepointDropsOnlyTheEventsAppendedSinceIt) {
  TempDir dir;
  auto store = store::open_store(dir.file("e.db"));
  auto tx = store->begin_write();
  tx->append_event("r", "before", "{}", 1);
  tx->savepoint();
  tx->append_event("r", "dropped", "{}", 1);
  tx->rollback_to_savepoint();
  tx->savepoint();
  tx->append_event("r", "kept", "{}", 1);
  tx->release();
  tx->commit();
  auto events = store->begin_read()->events("r", 0, 100);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].type, "before");
  EXPECT_EQ(events[1].type, "kept");
}

TEST(SqliteEvents, ATransactionWhoseEventsCannotBeWrittenNeverCommits) {
  TempDir dir;
  std::string path = dir.file("e.db");
  auto store = store_refusing_poison_events(path);
  {
    auto tx = store->begin_write();
    tx->upsert_step(step("r", 0));
    tx->append_event("r", "fine", "{}", 1);
    tx->append_event("r", "poison", "{}", 1);
    Error e = error_of([&] { tx->commit(); });
    EXPECT_EQ(e.code(), ErrorCode::store) << e.what();
  }
  auto read = store->begin_read();
  EXPECT_TRUE(read->steps("r").empty());
  EXPECT_TRUE(read->events("r", 0, 100).empty());
}

TEST(SqliteEvents, AFailedFlushBeforeAReadAlsoKeepsTheTransactionFromCommitting) {
  TempDir dir;
  std::string path = dir.file("e.db");
  auto store = store_refusing_poison_events(path);
  {
    auto tx = store->begin_write();
    tx->upsert_step(step("r", 0));
    tx->append_event("r", "poison", "{}", 1);
    EXPECT_EQ(error_of([&] { tx->events("r", 0, 10); }).code(), ErrorCode::store);
    // The caller goes on as if the read had merely failed: the commit refuses.
    tx->upsert_step(step("r", 1));
    EXPECT_EQ(error_of([&] { tx->commit(); }).code(), ErrorCode::store);
  }
  EXPECT_TRUE(store->begin_read()->steps("r").empty());
}
