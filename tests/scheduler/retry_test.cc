// Retry policies: backoff within jitter bounds, error classes, retry-after,
// durable attempt counts.
#include <gtest/gtest.h>

#include <atomic>

#include "support/test_support.h"

using namespace storyloom;
using namespace storyloom::testing;
using namespace std::chrono_literals;

namespace {

RetryPolicy policy(int attempts, int initial_ms, double multiplier, int max_ms, bool jitter = true) {
  RetryPolicy p;
  p.max_attempts = attempts;
  p.initial_backoff = std::chrono::milliseconds(initial_ms);
  p.multiplier = multiplier;
  p.max_backoff = std::chrono::milliseconds(max_ms);
  p.jitter = jitter;
  return p;
}

struct Fixture {
  std::shared_ptr<ManualClock> clock = std::make_shared<ManualClock>();
  std::atomic<double> random{1.0};
  std::unique_ptr<Engine> engine;
  explicit Fixture(std::string store = ":memory:") {
    auto o = fast_options(std::move(store));
    o.clock = clock;
    o.random01 = [this] { return random.load(); };
    engine = Engine::open(o);
    engine->launch();
  }
  std::vector<Event> events_of(const std::string& run, const std::string& type) {
    std::vector<Event> out;
    for (auto& e : engine->events(run, 0)) {
      if (e.type == type) out.push_back(e);
    }
    return out;
  }
};

}  // namespace

TEST(Retry, BackoffGrowsIsCappedAndStaysWithinJitterBounds) {
  auto p = policy(10, 100, 2.0, 1000);
  EXPECT_EQ(backoff_delay(p, 1, 0.999).count(), 99);
  EXPECT_EQ(backoff_delay(p, 2, 0.999).count(), 199);
  EXPECT_EQ(backoff_delay(p, 3, 0.5).count(), 200);
  EXPECT_EQ(backoff_delay(p, 8, 0.999).count(), 999);  // capped at max_backoff
  for (int attempt = 1; attempt < 8; ++attempt) {
    for (double r : {0.0, 0.25, 0.5, 0.75, 0.9999}) {
      auto d = backoff_delay(p, attempt, r).count();
      EXPECT_GE(d, 0);
      EXPECT_LE(d, std::min(1000.0, 100 * std::pow(2.0, attempt - 1)));
    }
  }
  EXPECT_EQ(backoff_delay(policy(3, 100, 3.0, 1000, false), 2, 0.0).count(), 300);
}

TEST(Retry, InvalidPoliciesAreRefusedWithTheFieldNamed) {
  auto engine = Engine::open(fast_options());
  engine->launch();
  auto reg = [&](RetryPolicy p) {
    return error_of([&] {
      engine->register_workflow("w", [](Context&, const Json&) -> Json { return nullptr; },
                                WorkflowOptions{.retry = p});
    });
  };
  auto e = reg(policy(0, 100, 2, 1000));
  EXPECT_EQ(e.code(), ErrorCode::invalid_argument);
  EXPECT_STREQ(e.what(), "max_attempts must be at least 1, got 0");
  EXPECT_STREQ(reg(policy(3, -5, 2, 1000)).what(), "initial_backoff must not be negative, got -5 ms");
  EXPECT_STREQ(reg(policy(3, 100, 0.5, 1000)).what(), "multiplier must be at least 1, got 0.500000");
  EXPECT_STREQ(reg(policy(3, 100, 2, 50)).what(),
               "max_backoff (50 ms) must not be less than initial_backoff (100 ms)");
}

