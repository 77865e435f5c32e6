// The order of commits a workflow can rely on: a step's result is in the
// store before the workflow sees it, and no run executes before its engine is
// launched (so a recovered run finds every workflow its host registers).
#include <gtest/gtest.h>

#include <atomic>

#include "support/test_support.h"

using namespace storyloom;
using namespace storyloom::testing;
using namespace std::chrono_literals;

TEST(CommitOrder, InsideStepTwoAnotherConnectionSeesStepOne) {
  TempDir dir;
  std::string store = "sqlite:" + dir.file("order.db");
  auto engine = Engine::open(fast_options(store));
  auto reader = Engine::open(fast_options(store));  // its own connections, never launched
  engine->register_workflow("two", [&](Context& ctx, const Json&) -> Json {
    ctx.step("one", [] { return Json(41); });
    return ctx.step("two", [&] {
      auto snap = reader->snapshot(ctx.run_id());
      for (const auto& s : snap.steps) {
        if (s.name == "one" && s.status == "completed") return s.result;
      }
      return Json("step one not visible");
    });
  });
  engine->launch();
  for (int i = 0; i < 20; ++i) {
    auto run = wait_finished(*engine, engine->start("two", boost::json::object{}).id);
    ASSERT_EQ(run.status, RunStatus::completed) << boost::json::serialize(run.error);
    EXPECT_EQ(run.output, Json(41)) << "round " << i;
  }
}

TEST(CommitOrder, NothingExecutesBeforeLaunch) {
  auto engine = Engine::open(fast_options());
  std::atomic<int> calls{0};
  engine->register_workflow("w", [&](Context&, const Json&) -> Json {
    ++calls;
    return nullptr;
  });
  auto run = engine->start("w", boost::json::object{});
  engine->signal(run.id, "any", nullptr);  // starts, signals and reads work before launch
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(engine->get(run.id).status, RunStatus::queued);
  EXPECT_EQ(calls.load(), 0);
  engine->launch();
  engine->launch();  // idempotent
  EXPECT_EQ(wait_finished(*engine, run.id).status, RunStatus::completed);
  EXPECT_EQ(calls.load(), 1);
}

TEST(CommitOrder, LaunchAfterCloseIsRefused) {
  auto engine = Engine::open(fast_options());
  engine->close();
  auto e = error_of([&] { engine->launch(); });
  EXPECT_EQ(e.code(), ErrorCode::closed);
  EXPECT_STREQ(e.what(), "the engine is closed");
}

namespace {

// "parent" invokes "child" after a step that, in the first process, never ends.
void register_parent(Engine& engine, std::atomic<bool>* hold) {
  engine.register_workflow("parent", [hold](Context& ctx, const Json&) -> Json {
    ctx.step("prepare", [hold] {
      while (hold && *hold) std::this_thread::sleep_for(1ms);
      return Json("ready");
    });
    return ctx.invoke("sub", "child", boost::json::object{{"x", 2}});
  });
}

void register_child(Engine& engine) {
  engine.register_workflow("child", [](Context& ctx, const Json& input) -> Json {
    return ctx.step("double", [&] { return Json(input.at("x").as_int64() * 2); });
  });
}

}  // namespace

// A run recovered by a new process must wait until every workflow of the
// host is registered, in whichever order the host registers them.
TEST(CommitOrder, RecoveredRunInvokesAWorkflowRegisteredAfterItsOwn) {
  for (bool parent_first : {true, false}) {
    TempDir dir;
    std::string store = "sqlite:" + dir.file("restart.db");
    std::string run_id;
    {
      std::atomic<bool> hold{true};
      auto o = fast_options(store);
      o.drain_timeout = 20ms;
      auto engine = Engine::open(o);
      register_parent(*engine, &hold);
      register_child(*engine);
      engine->launch();
      run_id = engine->start("parent", boost::json::object{}).id;
      wait_status(*engine, run_id, RunStatus::running);
      std::thread release([&] {
        std::this_thread::sleep_for(100ms);
        hold = false;
      });
      engine->close();  // gives up on the step: the run goes back to the queue
      release.join();
    }
    auto engine = Engine::open(fast_options(store));
    if (parent_first) {
      register_parent(*engine, nullptr);
      std::this_thread::sleep_for(50ms);  // a moment in which nothing may execute
      register_child(*engine);
    } else {
      register_child(*engine);
      std::this_thread::sleep_for(50ms);
      register_parent(*engine, nullptr);
    }
    engine->launch();
    auto run = wait_finished(*engine, run_id);
    ASSERT_EQ(run.status, RunStatus::completed)
        << (parent_first ? "parent first: " : "child first: ") << boost::json::serialize(run.error);
    EXPECT_EQ(run.output, Json(4));
  }
}

TEST(CommitOrder, InvokeOfAWorkflowNoEngineKnowsIsNotFound) {
  auto engine = Engine::open(fast_options());
  engine->register_workflow("parent", [](Context& ctx, const Json&) -> Json {
    return ctx.invoke("sub", "nobody-has-this", boost::json::object{});
  });
  engine->launch();
  auto run = wait_finished(*engine, engine->start("parent", boost::json::object{}).id);
  ASSERT_EQ(run.status, RunStatus::failed);
  EXPECT_EQ(run.error.at("code"), "not_found");
  EXPECT_EQ(run.error.at("message"),
            "workflow 'nobody-has-this' is not registered by any engine on this store");
}
