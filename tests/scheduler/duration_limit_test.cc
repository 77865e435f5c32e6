// Durations beyond kMaxDurationMs are refused naming the parameter; none wraps to "now".
#include <gtest/gtest.h>

#include <climits>

#include "support/test_support.h"

using namespace storyloom;
using namespace storyloom::testing;

namespace {

const std::string kLimit = "; the limit is 3155760000000 ms (100 years)";
const std::chrono::milliseconds kHuge{INT64_MAX};

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

TEST(DurationLimit, SleepAndSignalWaitBeyondTheLimitAreRefusedNotImmediate) {
  auto engine = Engine::open(fast_options());
  engine->launch();
  std::string sleep_error, wait_error;
  engine->register_workflow("long", [&](Context& ctx, const Json&) -> Json {
    try {
      ctx.sleep("nap", kHuge);
    } catch (const Error& e) {
      sleep_error = e.what();
    }
    try {
      ctx.wait_for_signal("go", kHuge);
    } catch (const Error& e) {
      wait_error = e.what();
    }
    ctx.sleep("exactly-the-limit", std::chrono::milliseconds(kMaxDurationMs));
    return nullptr;
  });
  auto run = engine->start("long", boost::json::object{});
  // The longest allowed sleep parks the run; it does not return at once.
  auto parked = wait_status(*engine, run.id, RunStatus::sleeping);
  EXPECT_EQ(parked.status, RunStatus::sleeping);
  EXPECT_EQ(sleep_error, "duration of sleep 'nap' is 9223372036854775807 ms" + kLimit);
  EXPECT_EQ(wait_error, "timeout of wait_for_signal 'go' is 9223372036854775807 ms" + kLimit);
}

TEST(DurationLimit, StepTimeoutBeyondTheLimitIsRefusedAtRegistration) {
  auto engine = Engine::open(fast_options());
  engine->launch();
  WorkflowOptions o;
  o.retry = RetryPolicy{};
  o.retry->timeout = kHuge;
  auto e = error_of([&] {
    engine->register_workflow("w", [](Context&, const Json&) -> Json { return nullptr; }, o);
  });
  EXPECT_EQ(e.code(), ErrorCode::invalid_argument);
  EXPECT_TRUE(contains(e.what(), "timeout is 9223372036854775807 ms" + kLimit)) << e.what();
  o = WorkflowOptions{};
  o.run_timeout = kHuge;
  e = error_of([&] {
    engine->register_workflow("w", [](Context&, const Json&) -> Json { return nullptr; }, o);
  });
  EXPECT_TRUE(contains(e.what(), "run_timeout is 9223372036854775807 ms" + kLimit)) << e.what();
  // A per-step policy too.
  std::string step_error;
  engine->register_workflow("per-step", [&](Context& ctx, const Json&) -> Json {
    RetryPolicy p;
    p.timeout = kHuge;
    try {
      ctx.step("s", [] { return Json(1); }, p);
    } catch (const Error& err) {
      step_error = err.what();
    }
    return nullptr;
  });
  auto run = engine->start("per-step", boost::json::object{});
  EXPECT_EQ(wait_finished(*engine, run.id).status, RunStatus::completed);
  EXPECT_EQ(step_error, "timeout is 9223372036854775807 ms" + kLimit);
}

TEST(DurationLimit, EngineIntervalsBeyondTheLimitAreRefused) {
  EngineOptions o = fast_options();
  o.poll_interval = kHuge;
  auto e = error_of([&] { Engine::open(o); });
  EXPECT_EQ(e.code(), ErrorCode::invalid_argument);
  EXPECT_EQ(std::string(e.what()), "poll_interval is 9223372036854775807 ms" + kLimit);
  o = fast_options();
  o.lease_ttl = std::chrono::milliseconds(kMaxDurationMs + 1);
  EXPECT_EQ(std::string(error_of([&] { Engine::open(o); }).what()),
            "lease_ttl is 3155760000001 ms" + kLimit);
}