TEST(Retry, RetryableErrorIsRetriedAfterItsBackoff) {
  Fixture f;
  std::atomic<int> calls{0};
  f.engine->register_workflow(
      "flaky",
      [&](Context& ctx, const Json&) -> Json {
        return ctx.step("call", [&]() -> Json {
          if (++calls < 3) throw Error(ErrorCode::step_failed, "503 from provider", ErrorClass::retryable);
          return Json("ok");
        });
      },
      WorkflowOptions{.retry = policy(5, 1000, 2.0, 60000)});
  auto run = f.engine->start("flaky", boost::json::object{});
  ASSERT_TRUE(eventually([&] { return f.events_of(run.id, "step.retrying").size() == 1; }));
  auto first = f.events_of(run.id, "step.retrying")[0];
  EXPECT_EQ(first.data.at("attempt").as_int64(), 1);
  EXPECT_EQ(first.data.at("delay_ms").as_int64(), 1000);
  EXPECT_EQ(first.data.at("error").at("message").as_string(), "503 from provider");
  EXPECT_EQ(wait_status(*f.engine, run.id, RunStatus::queued).status, RunStatus::queued);
  std::this_thread::sleep_for(30ms);
  EXPECT_EQ(calls.load(), 1);  // not before its time
  f.clock->advance_ms(1000);
  ASSERT_TRUE(eventually([&] { return f.events_of(run.id, "step.retrying").size() == 2; }));
  EXPECT_EQ(f.events_of(run.id, "step.retrying")[1].data.at("delay_ms").as_int64(), 2000);
  f.clock->advance_ms(2000);
  auto done = wait_finished(*f.engine, run.id);
  ASSERT_EQ(done.status, RunStatus::completed) << boost::json::serialize(done.error);
  EXPECT_EQ(calls.load(), 3);
}

TEST(Retry, FatalErrorIsNotRetried) {
  Fixture f;
  std::atomic<int> calls{0};
  f.engine->register_workflow(
      "auth",
      [&](Context& ctx, const Json&) -> Json {
        return ctx.step("call", [&]() -> Json {
          ++calls;
          throw Error(ErrorCode::step_failed, "401 invalid key", ErrorClass::fatal);
        });
      },
      WorkflowOptions{.retry = policy(5, 10, 2.0, 100)});
  auto done = wait_finished(*f.engine, f.engine->start("auth", boost::json::object{}).id);
  ASSERT_EQ(done.status, RunStatus::failed);
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(done.error.at("class").as_string(), "fatal");
  EXPECT_TRUE(f.events_of(done.id, "step.retrying").empty());
}

TEST(Retry, RateLimitedRetryAfterReplacesTheBackoff) {
  Fixture f;
  std::atomic<int> calls{0};
  f.engine->register_workflow("limited", [&](Context& ctx, const Json&) -> Json {
    RetryPolicy p = policy(3, 10, 2.0, 100);
    return ctx.step("call", [&]() -> Json {
      if (++calls == 1) {
        throw Error(ErrorCode::step_failed, "429 slow down", ErrorClass::rate_limited, 7000);
      }
      return Json("ok");
    }, p);
  });
  auto run = f.engine->start("limited", boost::json::object{});
  ASSERT_TRUE(eventually([&] { return f.events_of(run.id, "step.retrying").size() == 1; }));
  EXPECT_EQ(f.events_of(run.id, "step.retrying")[0].data.at("delay_ms").as_int64(), 7000);
  f.clock->advance_ms(6999);
  std::this_thread::sleep_for(30ms);
  EXPECT_EQ(calls.load(), 1);
  f.clock->advance_ms(1);
  EXPECT_EQ(wait_finished(*f.engine, run.id).status, RunStatus::completed);
  EXPECT_EQ(calls.load(), 2);
}

TEST(Retry, ExhaustedAttemptsFailTheRunAndRetryStartsThemAfresh) {
  Fixture f;
  std::atomic<int> calls{0};
  std::atomic<bool> healthy{false};
  f.engine->register_workflow(
      "down",
      [&](Context& ctx, const Json&) -> Json {
        ctx.step("before", [] { return Json(1); });
        return ctx.step("call", [&]() -> Json {
          ++calls;
          if (!healthy) throw Error(ErrorCode::step_failed, "connection reset", ErrorClass::retryable);
          return Json("ok");
        });
      },
      WorkflowOptions{.retry = policy(2, 100, 2.0, 1000, false)});
  auto run = f.engine->start("down", boost::json::object{});
  ASSERT_TRUE(eventually([&] { return f.events_of(run.id, "step.retrying").size() == 1; }));
  f.clock->advance_ms(100);
  auto failed = wait_finished(*f.engine, run.id);
  ASSERT_EQ(failed.status, RunStatus::failed);
  EXPECT_EQ(failed.error.at("step").as_string(), "call");
  EXPECT_EQ(failed.error.at("message").as_string(), "connection reset");
  EXPECT_EQ(calls.load(), 2);
  EXPECT_EQ(f.events_of(run.id, "step.failed").at(0).data.at("attempt").as_int64(), 2);
  healthy = true;
  f.engine->retry(run.id);
  EXPECT_EQ(wait_finished(*f.engine, run.id).status, RunStatus::completed);
  EXPECT_EQ(calls.load(), 3);
}

