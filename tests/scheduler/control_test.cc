// Controlling runs from outside: priorities, cancellation (one run, by
// filter), and rewind.
#include <gtest/gtest.h>

#include <thread>

#include "scheduler/sched_support.h"

using namespace storyloom;
using namespace storyloom::testing;
using namespace std::chrono_literals;

TEST(Priority, SetPriorityIsRefusedUnlessQueued) {
  auto engine = Engine::open(fast_options());
  engine->launch();
  Gate gate;
  engine->register_workflow("w", [&](Context& ctx, const Json&) -> Json {
    return ctx.step("s", [&] { gate.wait(); return Json(1); });
  });
  auto run = engine->start("w", boost::json::object{});
  ASSERT_EQ(wait_status(*engine, run.id, RunStatus::running).status, RunStatus::running);
  auto e = error_of([&] { engine->set_priority(run.id, 3); });
  EXPECT_EQ(e.code(), ErrorCode::invalid_state);
  EXPECT_EQ(std::string(e.what()),
            "run '" + run.id + "' is running; its priority can only be changed while it is queued");
  gate.open();
  wait_finished(*engine, run.id);
  EXPECT_EQ(error_of([&] { engine->set_priority("nope", 1); }).code(), ErrorCode::not_found);
}

TEST(Cancel, DuringAHostStepAndDuringASleep) {
  auto clock = std::make_shared<ManualClock>();
  auto o = fast_options();
  o.clock = clock;
  auto engine = Engine::open(o);
  engine->launch();
  std::atomic<bool> saw_cancel{false};
  std::atomic<int> after{0};
  engine->register_workflow("host", [&](Context& ctx, const Json&) -> Json {
    ctx.step("long", [&] {
      while (!ctx.cancelled()) std::this_thread::sleep_for(1ms);
      saw_cancel = true;
      return Json(1);
    });
    return ctx.step("next", [&] { ++after; return Json(2); });
  });
  engine->register_workflow("nap", [&](Context& ctx, const Json&) -> Json {
    ctx.sleep("nap", 60s);
    ++after;
    return nullptr;
  });
  auto host = engine->start("host", boost::json::object{});
  ASSERT_EQ(wait_status(*engine, host.id, RunStatus::running).status, RunStatus::running);
  auto nap = engine->start("nap", boost::json::object{});
  ASSERT_EQ(wait_status(*engine, nap.id, RunStatus::sleeping).status, RunStatus::sleeping);
  engine->cancel(host.id);
  engine->cancel(nap.id);
  ASSERT_TRUE(eventually([&] { return saw_cancel.load(); }));
  clock->advance_ms(60000);
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(engine->get(host.id).status, RunStatus::cancelled);
  EXPECT_EQ(engine->get(nap.id).status, RunStatus::cancelled);
  EXPECT_EQ(after.load(), 0);  // no further step started
  auto e = error_of([&] { engine->cancel(nap.id); });
  EXPECT_EQ(e.code(), ErrorCode::invalid_state);
  EXPECT_EQ(std::string(e.what()), "run '" + nap.id + "' is already cancelled; it cannot be cancelled");
}

TEST(Cancel, ByFilterCancelsMatchingUnfinishedRunsAndTheirChildren) {
  auto engine = Engine::open(fast_options());
  engine->launch();
  engine->register_workflow("child", [](Context& ctx, const Json&) -> Json {
    return *ctx.wait_for_signal("go");
  });
  engine->register_workflow("parent", [](Context& ctx, const Json&) -> Json {
    return ctx.invoke("kid", "child", boost::json::object{});
  });
  engine->register_workflow("other", [](Context& ctx, const Json&) -> Json {
    return *ctx.wait_for_signal("go");
  });
  engine->register_workflow("quick", [](Context&, const Json&) -> Json { return 1; });
  std::vector<std::string> parents;
  for (int i = 0; i < 3; ++i) parents.push_back(engine->start("parent", boost::json::object{}).id);
  auto other = engine->start("other", boost::json::object{});
  auto done = engine->start("quick", boost::json::object{});
  for (auto& id : parents) ASSERT_EQ(wait_status(*engine, id, RunStatus::waiting).status, RunStatus::waiting);
  ASSERT_EQ(wait_status(*engine, other.id, RunStatus::waiting).status, RunStatus::waiting);
  ASSERT_EQ(wait_finished(*engine, done.id).status, RunStatus::completed);
  RunFilter f;
  f.workflow = "parent";
  auto ids = engine->cancel_many(f);
  EXPECT_EQ(ids, parents);
  RunFilter kids;
  kids.workflow = "child";
  auto children = engine->list(kids).runs;
  ASSERT_EQ(children.size(), 3u);
  for (auto& c : children) EXPECT_EQ(engine->get(c.id).status, RunStatus::cancelled);
  EXPECT_EQ(engine->get(other.id).status, RunStatus::waiting);
  EXPECT_EQ(engine->get(done.id).status, RunStatus::completed);
  EXPECT_TRUE(engine->cancel_many(f).empty());  // nothing unfinished is left

  RunFilter waiting;
  waiting.status = RunStatus::waiting;
  EXPECT_EQ(engine->cancel_many(waiting), std::vector<std::string>{other.id});
  RunFilter finished;
  finished.status = RunStatus::completed;
  auto e = error_of([&] { engine->cancel_many(finished); });
  EXPECT_EQ(e.code(), ErrorCode::invalid_argument);
  EXPECT_STREQ(e.what(), "cancel by filter takes unfinished runs only; the filter asks for completed runs");
}

