// Contained operations (Writer::Isolation::contained): on SQLite they run
// without a savepoint. One that fails having written nothing fails alone;
// one that fails after writing anything (an event held for a later insert
// included) takes its whole batch down, since nothing can undo just it.
#include <gtest/gtest.h>

#include "engine/writer.h"
#include "store/store.h"
#include "support/test_support.h"

using namespace storyloom;
using storyloom::detail::Batch;
using storyloom::detail::Writer;
using storyloom::testing::TempDir;

namespace {

struct ContainedWriter {
  TempDir dir;
  std::unique_ptr<store::Store> store = store::open_store(dir.file("w.db"));
  std::vector<std::string> published;
  Writer writer{*store, [] { return int64_t{1}; }, [this](std::vector<store::EventRecord>&& events) {
                  for (auto& e : events) published.push_back(e.run_id);
                }};
};

store::StepRecord step(const std::string& run_id) {
  store::StepRecord s;
  s.run_id = run_id;
  s.name = "s";
  s.kind = "step";
  s.status = "completed";
  s.result = "1";
  return s;
}

Writer::Op writes(const std::string& run_id) {
  return [run_id](Batch& b) {
    b.tx.upsert_step(step(run_id));
    b.event(run_id, "wrote", Json(nullptr));
  };
}

ErrorCode code_of(const std::exception_ptr& error) {
  if (!error) return ErrorCode::ok;
  try {
    std::rethrow_exception(error);
  } catch (const Error& e) {
    return e.code();
  } catch (...) {
    return ErrorCode::internal;
  }
}

}  // namespace

TEST(WriterContained, AnOpThatFailsBeforeWritingFailsAlone) {
  ContainedWriter w;
  std::vector<Writer::Op> ops = {writes("a"),
                                 [](Batch& b) {
                                   b.tx.find_run("nobody");  // reads are fine
                                   throw Error(ErrorCode::invalid_argument, "refused up front");
                                 },
                                 writes("c")};
  auto errors = w.writer.run_many(std::move(ops), Writer::Isolation::contained);
  EXPECT_EQ(code_of(errors[0]), ErrorCode::ok);
  EXPECT_EQ(code_of(errors[1]), ErrorCode::invalid_argument);
  EXPECT_EQ(code_of(errors[2]), ErrorCode::ok);
  auto tx = w.store->begin_read();
  EXPECT_EQ(tx->steps("a").size(), 1u);
  EXPECT_EQ(tx->steps("c").size(), 1u);
  w.writer.stop();
  EXPECT_EQ(w.published, (std::vector<std::string>{"a", "c"}));
}

TEST(WriterContained, AnOpThatFailsAfterWritingFailsItsWholeBatch) {
  ContainedWriter w;
  std::vector<Writer::Op> ops = {writes("a"),
                                 [](Batch& b) {
                                   b.tx.upsert_step(step("b"));
                                   throw Error(ErrorCode::invalid_argument, "too late to refuse");
                                 },
                                 writes("c")};
  auto errors = w.writer.run_many(std::move(ops), Writer::Isolation::contained);
  for (auto& e : errors) EXPECT_EQ(code_of(e), ErrorCode::invalid_argument);
  auto tx = w.store->begin_read();
  EXPECT_TRUE(tx->steps("a").empty());
  EXPECT_TRUE(tx->steps("b").empty());
  EXPECT_TRUE(tx->steps("c").empty());
  w.writer.stop();
  EXPECT_TRUE(w.published.empty());
}

TEST(WriterContained, AnEventNotYetInsertedCountsAsWritten) {
  ContainedWriter w;
  std::vector<Writer::Op> ops = {writes("a"), [](Batch& b) {
                                   b.event("b", "held", Json(nullptr));
                                   throw Error(ErrorCode::invalid_state, "after an event");
                                 }};
  auto errors = w.writer.run_many(std::move(ops), Writer::Isolation::contained);
  EXPECT_EQ(code_of(errors[0]), ErrorCode::invalid_state);
  EXPECT_EQ(code_of(errors[1]), ErrorCode::invalid_state);
  EXPECT_TRUE(w.store->begin_read()->events("b", 0, 10).empty());
  EXPECT_TRUE(w.store->begin_read()->events("a", 0, 10).empty());
}

TEST(WriterContained, ARefusalNeedsNoSavepointEither) {
  ContainedWriter w;
  std::vector<Writer::Op> ops = {
      [](Batch& b) { b.refuse(Error(ErrorCode::invalid_state, "not now")); }, writes("b")};
  auto errors = w.writer.run_many(std::move(ops), Writer::Isolation::contained);
  EXPECT_EQ(code_of(errors[0]), ErrorCode::invalid_state);
  EXPECT_EQ(code_of(errors[1]), ErrorCode::ok);
  EXPECT_EQ(w.store->begin_read()->steps("b").size(), 1u);
}