TEST(Retry, AttemptCountsSurviveARestart) {
  TempDir dir;
  auto clock = std::make_shared<ManualClock>();
  std::atomic<int> calls{0};
  auto open = [&] {
    auto o = fast_options(dir.file("retry.db"));
    o.clock = clock;
    o.random01 = [] { return 1.0; };
    auto engine = Engine::open(o);
    engine->launch();
    engine->register_workflow(
        "down",
        [&](Context& ctx, const Json&) -> Json {
          return ctx.step("call", [&]() -> Json {
            ++calls;
            throw Error(ErrorCode::step_failed, "still down", ErrorClass::retryable);
          });
        },
        WorkflowOptions{.retry = policy(2, 500, 2.0, 1000, false)});
    return engine;
  };
  std::string id;
  {
    auto engine = open();
    id = engine->start("down", boost::json::object{}).id;
    ASSERT_TRUE(eventually([&] {
      for (auto& e : engine->events(id, 0)) {
        if (e.type == "run.queued") return true;
      }
      return false;
    }));
  }
  clock->advance_ms(500);
  auto engine = open();
  auto done = wait_finished(*engine, id);
  ASSERT_EQ(done.status, RunStatus::failed);  // attempt 2 of 2, counted across the restart
  EXPECT_EQ(calls.load(), 2);
}

TEST(DeadLetter, FailedRunsAreListedByClassAndTimeAndRetriedByFilter) {
  Fixture f;
  std::atomic<bool> healthy{false};
  auto failing = [&](ErrorClass cls) {
    return [&, cls](Context& ctx, const Json&) -> Json {
      return ctx.step("call", [&]() -> Json {
        if (!healthy) throw Error(ErrorCode::step_failed, "down", cls);
        return Json("ok");
      });
    };
  };
  f.engine->register_workflow("pages", failing(ErrorClass::retryable));
  f.engine->register_workflow("auth", failing(ErrorClass::fatal));
  std::vector<std::string> pages, auth;
  for (int i = 0; i < 3; ++i) pages.push_back(f.engine->start("pages", boost::json::object{}).id);
  int64_t between = f.clock->now_ms() + 1;
  for (auto& id : pages) wait_finished(*f.engine, id);
  f.clock->advance_ms(10);
  for (int i = 0; i < 2; ++i) auth.push_back(f.engine->start("auth", boost::json::object{}).id);
  for (auto& id : auth) wait_finished(*f.engine, id);

  RunFilter failed;
  failed.status = RunStatus::failed;
  EXPECT_EQ(f.engine->list(failed).runs.size(), 5u);
  RunFilter fatal = failed;
  fatal.error_class = ErrorClass::fatal;
  auto page = f.engine->list(fatal);
  ASSERT_EQ(page.runs.size(), 2u);
  EXPECT_EQ(page.runs[0].id, auth[0]);
  RunFilter late = failed;
  late.finished_after_ms = between;
  EXPECT_EQ(f.engine->list(late).runs.size(), 2u);
  RunFilter early = failed;
  early.finished_before_ms = between;
  EXPECT_EQ(f.engine->list(early).runs.size(), 3u);

  healthy = true;
  RunFilter by_workflow;
  by_workflow.workflow = "pages";
  EXPECT_EQ(f.engine->retry_failed(by_workflow), 3u);
  for (auto& id : pages) EXPECT_EQ(wait_finished(*f.engine, id).status, RunStatus::completed);
  for (auto& id : auth) EXPECT_EQ(f.engine->get(id).status, RunStatus::failed);

  RunFilter wrong;
  wrong.status = RunStatus::completed;
  auto e = error_of([&] { f.engine->retry_failed(wrong); });
  EXPECT_EQ(e.code(), ErrorCode::invalid_argument);
  EXPECT_STREQ(e.what(), "retry by filter takes failed runs only; the filter asks for completed runs");
}
