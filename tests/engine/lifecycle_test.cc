// Lifecycle reports (storyloom/lifecycle.h): their order, their fields, and
// the caller's traceparent kept with the run across a restart.
#include <gtest/gtest.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "support/lifecycle_recorder.h"
#include "support/test_support.h"

using namespace storyloom;
using namespace storyloom::testing;

namespace {

constexpr const char* kTraceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

using Recorder = LifecycleRecorder;

}  // namespace

TEST(Lifecycle, ReportsExecutionsAndStepAttemptsInOrder) {
  auto engine = Engine::open(fast_options());
  Recorder recorder;
  engine->set_lifecycle_callback(recorder.callback());
  int tries = 0;
  RetryPolicy twice;
  twice.max_attempts = 2;
  twice.initial_backoff = std::chrono::milliseconds(1);
  engine->register_workflow("flaky", [&](Context& ctx, const Json&) -> Json {
    ctx.step("a", [&] {
      if (++tries == 1) throw Error(ErrorCode::step_failed, "first try fails", ErrorClass::retryable);
      return Json("ok");
    }, twice);
    return nullptr;
  });
  engine->launch();
  StartOptions options;
  options.trace_parent = kTraceParent;
  auto run = engine->start("flaky", boost::json::object{}, options);
  ASSERT_EQ(wait_finished(*engine, run.id).status, RunStatus::completed);
  ASSERT_TRUE(eventually([&] { return recorder.has_run_end("completed"); }));
  std::vector<std::string> expected = {
      "run.started",         "step.started a#1",  "step.failed a#1 retryable retry",
      "run.finished queued", "run.started",       "step.started a#2",
      "step.finished a#2",   "run.finished completed"};
  EXPECT_EQ(recorder.lines(), expected);
  // Only the first execution is the run's start; the one after the retry's
  // backoff is not.
  auto events = recorder.events();
  EXPECT_TRUE(events[0].first);
  EXPECT_FALSE(events[4].first);
  EXPECT_EQ(to_json(events[0]).at("first"), true);
  EXPECT_EQ(to_json(events[4]).at("first"), false);
  EXPECT_FALSE(to_json(events[1]).as_object().contains("first"));
  for (const auto& e : recorder.events()) {
    EXPECT_EQ(e.run_id, run.id);
    EXPECT_EQ(e.workflow, "flaky");
    EXPECT_EQ(e.trace_parent, kTraceParent);
    EXPECT_GT(e.started_at_ms, 0);
    if (e.kind != LifecycleKind::run_started && e.kind != LifecycleKind::step_started) {
      EXPECT_GE(e.ended_at_ms, e.started_at_ms);
    }
    if (e.seq >= 0) {
      EXPECT_EQ(e.step_kind, "step");
    }
  }
}

TEST(Lifecycle, ReportsAFailedRunWithItsErrorClassAndNoMessage) {
  auto engine = Engine::open(fast_options());
  Recorder recorder;
  engine->set_lifecycle_callback(recorder.callback());
  engine->register_workflow("bad", [](Context& ctx, const Json&) -> Json {
    ctx.step("x", [&]() -> Json {
      throw Error(ErrorCode::step_failed, "secret-ish detail", ErrorClass::fatal);
    });
    return nullptr;
  });
  engine->launch();
  auto run = engine->start("bad", boost::json::object{});
  ASSERT_EQ(wait_finished(*engine, run.id).status, RunStatus::failed);
  ASSERT_TRUE(eventually([&] { return recorder.has_run_end("failed"); }));
  std::vector<std::string> expected = {"run.started", "step.started x#1", "step.failed x#1 fatal",
                                       "run.finished failed fatal"};
  EXPECT_EQ(recorder.lines(), expected);
  for (const auto& e : recorder.events()) {
    EXPECT_EQ(e.trace_parent, "");  // none given
    std::string text = boost::json::serialize(to_json(e));
    EXPECT_EQ(text.find("secret-ish"), std::string::npos) << text;
  }
}

TEST(Lifecycle, JsonFormHasTheDocumentedFields) {
  LifecycleEvent e;
  e.kind = LifecycleKind::step_failed;
  e.run_id = "r1";
  e.workflow = "w";
  e.trace_parent = kTraceParent;
  e.step = "s";
  e.seq = 2;
  e.step_kind = "llm";
  e.attempt = 3;
  e.started_at_ms = 1000;
  e.ended_at_ms = 1250;
  e.error_class = "rate_limited";
  e.will_retry = true;
  EXPECT_EQ(boost::json::serialize(to_json(e)),
            std::string(R"({"type":"step.failed","run_id":"r1","workflow":"w","trace_parent":")") +
                kTraceParent +
                R"(","started_at_ms":1000,"ended_at_ms":1250,"duration_ms":250,"step":"s",)"
                R"("seq":2,"kind":"llm","attempt":3,"error_class":"rate_limited","will_retry":true})");
}

