// The store's count of runs by status and workflow (the queue depth gauge),
// on SQLite and, as pg.RunCounts.*, on PostgreSQL.
#include <gtest/gtest.h>

#include "store/store.h"
#include "support/test_support.h"

using namespace storyloom;
using storyloom::testing::test_store;

namespace {

store::RunRecord run_of(const std::string& id, const std::string& workflow, RunStatus status) {
  store::RunRecord r;
  r.info.id = id;
  r.info.workflow = workflow;
  r.info.status = status;
  r.info.input = boost::json::object{};
  r.info.created_at_ms = r.info.updated_at_ms = 1;
  return r;
}

using Counts = std::map<std::string, int64_t>;

}  // namespace

TEST(RunCounts, CountsTheRunsOfOneStatusByWorkflow) {
  auto store = store::open_store(test_store());
  {
    auto tx = store->begin_write();
    tx->insert_run(run_of("a1", "book", RunStatus::queued));
    tx->insert_run(run_of("a2", "book", RunStatus::queued));
    tx->insert_run(run_of("a3", "book", RunStatus::completed));
    tx->insert_run(run_of("b1", "picture", RunStatus::queued));
    tx->insert_run(run_of("b2", "picture", RunStatus::sleeping));
    tx->insert_run(run_of("c1", "review", RunStatus::failed));
    tx->commit();
  }
  auto read = store->begin_read();
  EXPECT_EQ(read->count_runs_by_workflow(RunStatus::queued), (Counts{{"book", 2}, {"picture", 1}}));
  EXPECT_EQ(read->count_runs_by_workflow(RunStatus::completed), (Counts{{"book", 1}}));
  EXPECT_EQ(read->count_runs_by_workflow(RunStatus::sleeping), (Counts{{"picture", 1}}));
  EXPECT_EQ(read->count_runs_by_workflow(RunStatus::failed), (Counts{{"review", 1}}));
  // A status no run has: no workflow at all, not workflows at 0.
  EXPECT_EQ(read->count_runs_by_workflow(RunStatus::running), Counts{});
}

TEST(RunCounts, FollowsAStatusChangeAndADeletedRun) {
  auto store = store::open_store(test_store());
  {
    auto tx = store->begin_write();
    tx->insert_run(run_of("a1", "book", RunStatus::queued));
    tx->insert_run(run_of("a2", "book", RunStatus::queued));
    tx->commit();
  }
  EXPECT_EQ(store->begin_read()->count_runs_by_workflow(RunStatus::queued), (Counts{{"book", 2}}));
  {
    auto tx = store->begin_write();
    auto run = tx->find_run("a1");
    ASSERT_TRUE(run);
    run->info.status = RunStatus::cancelled;
    tx->update_run(*run);
    tx->delete_run("a2");
    tx->commit();
  }
  auto read = store->begin_read();
  EXPECT_EQ(read->count_runs_by_workflow(RunStatus::queued), Counts{});
  EXPECT_EQ(read->count_runs_by_workflow(RunStatus::cancelled), (Counts{{"book", 1}}));
}
