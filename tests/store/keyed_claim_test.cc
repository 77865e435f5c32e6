// Claims under a concurrency key when most of the queue is held back by full
// keys: runs of a key with a free slot, and of other workflows, are found
// however many runs wait before them, never more than a key's free slots are
// taken, the order of the queue holds, and runs whose key was not stored at
// start are counted from their input. On SQLite and, as pg.KeyedClaim.*, on
// PostgreSQL.
#include <gtest/gtest.h>

#include "store/store.h"
#include "support/test_support.h"

using namespace storyloom;
using storyloom::testing::test_store;

namespace {

// A run of "page" for `user`; its key stored at start unless `stored` is false.
store::RunRecord page_run(const std::string& id, const std::string& user, RunStatus status,
                          int priority = 0, bool stored = true) {
  store::RunRecord r;
  r.info.id = id;
  r.info.workflow = "page";
  r.info.status = status;
  r.info.input = boost::json::object{{"user", user}};
  r.info.priority = priority;
  r.info.created_at_ms = r.info.updated_at_ms = r.available_at_ms = 10;
  if (status == RunStatus::running) r.lease_owner = "other-engine";
  if (stored) r.start_keys.concurrency = boost::json::serialize(Json(user));
  return r;
}

store::ClaimRequest claim(size_t limit, int64_t key_limit) {
  store::ClaimRequest req;
  req.owner = "engine-1";
  req.now_ms = 100;
  req.limit = limit;
  req.workflows_json_array = R"(["page","plain"])";
  req.rules["page"].key_limit = key_limit;
  req.keys = [](const store::RunRecord& run) {
    return store::RunKeys{boost::json::serialize(run.info.input.at("user")), std::nullopt};
  };
  return req;
}

std::vector<std::string> ids_of(const store::ClaimResult& result) {
  std::vector<std::string> ids;
  for (const auto& r : result.runs) ids.push_back(r.info.id);
  return ids;
}

void insert_all(store::Store& s, const std::vector<store::RunRecord>& runs) {
  auto tx = s.begin_write();
  for (const auto& r : runs) tx->insert_run(r);
  tx->commit();
}

std::vector<store::RunRecord> held_back_runs(int n, int priority = 0, bool stored = true) {
  std::vector<store::RunRecord> runs{page_run("a-running", "a", RunStatus::running)};
  for (int i = 0; i < n; ++i) {
    runs.push_back(page_run("a" + std::to_string(i), "a", RunStatus::queued, priority, stored));
  }
  return runs;
}

}  // namespace

TEST(KeyedClaim, AFreeKeyAndAnotherWorkflowAreFoundBehindThousandsOfHeldBackRuns) {
  auto s = store::open_store(test_store());
  auto runs = held_back_runs(5000);
  runs.push_back(page_run("b", "b", RunStatus::queued));
  store::RunRecord plain = page_run("plain", "x", RunStatus::queued, 0, false);
  plain.info.workflow = "plain";
  runs.push_back(plain);
  insert_all(*s, runs);
  store::ClaimResult result;
  {
    auto tx = s->begin_write();
    result = tx->claim_runs(claim(8, 1));
    tx->commit();
  }
  EXPECT_EQ(ids_of(result), (std::vector<std::string>{"b", "plain"}));
  EXPECT_TRUE(result.limited);
  // Nothing more: "a" and "b" are at their limit.
  auto again = s->begin_write();
  EXPECT_TRUE(again->claim_runs(claim(8, 1)).runs.empty());
}

TEST(KeyedClaim, AKeyGivesNoMoreRunsThanItsFreeSlots) {
  auto s = store::open_store(test_store());
  auto runs = held_back_runs(100);
  runs.push_back(page_run("a-running-2", "a", RunStatus::running));
  runs.push_back(page_run("b-running", "b", RunStatus::running));
  for (int i = 0; i < 3; ++i) runs.push_back(page_run("b" + std::to_string(i), "b", RunStatus::queued));
  runs.push_back(page_run("c0", "c", RunStatus::queued));
  insert_all(*s, runs);
  auto tx = s->begin_write();
  // Limit 2: "a" is full, "b" has one slot left, "c" two.
  EXPECT_EQ(ids_of(tx->claim_runs(claim(10, 2))), (std::vector<std::string>{"b0", "c0"}));
}

TEST(KeyedClaim, PastHeldBackRunsTheQueueOrderHolds) {
  auto s = store::open_store(test_store());
  auto runs = held_back_runs(100, 5);
  runs.push_back(page_run("c", "c", RunStatus::queued, 0));
  runs.push_back(page_run("b", "b", RunStatus::queued, 1));
  runs.push_back(page_run("d", "d", RunStatus::queued, 1));
  insert_all(*s, runs);
  auto tx = s->begin_write();
  EXPECT_EQ(ids_of(tx->claim_runs(claim(2, 1))), (std::vector<std::string>{"b", "d"}));
}

TEST(KeyedClaim, RunsWithoutAStoredKeyAreCountedFromTheirInput) {
  // Started by a process that did not register the workflow, or before the
  // keys were stored at start: the claim computes their keys.
  auto s = store::open_store(test_store());
  auto runs = held_back_runs(100, 0, false);
  runs.push_back(page_run("b", "b", RunStatus::queued, 0, false));
  runs.push_back(page_run("b2", "b", RunStatus::queued, 0, false));
  insert_all(*s, runs);
  store::ClaimResult result;
  {
    auto tx = s->begin_write();
    result = tx->claim_runs(claim(8, 1));
    tx->commit();
  }
  EXPECT_EQ(ids_of(result), (std::vector<std::string>{"b"}));
  EXPECT_TRUE(result.limited);
  auto again = s->begin_write();
  EXPECT_TRUE(again->claim_runs(claim(8, 1)).runs.empty());
}

TEST(KeyedClaim, TheKeyComputedAtTheClaimDecidesOverTheStoredOne) {
  // A run whose stored key names a free bucket but whose input (as the
  // claiming engine reads it) belongs to a full one stays queued.
  auto s = store::open_store(test_store());
  auto runs = held_back_runs(100);
  store::RunRecord mislabelled = page_run("m", "a", RunStatus::queued);
  mislabelled.start_keys.concurrency = "\"b\"";
  runs.push_back(mislabelled);
  insert_all(*s, runs);
  auto tx = s->begin_write();
  auto result = tx->claim_runs(claim(8, 1));
  EXPECT_TRUE(result.runs.empty());
  EXPECT_TRUE(result.limited);
}
