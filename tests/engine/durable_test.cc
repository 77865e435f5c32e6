// Memoized steps, durable sleep, signals, child runs, cancellation and retry.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>

#include "support/test_support.h"

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
    engine = Engine::open(o);
    engine->launch();
  }
};

}  // namespace

TEST(Durable, SleepParksWithoutAThreadAndResumesOnTheTimer) {
  Fixture f;
  std::atomic<int> before{0}, after{0}, executions{0};
  f.engine->register_workflow("nap", [&](Context& ctx, const Json&) -> Json {
    ++executions;
    ctx.step("before", [&] { ++before; return Json(1); });
    ctx.sleep("nap", 60s);
    ctx.step("after", [&] { ++after; return Json(2); });
    return nullptr;
  });
  auto run = f.engine->start("nap", boost::json::object{});
  auto parked = wait_status(*f.engine, run.id, RunStatus::sleeping);
  ASSERT_EQ(parked.status, RunStatus::sleeping);
  EXPECT_EQ(after.load(), 0);
  f.clock->advance_ms(59'000);
  std::this_thread::sleep_for(30ms);
  EXPECT_EQ(f.engine->get(run.id).status, RunStatus::sleeping);
  f.clock->advance_ms(1'000);
  auto done = wait_finished(*f.engine, run.id);
  EXPECT_EQ(done.status, RunStatus::completed);
  EXPECT_EQ(before.load(), 1);  // memoized on the second execution
  EXPECT_EQ(after.load(), 1);
  EXPECT_EQ(executions.load(), 2);
}

TEST(Durable, SignalSentBeforeTheWaitIsNotLost) {
  Fixture f;
  std::atomic<bool> release{false};
  f.engine->register_workflow("approve", [&](Context& ctx, const Json&) -> Json {
    ctx.step("slow", [&] {
      while (!release) std::this_thread::sleep_for(1ms);
      return Json(nullptr);
    });
    auto got = ctx.wait_for_signal("approve");
    return boost::json::object{{"got", *got}};
  });
  auto run = f.engine->start("approve", boost::json::object{});
  wait_status(*f.engine, run.id, RunStatus::running);
  f.engine->signal(run.id, "approve", boost::json::object{{"ok", true}});
  release = true;
  auto done = wait_finished(*f.engine, run.id);
  ASSERT_EQ(done.status, RunStatus::completed) << boost::json::serialize(done.error);
  EXPECT_EQ(done.output.at("got").at("ok").as_bool(), true);
}

TEST(Durable, SignalAfterTheWaitWakesTheRun) {
  Fixture f;
  f.engine->register_workflow("approve", [&](Context& ctx, const Json&) -> Json {
    auto first = ctx.wait_for_signal("edit");
    auto second = ctx.wait_for_signal("edit");
    return boost::json::array{*first, *second};
  });
  auto run = f.engine->start("approve", boost::json::object{});
  wait_status(*f.engine, run.id, RunStatus::waiting);
  f.engine->signal(run.id, "edit", Json(1));
  f.engine->signal(run.id, "edit", Json(2));
  auto done = wait_finished(*f.engine, run.id);
  ASSERT_EQ(done.status, RunStatus::completed) << boost::json::serialize(done.error);
  EXPECT_EQ(boost::json::serialize(done.output), "[1,2]");
}

// The signal's commit records the wait's outcome (the step completed, the
// signal consumed): the woken execution goes past its wait on replay with no
// write of its own before the run's end.
TEST(Durable, ASignalCompletesTheWaitItSatisfiesInItsOwnCommit) {
  TempDir dir;
  std::string store = test_store(dir.file("wait.db"));
  auto workflow = [](Context& ctx, const Json&) -> Json {
    return *ctx.wait_for_signal("approve", 3600s);
  };
  std::string run_id;
  {
    auto parked = Engine::open(fast_options(store));
    parked->register_workflow("approve", workflow);
    parked->launch();
    run_id = parked->start("approve", boost::json::object{}).id;
    ASSERT_EQ(wait_status(*parked, run_id, RunStatus::waiting).status, RunStatus::waiting);
    parked->close();
  }
  // Not launched: nothing executes the run after the signal.
  auto engine = Engine::open(fast_options(store));
  int64_t before = engine->snapshot(run_id).last_event_id;
  engine->signal(run_id, "approve", boost::json::object{{"ok", 1}});
  auto snap = engine->snapshot(run_id);
  EXPECT_EQ(snap.run.status, RunStatus::queued);
  ASSERT_EQ(snap.steps.size(), 1u);
  EXPECT_EQ(snap.steps[0].kind, "signal");
  EXPECT_EQ(snap.steps[0].status, "completed");
  EXPECT_EQ(boost::json::serialize(snap.steps[0].result), R"({"signal":{"ok":1}})");
  std::vector<std::string> types;
  for (const auto& e : engine->events(run_id, before)) types.push_back(e.type);
  EXPECT_EQ(types, (std::vector<std::string>{"signal.received", "step.completed", "run.resumed"}));
  // A second signal of that name, the wait already satisfied, stays in the mailbox.
  engine->signal(run_id, "approve", boost::json::object{{"ok", 2}});

  int64_t resumed = engine->snapshot(run_id).last_event_id;
  engine->register_workflow("approve", workflow);
  engine->launch();
  auto done = wait_finished(*engine, run_id);
  ASSERT_EQ(done.status, RunStatus::completed) << boost::json::serialize(done.error);
  EXPECT_EQ(boost::json::serialize(done.output), R"({"ok":1})");
  types.clear();
  for (const auto& e : engine->events(run_id, resumed)) types.push_back(e.type);
  EXPECT_EQ(types, (std::vector<std::string>{"run.started", "run.completed"}));
}

// A wait that timed out before the run executed again is not satisfied by a
// signal sent after the timer woke the run: the signal stays in the mailbox.
TEST(Durable, ASignalAfterTheTimeoutWokeTheRunDoesNotCompleteTheWait) {
  Fixture f;
  f.engine->register_workflow("w", [&](Context& ctx, const Json&) -> Json {
    auto got = ctx.wait_for_signal("reply", 10s);
    if (got) return *got;
    return *ctx.wait_for_signal("late");
  });
  auto run = f.engine->start("w", boost::json::object{});
  wait_status(*f.engine, run.id, RunStatus::waiting);
  f.clock->advance_ms(10'001);
  ASSERT_TRUE(eventually([&] {
    auto snap = f.engine->snapshot(run.id);
    return snap.steps.size() == 2 && snap.run.status == RunStatus::waiting;
  }));
  f.engine->signal(run.id, "reply", Json(1));  // too late for the first wait
  EXPECT_EQ(f.engine->get(run.id).status, RunStatus::waiting);
  auto snap = f.engine->snapshot(run.id);
  EXPECT_EQ(boost::json::serialize(snap.steps[0].result), R"({"timed_out":true})");
  EXPECT_EQ(snap.steps[1].status, "pending");
  f.engine->signal(run.id, "late", Json(2));
  auto done = wait_finished(*f.engine, run.id);
  ASSERT_EQ(done.status, RunStatus::completed) << boost::json::serialize(done.error);
  EXPECT_EQ(boost::json::serialize(done.output), "2");
}

TEST(Durable, WaitForSignalTimesOut) {
  Fixture f;
  f.engine->register_workflow("w", [&](Context& ctx, const Json&) -> Json {
    auto got = ctx.wait_for_signal("reply", 10s);
    return Json(got.has_value());
  });
  auto run = f.engine->start("w", boost::json::object{});
  wait_status(*f.engine, run.id, RunStatus::waiting);
  f.clock->advance_ms(10'001);
  auto done = wait_finished(*f.engine, run.id);
  ASSERT_EQ(done.status, RunStatus::completed);
  EXPECT_EQ(done.output.as_bool(), false);
}

TEST(Durable, SignalToAFinishedRunIsRefused) {
  Fixture f;
  f.engine->register_workflow("quick", [](Context&, const Json&) -> Json { return nullptr; });
  auto run = f.engine->start("quick", boost::json::object{});
  wait_finished(*f.engine, run.id);
  auto e = error_of([&] { f.engine->signal(run.id, "x", nullptr); });
  EXPECT_EQ(e.code(), ErrorCode::invalid_state);
  EXPECT_EQ(std::string(e.what()),
            "run '" + run.id + "' is already completed; signals can only be sent to unfinished runs");
  e = error_of([&] { f.engine->signal("missing", "x", nullptr); });
  EXPECT_EQ(e.code(), ErrorCode::not_found);
  e = error_of([&] { f.engine->signal(run.id, "", nullptr); });
  EXPECT_STREQ(e.what(), "signal name is empty");
}

TEST(Durable, InvokeRunsAChildAndReturnsItsOutput) {
  Fixture f;
  f.engine->register_workflow("child", [](Context& ctx, const Json& input) -> Json {
    return ctx.step("double", [&] { return Json(input.at("n").as_int64() * 2); });
  });
  f.engine->register_workflow("parent", [](Context& ctx, const Json&) -> Json {
    auto a = ctx.invoke("first", "child", boost::json::object{{"n", 2}});
    auto b = ctx.invoke("second", "child", boost::json::object{{"n", a.as_int64()}});
    return b;
  });
  auto run = f.engine->start("parent", boost::json::object{});
  auto done = wait_finished(*f.engine, run.id);
  ASSERT_EQ(done.status, RunStatus::completed) << boost::json::serialize(done.error);
  EXPECT_EQ(done.output.as_int64(), 8);
  RunFilter children;
  children.workflow = "child";
  auto page = f.engine->list(children);
  ASSERT_EQ(page.runs.size(), 2u);
  EXPECT_EQ(page.runs[0].parent_id, run.id);
}

TEST(Durable, FailedChildFailsTheInvokeWithItsMessage) {
  Fixture f;
  f.engine->register_workflow("child", [](Context& ctx, const Json&) -> Json {
    ctx.step("boom", []() -> Json { throw Error(ErrorCode::step_failed, "no ink left", ErrorClass::fatal); });
    return nullptr;
  });
  f.engine->register_workflow("parent", [](Context& ctx, const Json&) -> Json {
    try {
      ctx.invoke("kid", "child", boost::json::object{});
    } catch (const Error& e) {
      return Json(e.what());
    }
    return nullptr;
  });
  auto run = f.engine->start("parent", boost::json::object{});
  auto done = wait_finished(*f.engine, run.id);
  ASSERT_EQ(done.status, RunStatus::completed) << boost::json::serialize(done.error);
  EXPECT_NE(std::string(done.output.as_string()).find("failed: no ink left"), std::string::npos)
      << done.output;
}

TEST(Durable, InvokeOfAnUnknownWorkflowFails) {
  Fixture f;
  f.engine->register_workflow("parent", [](Context& ctx, const Json&) -> Json {
    return ctx.invoke("kid", "ghost", boost::json::object{});
  });
  auto done = wait_finished(*f.engine, f.engine->start("parent", boost::json::object{}).id);
  ASSERT_EQ(done.status, RunStatus::failed);
  EXPECT_EQ(done.error.at("message").as_string(),
            "workflow 'ghost' is not registered by any engine on this store");
}

TEST(Durable, ReplayInADifferentOrderFailsNamingTheStep) {
  Fixture f;
  std::atomic<int> executions{0};
  f.engine->register_workflow("fickle", [&](Context& ctx, const Json&) -> Json {
    bool first = executions++ == 0;
    ctx.step(first ? "outline" : "title", [] { return Json(1); });
    ctx.sleep("pause", 1s);
    return nullptr;
  });
  auto run = f.engine->start("fickle", boost::json::object{});
  wait_status(*f.engine, run.id, RunStatus::sleeping);
  f.clock->advance_ms(1'000);
  auto done = wait_finished(*f.engine, run.id);
  ASSERT_EQ(done.status, RunStatus::failed);
  EXPECT_EQ(done.error.at("code").as_string(), "nondeterminism");
  EXPECT_EQ(done.error.at("step").as_string(), "title");
  EXPECT_EQ(done.error.at("message").as_string(),
            "replay of run '" + run.id +
                "' called step 'title' at position 0, but the run recorded step 'outline' there; a "
                "workflow must call its steps in the same order every time");
}

TEST(Durable, FailedRunRetriesOnlyTheFailedAndLaterSteps) {
  Fixture f;
  std::atomic<int> a_calls{0}, b_calls{0};
  std::atomic<bool> broken{true};
  f.engine->register_workflow("flaky", [&](Context& ctx, const Json&) -> Json {
    ctx.step("a", [&] { ++a_calls; return Json(1); });
    ctx.step("b", [&]() -> Json {
      ++b_calls;
      if (broken) throw Error(ErrorCode::step_failed, "provider down", ErrorClass::fatal);
      return Json(2);
    });
    return Json("done");
  });
  auto run = f.engine->start("flaky", boost::json::object{});
  auto failed = wait_finished(*f.engine, run.id);
  ASSERT_EQ(failed.status, RunStatus::failed);
  EXPECT_EQ(failed.error.at("step").as_string(), "b");
  EXPECT_EQ(failed.error.at("message").as_string(), "provider down");
  EXPECT_EQ(failed.error.at("class").as_string(), "fatal");
  broken = false;
  f.engine->retry(run.id);
  auto done = wait_finished(*f.engine, run.id);
  ASSERT_EQ(done.status, RunStatus::completed);
  EXPECT_EQ(a_calls.load(), 1);
  EXPECT_EQ(b_calls.load(), 2);
  auto e = error_of([&] { f.engine->retry(run.id); });
  EXPECT_EQ(e.code(), ErrorCode::invalid_state);
  EXPECT_EQ(std::string(e.what()), "run '" + run.id + "' is completed; only failed runs can be retried");
}

TEST(Durable, CancelWhileWaitingAndWhileRunning) {
  Fixture f;
  f.engine->register_workflow("wait", [](Context& ctx, const Json&) -> Json {
    ctx.invoke("kid", "forever", boost::json::object{});
    return nullptr;
  });
  f.engine->register_workflow("forever", [](Context& ctx, const Json&) -> Json {
    ctx.wait_for_signal("never");
    return nullptr;
  });
  std::atomic<bool> saw_cancel{false}, spinning{false};
  std::atomic<int> later_steps{0};
  f.engine->register_workflow("busy", [&](Context& ctx, const Json&) -> Json {
    ctx.step("spin", [&] {
      spinning = true;
      while (!ctx.cancelled()) std::this_thread::sleep_for(1ms);
      saw_cancel = true;
      return Json(nullptr);
    });
    ctx.step("later", [&] { ++later_steps; return Json(nullptr); });
    return nullptr;
  });
  auto parent = f.engine->start("wait", boost::json::object{});
  wait_status(*f.engine, parent.id, RunStatus::waiting);
  RunFilter kids;
  kids.workflow = "forever";
  ASSERT_TRUE(eventually([&] {
    auto page = f.engine->list(kids);
    return page.runs.size() == 1 && page.runs[0].status == RunStatus::waiting;
  }));
  auto child_id = f.engine->list(kids).runs[0].id;
  f.engine->cancel(parent.id);
  EXPECT_EQ(f.engine->get(parent.id).status, RunStatus::cancelled);
  EXPECT_EQ(f.engine->get(child_id).status, RunStatus::cancelled);

  auto busy = f.engine->start("busy", boost::json::object{});
  wait_status(*f.engine, busy.id, RunStatus::running);
  ASSERT_TRUE(eventually([&] { return spinning.load(); }));
  f.engine->cancel(busy.id);
  EXPECT_TRUE(eventually([&] { return saw_cancel.load(); }));
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(later_steps.load(), 0);
  EXPECT_EQ(f.engine->get(busy.id).status, RunStatus::cancelled);
  // Nothing the cancelled execution did afterwards lands in the history.
  auto history = f.engine->events(busy.id, 0);
  EXPECT_EQ(history.back().type, "run.cancelled");
  EXPECT_TRUE(f.engine->snapshot(busy.id).steps.empty());

  auto e = error_of([&] { f.engine->cancel(busy.id); });
  EXPECT_EQ(e.code(), ErrorCode::invalid_state);
  EXPECT_EQ(std::string(e.what()), "run '" + busy.id + "' is already cancelled; it cannot be cancelled");
}

TEST(Durable, ProgressArtifactsAndCustomEvents) {
  Fixture f;
  f.engine->register_workflow("book", [](Context& ctx, const Json&) -> Json {
    ctx.progress(boost::json::object{{"pages_done", 0}});
    ctx.artifact("page/1", boost::json::object{{"text", "draft"}});
    ctx.artifact("page/1", boost::json::object{{"text", "final"}});
    ctx.emit("critique", boost::json::object{{"score", 7}});
    ctx.progress(boost::json::object{{"pages_done", 1}});
    return nullptr;
  });
  auto run = f.engine->start("book", boost::json::object{});
  ASSERT_EQ(wait_finished(*f.engine, run.id).status, RunStatus::completed);
  auto info = f.engine->get(run.id);
  EXPECT_EQ(info.progress.at("pages_done").as_int64(), 1);
  auto all = f.engine->artifacts(run.id);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].version, 1);
  EXPECT_EQ(all[1].version, 2);
  EXPECT_EQ(all[1].value.at("text").as_string(), "final");
  auto snap = f.engine->snapshot(run.id);
  ASSERT_EQ(snap.artifacts.size(), 1u);
  EXPECT_EQ(snap.artifacts[0].version, 2);
  std::vector<std::string> types;
  for (const auto& e : f.engine->events(run.id, 0)) types.push_back(e.type);
  std::vector<std::string> expected{"run.created", "run.started", "progress", "artifact",
                                    "artifact", "critique", "progress", "run.completed"};
  EXPECT_EQ(types, expected);
}

TEST(Durable, ReservedEventTypesAndBadNamesAreRefused) {
  Fixture f;
  std::mutex m;
  std::vector<std::string> errors;
  f.engine->register_workflow("bad", [&](Context& ctx, const Json&) -> Json {
    auto record = [&](auto fn) {
      try {
        fn();
      } catch (const Error& e) {
        std::lock_guard lock(m);
        errors.push_back(e.what());
      }
    };
    record([&] { ctx.emit("run.completed", nullptr); });
    record([&] { ctx.artifact("", nullptr); });
    record([&] { ctx.chunk(std::string(129, 's'), "x"); });
    record([&] { ctx.step("", [] { return Json(nullptr); }); });
    return nullptr;
  });
  ASSERT_EQ(wait_finished(*f.engine, f.engine->start("bad", boost::json::object{}).id).status,
            RunStatus::completed);
  ASSERT_EQ(errors.size(), 4u);
  EXPECT_EQ(errors[0], "event type 'run.completed' is reserved for storyloom's own events");
  EXPECT_EQ(errors[1], "artifact key is empty");
  EXPECT_NE(errors[2].find("stream name 'sssss"), std::string::npos) << errors[2];
  EXPECT_EQ(errors[3], "step name is empty");
}

TEST(Durable, HostDrivenStepsCompleteFromAnotherThread) {
  Fixture f;
  std::vector<std::thread> threads;
  std::mutex m;
  f.engine->register_workflow("host", [&](Execution exec) {
    // An event-loop host: hand the execution to "its" thread and return at once.
    auto shared = std::make_shared<Execution>(std::move(exec));
    std::lock_guard lock(m);
    threads.emplace_back([shared] {
      auto begin = shared->begin_step("fetch");
      if (!begin.memoized) shared->complete_step(begin.seq, Json("fetched"));
      auto wait = shared->sleep("pause", 5s);
      if (wait.state == WaitState::parked) return shared->finish_parked();
      shared->finish_completed(Json("done"));
    });
  });
  auto run = f.engine->start("host", boost::json::object{});
  wait_status(*f.engine, run.id, RunStatus::sleeping);
  f.clock->advance_ms(5'000);
  auto done = wait_finished(*f.engine, run.id);
  EXPECT_EQ(done.status, RunStatus::completed);
  EXPECT_EQ(f.engine->snapshot(run.id).steps.at(0).result.as_string(), "fetched");
  std::lock_guard lock(m);
  for (auto& t : threads) t.join();
}

TEST(Durable, ParkingWithoutAWaitFailsTheRun) {
  Fixture f;
  f.engine->register_workflow("confused", [](Execution exec) { exec.finish_parked(); });
  auto done = wait_finished(*f.engine, f.engine->start("confused", boost::json::object{}).id);
  ASSERT_EQ(done.status, RunStatus::failed);
  EXPECT_NE(std::string(done.error.at("message").as_string()).find("without a pending sleep"),
            std::string::npos);
}

TEST(Durable, TimersSurviveARestart) {
  TempDir dir;
  auto clock = std::make_shared<ManualClock>();
  std::string id;
  {
    auto o = fast_options(dir.file("t.db"));
    o.clock = clock;
    auto engine = Engine::open(o);
    engine->launch();
    engine->register_workflow("nap", [](Context& ctx, const Json&) -> Json {
      ctx.sleep("nap", 1h);
      return Json("rested");
    });
    id = engine->start("nap", boost::json::object{}).id;
    wait_status(*engine, id, RunStatus::sleeping);
  }
  clock->advance_ms(3'600'000);
  auto o = fast_options(dir.file("t.db"));
  o.clock = clock;
  auto engine = Engine::open(o);
  engine->launch();
  engine->register_workflow("nap", [](Context& ctx, const Json&) -> Json {
    ctx.sleep("nap", 1h);
    return Json("rested");
  });
  auto done = wait_finished(*engine, id);
  EXPECT_EQ(done.status, RunStatus::completed);
  EXPECT_EQ(done.output.as_string(), "rested");
}

TEST(Durable, DroppedExecutionFailsTheRunInsteadOfHanging) {
  Fixture f;
  f.engine->register_workflow("careless", [](Execution) {});
  auto done = wait_finished(*f.engine, f.engine->start("careless", boost::json::object{}).id);
  ASSERT_EQ(done.status, RunStatus::failed);
  EXPECT_NE(std::string(done.error.at("message").as_string()).find("without finishing it"),
            std::string::npos);
}

TEST(Durable, CloseStopsExecutionsAndRequeuesTheirRuns) {
  TempDir dir;
  std::atomic<int> first_calls{0}, spins{0};
  std::atomic<bool> in_first{false};
  std::string polite_id, stubborn_id;
  {
    auto o = fast_options(dir.file("close.db"));
    o.drain_timeout = 200ms;
    auto engine = Engine::open(o);
    engine->launch();
    // Finishes its step during the drain: the result is kept, the next step refused.
    engine->register_workflow("polite", [&](Context& ctx, const Json&) -> Json {
      ctx.step("first", [&] {
        ++first_calls;
        in_first = true;
        while (!ctx.cancelled()) std::this_thread::sleep_for(1ms);
        return Json("kept");
      });
      return ctx.step("second", [] { return Json("second"); });
    });
    // Ignores cancellation longer than the drain: abandoned and requeued.
    engine->register_workflow("stubborn", [&](Context& ctx, const Json&) -> Json {
      ctx.step("spin", [&] {
        ++spins;
        std::this_thread::sleep_for(400ms);
        return Json(nullptr);
      });
      return Json("never in the first engine");
    });
    polite_id = engine->start("polite", boost::json::object{}).id;
    stubborn_id = engine->start("stubborn", boost::json::object{}).id;
    ASSERT_TRUE(eventually([&] { return in_first.load() && spins.load() == 1; }));
    engine->close();
    EXPECT_EQ(engine->get(polite_id).status, RunStatus::queued);
    EXPECT_EQ(engine->get(stubborn_id).status, RunStatus::queued);
  }
  auto engine = Engine::open(fast_options(dir.file("close.db")));
  engine->launch();
  EXPECT_EQ(engine->snapshot(polite_id).steps.size(), 1u);  // "first" survived the close
  engine->register_workflow("polite", [&](Context& ctx, const Json&) -> Json {
    auto first = ctx.step("first", [&] { ++first_calls; return Json("redone"); });
    ctx.step("second", [] { return Json("second"); });
    return first;
  });
  engine->register_workflow("stubborn", [&](Context& ctx, const Json&) -> Json {
    ctx.step("spin", [&] { ++spins; return Json(nullptr); });
    return Json("resumed");
  });
  EXPECT_EQ(wait_finished(*engine, polite_id).output.as_string(), "kept");
  EXPECT_EQ(first_calls.load(), 1);
  EXPECT_EQ(wait_finished(*engine, stubborn_id).output.as_string(), "resumed");
}
