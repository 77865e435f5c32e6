// Host steps that use a resource: never more in flight than its cap, waiting
// without a thread, a rate-limited failure pausing the resource, and a
// cancelled run's wait ending at once.
#include <gtest/gtest.h>

#include <future>
#include <mutex>
#include <thread>

#include "scheduler/sched_support.h"

using namespace storyloom;
using namespace storyloom::testing;
using namespace std::chrono_literals;

namespace {

EngineOptions with_resource(const std::string& name, ResourceLimits limits, int workers = 4) {
  auto o = fast_options();
  o.workers = workers;
  o.llm.use_environment = false;
  o.resources[name] = limits;
  return o;
}

ResourceLimits in_flight(int n) {
  ResourceLimits l;
  l.max_in_flight = n;
  return l;
}

}  // namespace

TEST(ResourceStep, AStepUsingAResourceNeverExceedsItsCap) {
  auto engine = Engine::open(with_resource("images", in_flight(2)));
  engine->launch();
  Occupancy inside;
  engine->register_workflow("picture", [&](Context& ctx, const Json&) -> Json {
    return ctx.step_using("images", "draw", [&] {
      inside.enter("images");
      std::this_thread::sleep_for(2ms);
      inside.leave("images");
      return Json(1);
    });
  });
  std::vector<std::string> ids;
  for (int i = 0; i < 12; ++i) ids.push_back(engine->start("picture", boost::json::object{}).id);
  for (const auto& id : ids) EXPECT_EQ(wait_finished(*engine, id).status, RunStatus::completed);
  EXPECT_EQ(inside.peak("images"), 2);
  EXPECT_EQ(engine->resource_status("images").in_flight, 0);  // every use returned
}

TEST(ResourceStep, AHostWaitingForAResourceHoldsNoThread) {
  // One worker and a cap of one: runs whose steps wait for the resource must
  // not occupy the worker, or the one that holds it could never finish.
  auto engine = Engine::open(with_resource("api", in_flight(1), /*workers=*/1));
  engine->launch();
  Gate gate;
  std::atomic<int> admitted{0};
  std::vector<std::thread> finishing;
  std::mutex finishing_mutex;
  engine->register_workflow("call", ExecuteFn([&](Execution execution) {
                              auto shared = std::make_shared<Execution>(std::move(execution));
                              StepBegin begin = shared->begin_step("call");
                              shared->acquire(begin.seq, "api", 0,
                                              [&, shared, begin](std::optional<Error> error) {
                                                ASSERT_FALSE(error.has_value());
                                                int n = ++admitted;
                                                // Finish elsewhere, as an event loop would: the
                                                // first holds the resource until the gate.
                                                std::lock_guard lock(finishing_mutex);
                                                finishing.emplace_back([&, shared, begin, n] {
                                                  if (n == 1) gate.wait();
                                                  shared->complete_step(begin.seq, Json(n));
                                                  shared->finish_completed(Json(n));
                                                });
                                              });
                            }));
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) ids.push_back(engine->start("call", boost::json::object{}).id);
  // Every run got its execution (the worker was free) but only one was admitted.
  ASSERT_TRUE(eventually([&] { return engine->resource_status("api").waiting == 3; }));
  for (const auto& id : ids) EXPECT_EQ(engine->get(id).status, RunStatus::running);
  EXPECT_EQ(admitted.load(), 1);
  gate.open();
  for (const auto& id : ids) EXPECT_EQ(wait_finished(*engine, id).status, RunStatus::completed);
  EXPECT_EQ(admitted.load(), 4);
  std::lock_guard lock(finishing_mutex);
  for (auto& t : finishing) t.join();
}

TEST(ResourceStep, ARateLimitedFailurePausesTheResourceForItsRetryAfter) {
  auto engine = Engine::open(with_resource("api", ResourceLimits{}));
  engine->launch();
  std::atomic<int> attempts{0};
  RetryPolicy retry;
  retry.max_attempts = 2;
  retry.initial_backoff = 1ms;
  engine->register_workflow(
      "call",
      [&](Context& ctx, const Json&) -> Json {
        return ctx.step_using("api", "call", [&]() -> Json {
          if (attempts++ == 0) {
            throw Error(ErrorCode::step_failed, "429 from the image API", ErrorClass::rate_limited,
                        300);
          }
          return Json("drawn");
        });
      },
      WorkflowOptions{.retry = retry});
  auto started = std::chrono::steady_clock::now();
  auto run = engine->start("call", boost::json::object{});
  ASSERT_TRUE(eventually([&] { return attempts.load() >= 1; }));
  ASSERT_TRUE(eventually([&] { return engine->resource_status("api").paused_until_ms > 0; }));
  auto done = wait_finished(*engine, run.id);
  ASSERT_EQ(done.status, RunStatus::completed) << boost::json::serialize(done.error);
  EXPECT_GE(std::chrono::steady_clock::now() - started, 290ms);
  EXPECT_EQ(attempts.load(), 2);
}

TEST(ResourceStep, CancellingARunEndsItsWaitForAResource) {
  auto engine = Engine::open(with_resource("api", in_flight(1)));
  engine->launch();
  Gate gate;
  engine->register_workflow("call", [&](Context& ctx, const Json& input) -> Json {
    return ctx.step_using("api", "call", [&] {
      if (input.at("hold").as_bool()) gate.wait();
      return Json(1);
    });
  });
  auto holder = engine->start("call", boost::json::object{{"hold", true}});
  ASSERT_TRUE(eventually([&] { return engine->resource_status("api").in_flight == 1; }));
  auto waiter = engine->start("call", boost::json::object{{"hold", false}});
  ASSERT_TRUE(eventually([&] { return engine->resource_status("api").waiting == 1; }));
  engine->cancel(waiter.id);
  EXPECT_EQ(wait_finished(*engine, waiter.id, 2s).status, RunStatus::cancelled);
  EXPECT_TRUE(eventually([&] { return engine->resource_status("api").waiting == 0; }, 2s));
  gate.open();
  EXPECT_EQ(wait_finished(*engine, holder.id).status, RunStatus::completed);
}

TEST(ResourceStep, AcquireRefusesWhatItCannotUse) {
  auto engine = Engine::open(with_resource("api", ResourceLimits{}));
  engine->launch();
  std::promise<std::vector<std::string>> seen;
  engine->register_workflow(
      "bad", ExecuteFn([&](Execution e) {
        std::vector<std::string> messages;
        auto noop = [](std::optional<Error>) {};
        messages.push_back(error_of([&] { e.acquire(7, "api", 0, noop); }).what());
        StepBegin begin = e.begin_step("s");
        messages.push_back(error_of([&] { e.acquire(begin.seq, "", 0, noop); }).what());
        messages.push_back(error_of([&] { e.acquire(begin.seq, "api", -1, noop); }).what());
        e.complete_step(begin.seq, nullptr);
        messages.push_back(error_of([&] { e.acquire(begin.seq, "api", 0, noop); }).what());
        seen.set_value(messages);
        e.finish_completed(nullptr);
      }));
  auto run = engine->start("bad", boost::json::object{});
  auto messages = seen.get_future().get();
  EXPECT_EQ(messages[0],
            "step position 7 of run '" + run.id + "' is not a host step begun by this execution");
  EXPECT_NE(messages[1].find("resource name"), std::string::npos) << messages[1];
  EXPECT_NE(messages[2].find("-1"), std::string::npos) << messages[2];
  EXPECT_NE(messages[3].find("is not a host step begun by this execution"), std::string::npos);
}