TEST(Retry, OfARunThatDidNotFailIsRefused) {
  auto engine = Engine::open(fast_options());
  engine->launch();
  engine->register_workflow("quick", [](Context&, const Json&) -> Json { return 1; });
  auto run = engine->start("quick", boost::json::object{});
  wait_finished(*engine, run.id);
  auto e = error_of([&] { engine->retry(run.id); });
  EXPECT_EQ(e.code(), ErrorCode::invalid_state);
  EXPECT_EQ(std::string(e.what()), "run '" + run.id + "' is completed; only failed runs can be retried");
}

namespace {

struct Book {
  std::mutex m;
  std::map<std::string, int> runs;  // executions per step
  std::atomic<int> version{1};
  void count(const std::string& step) {
    std::lock_guard lock(m);
    ++runs[step];
  }
  int of(const std::string& step) {
    std::lock_guard lock(m);
    return runs[step];
  }
  void reg(Engine& engine) {
    engine.register_workflow("book", [this](Context& ctx, const Json&) -> Json {
      boost::json::array pages;
      for (std::string step : {"outline", "page1", "page2", "page3", "page4"}) {
        pages.push_back(ctx.step(step, [&, step] {
          count(step);
          Json text = Json(step + " v" + std::to_string(version.load()));
          ctx.artifact(step, text);
          return text;
        }));
      }
      return pages;
    });
  }
};

}  // namespace

TEST(Rewind, ReExecutesExactlyTheInvalidatedSteps) {
  auto engine = Engine::open(fast_options());
  engine->launch();
  Book book;
  book.reg(*engine);
  auto run = engine->start("book", boost::json::object{});
  ASSERT_EQ(wait_finished(*engine, run.id).status, RunStatus::completed);
  book.version = 2;
  engine->rewind(run.id, "page3");
  auto done = wait_finished(*engine, run.id);
  ASSERT_EQ(done.status, RunStatus::completed);
  EXPECT_EQ(done.output.at(2).as_string(), "page2 v1");
  EXPECT_EQ(done.output.at(3).as_string(), "page3 v2");
  EXPECT_EQ(done.output.at(4).as_string(), "page4 v2");
  EXPECT_EQ(book.of("outline"), 1);
  EXPECT_EQ(book.of("page2"), 1);
  EXPECT_EQ(book.of("page3"), 2);
  EXPECT_EQ(book.of("page4"), 2);
  auto ev = events_of(*engine, run.id, "run.rewound");
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(boost::json::serialize(ev[0].data), R"({"step":"page3","invalidated":["page3","page4"]})");
  int page3_versions = 0;
  for (auto& a : engine->artifacts(run.id)) page3_versions += a.key == "page3";
  EXPECT_EQ(page3_versions, 2);  // the earlier version is kept
}

TEST(Rewind, BadRequestsAreRefusedWithClearMessages) {
  auto engine = Engine::open(fast_options());
  engine->launch();
  Gate gate;
  engine->register_workflow("w", [&](Context& ctx, const Json&) -> Json {
    return ctx.step("s", [&] { gate.wait(); return Json(1); });
  });
  auto run = engine->start("w", boost::json::object{});
  ASSERT_EQ(wait_status(*engine, run.id, RunStatus::running).status, RunStatus::running);
  auto e = error_of([&] { engine->rewind(run.id, "s"); });
  EXPECT_EQ(e.code(), ErrorCode::invalid_state);
  EXPECT_EQ(std::string(e.what()),
            "run '" + run.id + "' is running; only completed or failed runs can be rewound");
  gate.open();
  wait_finished(*engine, run.id);
  e = error_of([&] { engine->rewind(run.id, "nope"); });
  EXPECT_EQ(e.code(), ErrorCode::not_found);
  EXPECT_EQ(std::string(e.what()), "run '" + run.id + "' has no step named 'nope'");
  EXPECT_STREQ(error_of([&] { engine->rewind(run.id, ""); }).what(), "step name is empty");
}

TEST(Rewind, SurvivesARestart) {
  TempDir dir;
  Book book;
  std::string id;
  {
    auto engine = Engine::open(fast_options(dir.file("rewind.db")));
    engine->launch();
    book.reg(*engine);
    id = engine->start("book", boost::json::object{}).id;
    ASSERT_EQ(wait_finished(*engine, id).status, RunStatus::completed);
  }
  {
    // Rewound by an engine that does not execute the workflow: stays queued.
    auto engine = Engine::open(fast_options(dir.file("rewind.db")));
    engine->launch();
    engine->rewind(id, "page2");
    EXPECT_EQ(engine->get(id).status, RunStatus::queued);
  }
  auto engine = Engine::open(fast_options(dir.file("rewind.db")));
  engine->launch();
  book.version = 2;
  book.reg(*engine);
  auto done = wait_finished(*engine, id);
  ASSERT_EQ(done.status, RunStatus::completed);
  EXPECT_EQ(done.output.at(1).as_string(), "page1 v1");
  EXPECT_EQ(done.output.at(2).as_string(), "page2 v2");
  EXPECT_EQ(book.of("page1"), 1);
  EXPECT_EQ(book.of("page2"), 2);
  EXPECT_EQ(book.of("page4"), 2);
}
