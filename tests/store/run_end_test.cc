// WriteTx::end_run: a run's end writes its status, its output or error, its
// finish time and clears its lease, and leaves every other column as it was;
// on SQLite (one narrow UPDATE) and, as pg.RunEnd.*, on PostgreSQL (the
// store's default, the whole row read and written back).
#include <gtest/gtest.h>

#include "store/store.h"
#include "support/test_support.h"

using namespace storyloom;
using storyloom::testing::test_store;

namespace {

store::RunRecord running(const std::string& id) {
  store::RunRecord r;
  r.info.id = id;
  r.info.workflow = "book";
  r.info.status = RunStatus::running;
  r.info.input = boost::json::object{{"topic", "owls"}};
  r.info.progress = boost::json::object{{"pages", 2}};
  r.info.priority = 7;
  r.info.created_at_ms = r.info.updated_at_ms = 10;
  r.lease_owner = "engine-1";
  r.deadline_at_ms = 99999;
  return r;
}

store::RunEnd end_of(const std::string& id, RunStatus status, Json value, int64_t now) {
  std::string text = boost::json::serialize(value);
  return store::RunEnd{id, status, std::move(value), std::move(text), now};
}

std::vector<std::string> listed(store::Store& s, RunStatus status) {
  store::ListQuery q;
  q.status = status;
  int64_t last = 0;
  std::vector<std::string> ids;
  for (const auto& r : s.begin_read()->list_runs(q, &last)) ids.push_back(r.info.id);
  return ids;
}

}  // namespace

TEST(RunEnd, ACompletedEndWritesOnlyWhatAnEndChanges) {
  auto s = store::open_store(test_store());
  {
    auto tx = s->begin_write();
    auto r = running("r1");
    r.info.error = boost::json::object{{"message", "an earlier attempt"}};
    tx->insert_run(r);
    tx->update_run(r);  // progress, error and deadline are written after the insert
    Json output = boost::json::object{{"pages", 3}};
    EXPECT_TRUE(tx->end_run(end_of("r1", RunStatus::completed, output, 500)));
    tx->commit();
  }
  auto r = s->begin_read()->find_run("r1");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->info.status, RunStatus::completed);
  EXPECT_EQ(r->info.output, (Json(boost::json::object{{"pages", 3}})));
  EXPECT_EQ(r->info.finished_at_ms, 500);
  EXPECT_EQ(r->info.updated_at_ms, 500);
  EXPECT_EQ(r->lease_owner, "");
  // Left as they were:
  EXPECT_EQ(r->info.error, (Json(boost::json::object{{"message", "an earlier attempt"}})));
  EXPECT_EQ(r->info.progress, (Json(boost::json::object{{"pages", 2}})));
  EXPECT_EQ(r->info.input, (Json(boost::json::object{{"topic", "owls"}})));
  EXPECT_EQ(r->info.priority, 7);
  EXPECT_EQ(r->info.created_at_ms, 10);
  EXPECT_EQ(r->deadline_at_ms, 99999);
  // Listed and counted under its new status only.
  EXPECT_EQ(listed(*s, RunStatus::completed), std::vector<std::string>{"r1"});
  EXPECT_TRUE(listed(*s, RunStatus::running).empty());
  EXPECT_EQ(s->begin_read()->count_runs_by_workflow(RunStatus::completed),
            (std::map<std::string, int64_t>{{"book", 1}}));
}

TEST(RunEnd, AFailedEndWritesTheErrorAndKeepsTheOutput) {
  auto s = store::open_store(test_store());
  {
    auto tx = s->begin_write();
    tx->insert_run(running("r2"));
    Json error = boost::json::object{{"code", "step_failed"}, {"message", "no"}};
    EXPECT_TRUE(tx->end_run(end_of("r2", RunStatus::failed, error, 600)));
    tx->commit();
  }
  auto r = s->begin_read()->find_run("r2");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->info.status, RunStatus::failed);
  EXPECT_EQ(r->info.error, (Json(boost::json::object{{"code", "step_failed"}, {"message", "no"}})));
  EXPECT_TRUE(r->info.output.is_null());
  EXPECT_EQ(r->info.finished_at_ms, 600);
  EXPECT_EQ(r->lease_owner, "");
  EXPECT_EQ(listed(*s, RunStatus::failed), std::vector<std::string>{"r2"});
}

TEST(RunEnd, ANullOutputIsStoredAsNull) {
  auto s = store::open_store(test_store());
  {
    auto tx = s->begin_write();
    tx->insert_run(running("r3"));
    EXPECT_TRUE(tx->end_run(end_of("r3", RunStatus::completed, nullptr, 700)));
    tx->commit();
  }
  auto r = s->begin_read()->find_run("r3");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->info.status, RunStatus::completed);
  EXPECT_TRUE(r->info.output.is_null());
}

TEST(RunEnd, NoRunWithThatIdIsFalseAndWritesNothing) {
  auto s = store::open_store(test_store());
  auto tx = s->begin_write();
  EXPECT_FALSE(tx->end_run(end_of("missing", RunStatus::completed, Json(1), 800)));
  EXPECT_FALSE(tx->find_run("missing"));
  tx->commit();
}
