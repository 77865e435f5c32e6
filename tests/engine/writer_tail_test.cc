// The writer's tail (writer.h): an op submitted with then_tail shares its
// commit with the tail, which is how a run's end and the claim of the next
// run become one commit; a failing tail leaves nothing and harms nobody.
#include <gtest/gtest.h>

#include <atomic>
#include <future>

#include "engine/writer.h"
#include "store/store.h"
#include "support/test_support.h"

using namespace storyloom;
using storyloom::detail::Batch;
using storyloom::detail::Writer;
using storyloom::testing::TempDir;

namespace {

// A writer on a fresh store whose clock counts batches: each batch reads it once.
struct CountingWriter {
  TempDir dir;
  std::unique_ptr<store::Store> store = store::open_store(dir.file("w.db"));
  std::atomic<int64_t> batches{0};
  Writer writer{*store, [this] { return ++batches; }, [](std::vector<store::EventRecord>&&) {}};
};

}  // namespace

TEST(WriterTail, RunsInTheBatchOfTheOpThatAskedForIt) {
  CountingWriter w;
  std::atomic<int64_t> tail_batch{-1};
  w.writer.set_tail([&](Batch& b) {
    tail_batch = b.now_ms;
    b.event("r", "tail", Json(nullptr));
  });
  for (int i = 0; i < 50; ++i) {
    std::promise<int64_t> op_batch;
    std::promise<void> committed;
    w.writer.submit([&](Batch& b) {
      op_batch.set_value(b.now_ms);
      b.event("r", "op", Json(nullptr));
    }, [&](std::exception_ptr) { committed.set_value(); }, Writer::Isolation::savepoint, true);
    committed.get_future().get();
    ASSERT_EQ(tail_batch.load(), op_batch.get_future().get()) << "round " << i;
  }
  // Every op and its tail are stored: 100 events, in pairs.
  auto events = w.store->begin_read()->events("r", 0, 1000);
  ASSERT_EQ(events.size(), 100u);
  for (size_t i = 0; i < events.size(); i += 2) {
    EXPECT_EQ(events[i].type, "op");
    EXPECT_EQ(events[i + 1].type, "tail");
  }
}

TEST(WriterTail, WithoutAskingTheTailDoesNotRun) {
  CountingWriter w;
  std::atomic<int> tails{0};
  w.writer.set_tail([&](Batch&) { ++tails; });
  for (int i = 0; i < 10; ++i) w.writer.run([](Batch& b) { b.event("r", "op", Json(nullptr)); });
  EXPECT_EQ(tails.load(), 0);
}

TEST(WriterTail, AFailingTailRollsBackAloneAndTheBatchCommits) {
  CountingWriter w;
  w.writer.set_tail([](Batch& b) {
    b.event("r", "tail", Json(nullptr));
    throw Error(ErrorCode::store, "the claim failed");
  });
  std::promise<std::exception_ptr> done;
  w.writer.submit([](Batch& b) { b.event("r", "op", Json(nullptr)); },
                  [&](std::exception_ptr e) { done.set_value(e); }, Writer::Isolation::none, true);
  EXPECT_EQ(done.get_future().get(), nullptr);  // the op committed
  auto events = w.store->begin_read()->events("r", 0, 10);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, "op");
}

TEST(WriterTail, AfterStopNoTailRuns) {
  CountingWriter w;
  std::atomic<int> tails{0};
  w.writer.set_tail([&](Batch&) { ++tails; });
  w.writer.stop();
  EXPECT_THROW(w.writer.submit([](Batch&) {}, {}, Writer::Isolation::none, true), Error);
  EXPECT_EQ(tails.load(), 0);
}

// A publish that throws (the store unreadable after a commit) neither kills the
// writer thread nor takes the ops' outcomes: they committed, and say so.
TEST(Writer, APublishThatThrowsLeavesTheCommitAndTheWriterStanding) {
  TempDir dir;
  auto store = store::open_store(dir.file("w.db"));
  std::atomic<int> publishes{0};
  Writer writer{*store, [] { return int64_t{1}; }, [&](std::vector<store::EventRecord>&&) {
                  ++publishes;
                  throw Error(ErrorCode::store, "server closed the connection unexpectedly");
                }};
  for (int i = 0; i < 3; ++i) {
    EXPECT_NO_THROW(writer.run([](Batch& b) { b.event("r", "op", Json(nullptr)); }));
  }
  writer.stop();
  EXPECT_EQ(publishes.load(), 3);
  EXPECT_EQ(store->begin_read()->events("r", 0, 10).size(), 3u);
}
