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
    engine->launch();
  }
};

}  // namespace

TEST(RunTimeout, AParkedRunFailsWithATimeoutAtItsDeadline) {
  Fixture f;
  WorkflowOptions wo;
  wo.run_timeout = 10s;
  wo.retry = RetryPolicy{};
  wo.retry->max_attempts = 3;  // a run timeout is final all the same
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
  std::atomic<bool> in_step{false};
  std::atomic<bool> saw_cancel{false};
  std::atomic<int> after{0};
  f.engine->register_workflow(
      "stuck",
      [&](Context& ctx, const Json&) -> Json {
        ctx.step("long", [&] {
          in_step = true;
          while (!ctx.cancelled()) std::this_thread::sleep_for(1ms);
          saw_cancel = true;
          return Json(1);
        });
        return ctx.step("next", [&] { ++after; return Json(2); });
      },
      wo);
  auto run = f.engine->start("stuck", boost::json::object{});
  // Inside the step: a deadline passing before it began would stop the run
  // before the body ever ran (a loaded machine is slow to get there).
  ASSERT_TRUE(eventually([&] { return in_step.load(); }));
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

namespace {

RetryPolicy timed(int attempts, int timeout_ms) {
  RetryPolicy p;
  p.max_attempts = attempts;
  p.initial_backoff = 0ms;
  p.max_backoff = 0ms;
  p.timeout = std::chrono::milliseconds(timeout_ms);
  return p;
}

}  // namespace

TEST(StepTimeout, AStuckStepTimesOutAndIsRetried) {
  Fixture f;
  std::atomic<int> calls{0};
  f.engine->register_workflow(
      "w",
      [&](Context& ctx, const Json&) -> Json {
        return ctx.step("call", [&] {
          if (++calls == 1) {
            while (!ctx.cancelled()) std::this_thread::sleep_for(1ms);  // stuck until it loses the run
          }
          return Json(calls.load());
        });
      },
      WorkflowOptions{.retry = timed(2, 1000)});
  auto run = f.engine->start("w", boost::json::object{});
  ASSERT_TRUE(eventually([&] { return calls.load() == 1; }));
  f.clock->advance_ms(999);
  std::this_thread::sleep_for(30ms);
  EXPECT_TRUE(events_of(*f.engine, run.id, "step.retrying").empty());
  f.clock->advance_ms(1);
  auto done = wait_finished(*f.engine, run.id);
  ASSERT_EQ(done.status, RunStatus::completed) << boost::json::serialize(done.error);
  EXPECT_EQ(done.output.as_int64(), 2);
  auto retrying = events_of(*f.engine, run.id, "step.retrying");
  ASSERT_EQ(retrying.size(), 1u);
  EXPECT_EQ(retrying[0].data.at("error").at("code").as_string(), "timeout");
  EXPECT_EQ(retrying[0].data.at("error").at("class").as_string(), "timeout");
  EXPECT_EQ(retrying[0].data.at("error").at("message").as_string(),
            "step 'call' of run '" + run.id + "' timed out after 1000 ms without finishing or a heartbeat");
}

TEST(StepTimeout, WithNoAttemptLeftTheRunFailsWithATimeout) {
  Fixture f;
  f.engine->register_workflow("w", [&](Context& ctx, const Json&) -> Json {
    return ctx.step("call", [&] {
      while (!ctx.cancelled()) std::this_thread::sleep_for(1ms);
      return Json(1);
    }, timed(1, 500));
  });
  auto run = f.engine->start("w", boost::json::object{});
  ASSERT_EQ(wait_status(*f.engine, run.id, RunStatus::running).status, RunStatus::running);
  std::this_thread::sleep_for(20ms);
  f.clock->advance_ms(500);
  auto done = wait_finished(*f.engine, run.id);
  ASSERT_EQ(done.status, RunStatus::failed);
  EXPECT_EQ(done.error.at("code").as_string(), "timeout");
  EXPECT_EQ(done.error.at("step").as_string(), "call");
}

// A host step that heartbeats keeps the run past its timeout; once it stops,
// the attempt is lost and retried, and the old host's late result is refused.
TEST(StepTimeout, AHostStepThatStopsHeartbeatingIsRetried) {
  Fixture f;
  std::mutex m;
  std::vector<std::shared_ptr<Execution>> executions;
  f.engine->register_workflow(
      "upload",
      [&](Execution execution) {
        std::lock_guard lock(m);
        executions.push_back(std::make_shared<Execution>(std::move(execution)));
      },
      WorkflowOptions{.retry = timed(2, 1000)});
  auto count = [&] {
    std::lock_guard lock(m);
    return executions.size();
  };
  auto nth = [&](size_t i) {
    std::lock_guard lock(m);
    return executions.at(i);
  };
  auto run = f.engine->start("upload", boost::json::object{});
  ASSERT_TRUE(eventually([&] { return count() == 1; }));
  auto first = nth(0);
  auto begin = first->begin_step("put", std::nullopt);
  EXPECT_EQ(begin.attempt, 1);
  for (int i = 0; i < 3; ++i) {
    f.clock->advance_ms(600);
    first->heartbeat(begin.seq);
  }
  std::this_thread::sleep_for(30ms);
  EXPECT_EQ(f.engine->get(run.id).status, RunStatus::running);  // 1800 ms, alive
  f.clock->advance_ms(1000);  // silent for its whole timeout
  ASSERT_TRUE(eventually([&] { return count() == 2; }));
  auto second = nth(1);
  auto again = second->begin_step("put", std::nullopt);
  EXPECT_EQ(again.attempt, 2);
  auto late = error_of([&] { first->complete_step(begin.seq, Json("late")); });
  EXPECT_EQ(late.code(), ErrorCode::invalid_state);
  auto unknown = error_of([&] { second->heartbeat(99); });
  EXPECT_EQ(unknown.code(), ErrorCode::invalid_argument);
  EXPECT_EQ(std::string(unknown.what()), "step position 99 of run '" + run.id +
                                             "' was not begun by this execution or is already finished");
  second->complete_step(again.seq, Json("uploaded"));
  second->finish_completed(Json("ok"));
  ASSERT_EQ(wait_finished(*f.engine, run.id).status, RunStatus::completed);
  EXPECT_EQ(f.engine->snapshot(run.id).steps.at(0).result.as_string(), "uploaded");
  auto e = error_of([&] { second->heartbeat(99); });
  EXPECT_EQ(e.code(), ErrorCode::invalid_state);
}

TEST(StepTimeout, ANegativeTimeoutIsRefused) {
  Fixture f;
  auto e = error_of([&] {
    f.engine->register_workflow("w", [](Context&, const Json&) -> Json { return nullptr; },
                                WorkflowOptions{.retry = timed(1, -1)});
  });
  EXPECT_EQ(e.code(), ErrorCode::invalid_argument);
  EXPECT_STREQ(e.what(), "timeout must not be negative (0: none), got -1 ms");
}

TEST(StepTimeout, ContextHeartbeatKeepsALongStepAlive) {
  Fixture f;
  std::atomic<bool> release{false};
  std::atomic<int> calls{0};
  f.engine->register_workflow(
      "long",
      [&](Context& ctx, const Json&) -> Json {
        return ctx.step("render", [&] {
          ++calls;
          while (!release && !ctx.cancelled()) {
            ctx.heartbeat();
            std::this_thread::sleep_for(1ms);
          }
          return Json("done");
        });
      },
      WorkflowOptions{.retry = timed(1, 1000)});
  auto run = f.engine->start("long", boost::json::object{});
  ASSERT_TRUE(eventually([&] { return calls.load() == 1; }));
  for (int i = 0; i < 5; ++i) {
    f.clock->advance_ms(600);  // 3 s in all, each stretch shorter than the timeout
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(f.engine->get(run.id).status, RunStatus::running);
  release = true;
  auto done = wait_finished(*f.engine, run.id);
  EXPECT_EQ(done.status, RunStatus::completed) << boost::json::serialize(done.error);
  EXPECT_EQ(calls.load(), 1);
}