TEST(Lifecycle, TraceParentIsKeptWithTheRunAcrossARestart) {
  TempDir dir;
  std::string store = test_store(dir.file("trace.db"));
  auto workflow = [](Context& ctx, const Json&) -> Json {
    ctx.step("before", [] { return Json(1); });
    ctx.wait_for_signal("go");
    ctx.step("after", [] { return Json(2); });
    return nullptr;
  };
  std::string run_id;
  {
    auto engine = Engine::open(fast_options(store));
    engine->register_workflow("parked", workflow);
    engine->launch();
    StartOptions options;
    options.trace_parent = kTraceParent;
    run_id = engine->start("parked", boost::json::object{}, options).id;
    wait_status(*engine, run_id, RunStatus::waiting);
  }
  auto engine = Engine::open(fast_options(store));
  EXPECT_EQ(engine->get(run_id).trace_parent, kTraceParent);
  EXPECT_EQ(boost::json::serialize(to_json(engine->get(run_id)).at("trace_parent")),
            std::string("\"") + kTraceParent + "\"");
  Recorder recorder;
  engine->set_lifecycle_callback(recorder.callback());
  engine->register_workflow("parked", workflow);
  engine->launch();
  engine->signal(run_id, "go", nullptr);
  ASSERT_EQ(wait_finished(*engine, run_id).status, RunStatus::completed);
  ASSERT_TRUE(eventually([&] { return recorder.has_run_end("completed"); }));
  std::vector<std::string> expected = {"run.started", "step.started after#1", "step.finished after#1",
                                       "run.finished completed"};
  EXPECT_EQ(recorder.lines(), expected);
  for (const auto& e : recorder.events()) EXPECT_EQ(e.trace_parent, kTraceParent);
  EXPECT_FALSE(recorder.events()[0].first);  // started by the first process
}

TEST(Lifecycle, ChildRunInheritsItsParentsTraceParent) {
  auto engine = Engine::open(fast_options());
  engine->register_workflow("child", [](Context&, const Json&) -> Json { return 1; });
  engine->register_workflow("parent", [](Context& ctx, const Json&) -> Json {
    return ctx.invoke("kid", "child", boost::json::object{});
  });
  engine->launch();
  StartOptions options;
  options.trace_parent = kTraceParent;
  auto run = engine->start("parent", boost::json::object{}, options);
  ASSERT_EQ(wait_finished(*engine, run.id).status, RunStatus::completed);
  RunFilter filter;
  filter.workflow = "child";
  auto page = engine->list(filter);
  ASSERT_EQ(page.runs.size(), 1u);
  EXPECT_EQ(page.runs[0].trace_parent, kTraceParent);
}

TEST(Lifecycle, RefusesATraceParentThatIsNotW3C) {
  auto engine = Engine::open(fast_options());
  engine->register_workflow("w", [](Context&, const Json&) -> Json { return nullptr; });
  for (std::string bad : {"nonsense", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
                          "00-00000000000000000000000000000000-00f067aa0ba902b7-01"}) {
    StartOptions options;
    options.trace_parent = bad;
    auto e = error_of([&] { engine->start("w", boost::json::object{}, options); });
    EXPECT_EQ(e.code(), ErrorCode::invalid_argument);
    EXPECT_EQ(std::string(e.what()),
              "trace_parent '" + bad + "' is not a W3C traceparent (00-<32 hex>-<16 hex>-<2 hex>)");
  }
  EXPECT_TRUE(is_trace_parent(kTraceParent));
}

// A host may let go of its engine inside a lifecycle callback (Python's
// garbage collector can free an engine there): close() then runs on the
// reporter thread, and the engine's last reference goes with it. Before the
// reporter could detach itself, this aborted the process ("terminate called
// without an active exception").
TEST(Lifecycle, ACallbackMayCloseAndDestroyTheEngine) {
  auto engine = Engine::open(fast_options());
  engine->register_workflow("w", [](Context&, const Json&) -> Json { return 1; });
  std::mutex mutex;
  std::condition_variable done;
  bool destroyed = false;
  Engine* raw = engine.get();
  std::unique_ptr<Engine> held = std::move(engine);
  raw->set_lifecycle_callback([&](const LifecycleEvent&) {
    std::unique_lock lock(mutex);
    if (!held) return;  // a report queued before the close: dropped by it
    auto last = std::move(held);
    lock.unlock();
    last.reset();  // close() and ~Engine on the reporter thread
    lock.lock();
    destroyed = true;
    done.notify_all();
  });
  raw->start("w", boost::json::object{});
  raw->launch();  // the test thread's last use of the engine
  std::unique_lock lock(mutex);
  EXPECT_TRUE(done.wait_for(lock, std::chrono::seconds(20), [&] { return destroyed; }));
}
