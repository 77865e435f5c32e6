// Run timeouts, step timeouts and host-step heartbeats, on a ManualClock.
#include <gtest/gtest.h>

#include <thread>

#include "scheduler/sched_support.h"

using namespace storyloom;
using namespace storyloom::testing;
using namespace std::chrono_literals;

namespace {

struct Fixture {
  std::shared_ptr<ManualClock> clock = std::make_shared<ManualClock>();
  std::unique_ptr<Engine> engine;
  explicit Fixture(std::string store = ":memory:") {
    auto o = fast_options(std::move(store));
    o.clock = clock;
    o.random01 = [] { return 1.0; };
    engine = Engine::open(o);
  }
};

}  // namespace

TEST(RunTimeout, AParkedRunFailsWithATimeoutAtItsDeadline) {
  Fixture f;
  WorkflowOptions wo;
  wo.run_timeout = 10s;
  wo.retry.max_attempts = 3;  // a run timeout is final all the same
  f.engine->register_workflow(
      "slow",
      [](Context& ctx, const Json&) -> Json {
        ctx.sleep("nap", 60s);
        return nullptr;
      },
      wo);
  auto run = f.engine->start("slow", boost::json::object{});
  ASSERT_EQ(wait_status(*f.engine, run.id, RunStatus::sleeping).status, RunStatus::sleeping);
  f.clock->advance_ms(9999);
  std::this_thread::sleep_for(30ms);
  EXPECT_EQ(f.engine->get(run.id).status, RunStatus::sleeping);
  f.clock->advance_ms(1);
  auto done = wait_finished(*f.engine, run.id);
  ASSERT_EQ(done.status, RunStatus::failed);
  EXPECT_EQ(done.error.at("code").as_string(), "timeout");
  EXPECT_EQ(done.error.at("class").as_string(), "timeout");
  EXPECT_EQ(done.error.at("message").as_string(),
            "run '" + run.id + "' exceeded its run timeout of 10000 ms");
}

TEST(RunTimeout, ARunningRunIsStoppedAndItsLaterWritesDropped) {
  Fixture f;
  WorkflowOptions wo;
  wo.run_timeout = 5s;
  std::atomic<bool> saw_cancel{false};
  std::atomic<int> after{0};
  f.engine->register_workflow(
      "stuck",
      [&](Context& ctx, const Json&) -> Json {
        ctx.step("long", [&] {
          while (!ctx.cancelled()) std::this_thread::sleep_for(1ms);
          saw_cancel = true;
          return Json(1);
        });
        return ctx.step("next", [&] { ++after; return Json(2); });
      },
      wo);
  auto run = f.engine->start("stuck", boost::json::object{});
  ASSERT_EQ(wait_status(*f.engine, run.id, RunStatus::running).status, RunStatus::running);
  f.clock->advance_ms(5000);
  ASSERT_TRUE(eventually([&] { return saw_cancel.load(); }));
  auto done = wait_finished(*f.engine, run.id);
  EXPECT_EQ(done.status, RunStatus::failed);
  EXPECT_EQ(done.error.at("code").as_string(), "timeout");
  std::this_thread::sleep_for(30ms);
  EXPECT_EQ(after.load(), 0);
  EXPECT_TRUE(f.engine->snapshot(run.id).steps.empty());  // the late step result was not kept
}

TEST(RunTimeout, ARetriedRunGetsAFreshDeadline) {
  Fixture f;
  WorkflowOptions wo;
  wo.run_timeout = 10s;
  std::atomic<bool> quick{false};
  f.engine->register_workflow(
      "slow",
      [&](Context& ctx, const Json&) -> Json {
        if (!quick) ctx.sleep("nap", 60s);
        return nullptr;
      },
      wo);
  auto run = f.engine->start("slow", boost::json::object{});
  ASSERT_EQ(wait_status(*f.engine, run.id, RunStatus::sleeping).status, RunStatus::sleeping);
  f.clock->advance_ms(10000);
  ASSERT_EQ(wait_finished(*f.engine, run.id).status, RunStatus::failed);
  quick = true;
  f.engine->retry(run.id);
  EXPECT_EQ(wait_finished(*f.engine, run.id).status, RunStatus::completed);
}
