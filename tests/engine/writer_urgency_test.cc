// Writer::Urgency (writer.h): an op submitted `soon` waits for the next op
// submitted `now` and shares its commit, or commits alone once its deadline
// passes; stop() applies it at once. Nothing submitted is ever dropped.
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
using namespace std::chrono_literals;

namespace {

// A writer on a fresh store whose clock counts batches: each batch reads it once.
struct CountingWriter {
  explicit CountingWriter(std::chrono::microseconds defer) { writer.set_defer_at_most(defer); }
  TempDir dir;
  std::unique_ptr<store::Store> store = store::open_store(dir.file("w.db"));
  std::atomic<int64_t> batches{0};
  Writer writer{*store, [this] { return ++batches; }, [](std::vector<store::EventRecord>&&) {}};
};

// Submits an op that records its batch; the future is ready once it committed.
std::future<int64_t> submit_recording(Writer& writer, Writer::Urgency urgency) {
  auto batch = std::make_shared<std::atomic<int64_t>>(-1);
  auto committed = std::make_shared<std::promise<int64_t>>();
  auto result = committed->get_future();
  writer.submit([batch](Batch& b) {
    *batch = b.now_ms;
    b.event("r", "op", Json(nullptr));
  }, [batch, committed](std::exception_ptr error) {
    if (error) {
      committed->set_exception(error);
    } else {
      committed->set_value(batch->load());
    }
  }, Writer::Isolation::none, false, urgency);
  return result;
}

}  // namespace

TEST(WriterUrgency, SoonOpsWaitForTheNextUrgentOpAndShareItsCommit) {
  CountingWriter w(std::chrono::hours(1));  // only the urgent op can take them up
  auto a = submit_recording(w.writer, Writer::Urgency::soon);
  auto b = submit_recording(w.writer, Writer::Urgency::soon);
  EXPECT_EQ(a.wait_for(50ms), std::future_status::timeout) << "a soon op committed on its own";
  EXPECT_EQ(w.batches.load(), 0);
  auto c = submit_recording(w.writer, Writer::Urgency::now);
  int64_t batch = c.get();
  EXPECT_EQ(a.get(), batch);
  EXPECT_EQ(b.get(), batch);
  EXPECT_EQ(w.store->begin_read()->events("r", 0, 10).size(), 3u);
}

TEST(WriterUrgency, ASoonOpAloneCommitsWhenItsDeadlinePasses) {
  CountingWriter w(30ms);
  auto start = std::chrono::steady_clock::now();
  auto a = submit_recording(w.writer, Writer::Urgency::soon);
  ASSERT_EQ(a.wait_for(10s), std::future_status::ready) << "a soon op was never committed";
  EXPECT_GE(std::chrono::steady_clock::now() - start, 30ms);
  EXPECT_EQ(a.get(), 1);
}

TEST(WriterUrgency, AnUrgentRunTakesUpWaitingSoonOps) {
  CountingWriter w(std::chrono::hours(1));
  auto a = submit_recording(w.writer, Writer::Urgency::soon);
  w.writer.run([](Batch& b) { b.event("r", "run", Json(nullptr)); });
  ASSERT_EQ(a.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(a.get(), 1);
}

TEST(WriterUrgency, StopAppliesWaitingSoonOps) {
  CountingWriter w(std::chrono::hours(1));
  auto a = submit_recording(w.writer, Writer::Urgency::soon);
  w.writer.stop();
  ASSERT_EQ(a.wait_for(10s), std::future_status::ready) << "stop() dropped a soon op";
  EXPECT_EQ(a.get(), 1);
  EXPECT_EQ(w.store->begin_read()->events("r", 0, 10).size(), 1u);
}
