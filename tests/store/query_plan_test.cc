// Every hot query (core/store/hot_queries.h) walks the index it names, never
// a scan of the runs table or a sort of the whole queue: checked with EXPLAIN
// QUERY PLAN on a store with a queue, as SQLite plans them without statistics.
#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include "store/hot_queries.h"
#include "store/store.h"
#include "support/test_support.h"

using namespace storyloom;
using namespace storyloom::testing;

namespace {

std::string plan_of(SQLite::Database& db, const std::string& sql) {
  SQLite::Statement q(db, "EXPLAIN QUERY PLAN " + sql);
  std::string plan;
  while (q.executeStep()) plan += q.getColumn(3).getString() + "\n";
  return plan;
}

class QueryPlan : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.file("plan.db");
    store::open_store("sqlite:" + path_);  // creates the schema
    db_ = std::make_unique<SQLite::Database>(path_, SQLite::OPEN_READWRITE);
    SQLite::Transaction tx(*db_);
    SQLite::Statement insert(*db_,
                             "INSERT INTO runs (id, workflow, status, input, created_at, updated_at, "
                             "available_at) VALUES (?, 'w', ?, '{}', 0, 0, ?)");
    for (int i = 0; i < 2000; ++i) {
      insert.reset();
      insert.bind(1, "run-" + std::to_string(i));
      insert.bind(2, i % 3 == 0 ? "completed" : i % 3 == 1 ? "queued" : "sleeping");
      insert.bind(3, i);
      insert.exec();
    }
    tx.commit();
  }

  void expect_index(const std::string& sql, const std::string& index) {
    std::string plan = plan_of(*db_, sql);
    EXPECT_NE(plan.find("USING INDEX " + index), std::string::npos) << sql << "\n" << plan;
    EXPECT_EQ(plan.find("USE TEMP B-TREE"), std::string::npos) << "sorts: " << sql << "\n" << plan;
    EXPECT_EQ(plan.find("runs_by_status"), std::string::npos) << sql << "\n" << plan;
    EXPECT_EQ(plan.find("SCAN runs\n"), std::string::npos) << sql << "\n" << plan;
  }

  TempDir dir_;
  std::string path_;
  std::unique_ptr<SQLite::Database> db_;
};

}  // namespace

TEST_F(QueryPlan, TheClaimWalksTheQueueIndexInOrder) {
  expect_index(store::sql::kClaimQueueWalk, "runs_queue");
  expect_index(std::string("UPDATE runs SET status = 'running', lease_owner = ?1, updated_at = ?2 "
                           "WHERE seq IN (") +
                   store::sql::kClaimQueueWalk + ") RETURNING id",
               "runs_queue");
}

TEST_F(QueryPlan, ALimitedClaimPagesThroughTheQueueIndex) {
  expect_index(std::string("SELECT seq, id") + store::sql::kQueuePageWhere, "runs_queue");
}

TEST_F(QueryPlan, ThePollersQueriesUseTheirIndexes) {
  expect_index(store::sql::kNextParked, "runs_parked");
  expect_index(store::sql::kDueParked, "runs_parked");
  expect_index(store::sql::kNextQueued, "runs_delayed");
  expect_index(std::string("SELECT id") + store::sql::kOverdueWhere, "runs_deadline");
}

TEST_F(QueryPlan, WithoutItsIndexNamedTheClaimWouldSortTheQueue) {
  // The reason for INDEXED BY: the same walk, left to the planner.
  std::string unhinted = store::sql::kClaimQueueWalk;
  unhinted.erase(unhinted.find("INDEXED BY runs_queue "), std::string("INDEXED BY runs_queue ").size());
  std::string plan = plan_of(*db_, unhinted);
  EXPECT_NE(plan.find("USE TEMP B-TREE"), std::string::npos) << plan;
}

TEST_F(QueryPlan, TheQueueDepthCountWalksOnlyTheIndexOfItsStatus) {
  // Never a scan of every run; the temporary tree groups the workflows found
  // (a handful), not the runs.
  auto expect_walk = [this](const std::string& sql, const std::string& index) {
    std::string plan = plan_of(*db_, sql);
    EXPECT_NE(plan.find("USING INDEX " + index), std::string::npos) << sql << "\n" << plan;
    EXPECT_EQ(plan.find("SCAN runs\n"), std::string::npos) << sql << "\n" << plan;
  };
  expect_walk(store::sql::kCountQueuedByWorkflow, "runs_queue");
  expect_walk(store::sql::kCountRunningByWorkflow, "runs_running_key");
  expect_walk(std::string(store::sql::kCountByWorkflowBegin) + "'failed'" +
                  store::sql::kCountByWorkflowEnd,
              "runs_by_status (status=?)");
}

TEST_F(QueryPlan, ASignalFindsTheWaitItCompletesByTheRunsStepsKey) {
  std::string plan = plan_of(*db_, store::sql::kPendingWait);
  EXPECT_NE(plan.find("SEARCH steps USING PRIMARY KEY (run_id=?)"), std::string::npos) << plan;
  EXPECT_EQ(plan.find("USE TEMP B-TREE"), std::string::npos) << plan;
}

TEST_F(QueryPlan, AListOfParkedOrFinishedRunsSearchesTheirStatusInStartOrder) {
  // list_runs writes the status in its SQL, so the partial runs_by_status
  // (parked and finished runs only) serves it without a sort.
  for (const char* status : {"sleeping", "waiting", "completed", "failed", "cancelled"}) {
    std::string sql = std::string("SELECT seq, id FROM runs WHERE seq > ? AND status = '") +
                      status + "' ORDER BY seq LIMIT ?";
    std::string plan = plan_of(*db_, sql);
    EXPECT_NE(plan.find("SEARCH runs USING INDEX runs_by_status (status=? AND seq>?)"),
              std::string::npos) << sql << "\n" << plan;
    EXPECT_EQ(plan.find("USE TEMP B-TREE"), std::string::npos) << sql << "\n" << plan;
  }
}

TEST_F(QueryPlan, AClaimPastHeldBackRunsSeeksEachKeyInTheKeyIndex) {
  // Each is a search of runs_queue_key bounded by the workflow and the key,
  // in the index's order: the runs of a full key are never read.
  auto expect_search = [this](const std::string& sql, const std::string& index_bound) {
    std::string plan = plan_of(*db_, sql);
    EXPECT_NE(plan.find("SEARCH runs USING INDEX " + index_bound), std::string::npos) << sql << "\n"
                                                                                      << plan;
    EXPECT_EQ(plan.find("USE TEMP B-TREE"), std::string::npos) << "sorts: " << sql << "\n" << plan;
  };
  expect_search(store::sql::kFirstQueuedKey, "runs_queue_key (workflow=? AND concurrency_key>?)");
  expect_search(store::sql::kNextQueuedKey, "runs_queue_key (workflow=? AND concurrency_key>?)");
  expect_search(std::string("SELECT seq, id") + store::sql::kQueuedOfKeyWhere,
                "runs_queue_key (workflow=? AND concurrency_key=?)");
  expect_search(std::string("SELECT seq, id") + store::sql::kQueuedWithoutKeyWhere,
                "runs_queue_key (workflow=? AND concurrency_key=?)");
  expect_search(store::sql::kRunningByKey, "runs_running_key (workflow=? AND concurrency_key>?)");
}
