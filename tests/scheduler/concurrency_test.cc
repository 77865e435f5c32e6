// Concurrency limits per workflow and per key, and throttles: checked by
// counters inside the steps, in one engine, two engines and two processes.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include "scheduler/sched_support.h"

using namespace storyloom;
using namespace storyloom::testing;
using namespace std::chrono_literals;

namespace {

WorkflowOptions keyed(std::string path, int limit) {
  WorkflowOptions o;
  o.concurrency = ConcurrencyKey{std::move(path), limit};
  return o;
}

std::string user_of(const Json& input) {
  const auto* u = input.as_object().if_contains("user_id");
  return u ? boost::json::serialize(*u) : "null";
}

}  // namespace

TEST(Concurrency, KeyNeverExceedsItsLimitUnderLoad) {
  auto o = fast_options();
  o.workers = 4;
  auto engine = Engine::open(o);
  engine->launch();
  Occupancy occ;
  // Different keys must run side by side. A 1 ms body rarely overlaps
  // another when each run's start costs several commits (PostgreSQL), so
  // bodies wait, until a deadline, to see three at once; an engine that ran
  // one key at a time would reach the deadline and fail the check below.
  auto side_by_side_by = std::chrono::steady_clock::now() + 10s;
  engine->register_workflow(
      "page",
      [&](Context& ctx, const Json& input) -> Json {
        return ctx.step("write", [&] {
          std::string user = user_of(input);
          occ.enter(user);
          while (occ.total_peak() <= 2 && std::chrono::steady_clock::now() < side_by_side_by) {
            std::this_thread::sleep_for(1ms);
          }
          std::this_thread::sleep_for(1ms);
          occ.leave(user);
          return Json(1);
        });
      },
      keyed("$.user_id", 2));
  std::vector<std::string> ids;
  for (int i = 0; i < 200; ++i) {
    // Runs of one key queue next to each other, so they compete for its slots.
    ids.push_back(engine->start("page", boost::json::object{{"user_id", i / 10}}).id);
  }
  for (auto& id : ids) ASSERT_EQ(wait_finished(*engine, id, 30s).status, RunStatus::completed);
  EXPECT_LE(occ.max_peak(), 2);
  EXPECT_EQ(occ.max_peak(), 2);     // the limit is reached, so it is what holds
  EXPECT_GT(occ.total_peak(), 2);   // different keys ran side by side
}

TEST(Concurrency, GlobalLimitCapsRunningRuns) {
  auto o = fast_options();
  o.workers = 8;
  auto engine = Engine::open(o);
  engine->launch();
  Occupancy occ;
  WorkflowOptions wo;
  wo.max_running = 3;
  engine->register_workflow(
      "render",
      [&](Context& ctx, const Json&) -> Json {
        return ctx.step("draw", [&] {
          occ.enter("all");
          // Long enough that three claims land inside one step even where a
          // commit takes milliseconds (PostgreSQL on a busy machine).
          std::this_thread::sleep_for(30ms);
          occ.leave("all");
          return Json(1);
        });
      },
      wo);
  std::vector<std::string> ids;
  for (int i = 0; i < 30; ++i) ids.push_back(engine->start("render", boost::json::object{}).id);
  for (auto& id : ids) ASSERT_EQ(wait_finished(*engine, id).status, RunStatus::completed);
  EXPECT_EQ(occ.peak("all"), 3);
}

TEST(Concurrency, ParkedRunsDoNotHoldASlot) {
  auto engine = Engine::open(fast_options());
  engine->launch();
  engine->register_workflow(
      "chat",
      [](Context& ctx, const Json& input) -> Json {
        if (input.as_object().contains("wait")) return *ctx.wait_for_signal("reply");
        return ctx.step("answer", [] { return Json("done"); });
      },
      keyed("user_id", 1));
  auto waiting = engine->start("chat", boost::json::object{{"user_id", "u1"}, {"wait", true}});
  ASSERT_EQ(wait_status(*engine, waiting.id, RunStatus::waiting).status, RunStatus::waiting);
  auto other = engine->start("chat", boost::json::object{{"user_id", "u1"}});
  EXPECT_EQ(wait_finished(*engine, other.id).status, RunStatus::completed);
  engine->signal(waiting.id, "reply", Json("hi"));
  EXPECT_EQ(wait_finished(*engine, waiting.id).status, RunStatus::completed);
}

TEST(Concurrency, InputsWithoutTheKeyShareTheNullBucket) {
  auto engine = Engine::open(fast_options());
  engine->launch();
  Gate gate;
  std::atomic<int> started{0};
  engine->register_workflow(
      "job",
      [&](Context& ctx, const Json&) -> Json {
        return ctx.step("work", [&] {
          ++started;
          gate.wait();
          return Json(1);
        });
      },
      keyed("$.user_id", 1));
  auto a = engine->start("job", boost::json::object{});
  ASSERT_TRUE(eventually([&] { return gate.waiting() == 1; }));
  auto b = engine->start("job", boost::json::object{{"other", 1}});  // also no user_id
  auto c = engine->start("job", boost::json::object{{"user_id", nullptr}});  // explicit null: same bucket
  auto d = engine->start("job", boost::json::object{{"user_id", 7}});
  ASSERT_TRUE(eventually([&] { return gate.waiting() == 2; }));  // d runs beside a
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(gate.waiting(), 2);
  EXPECT_EQ(engine->get(b.id).status, RunStatus::queued);
  EXPECT_EQ(engine->get(c.id).status, RunStatus::queued);
  gate.open();
  for (auto* r : {&a, &b, &c, &d}) EXPECT_EQ(wait_finished(*engine, r->id).status, RunStatus::completed);
  EXPECT_EQ(started.load(), 4);
}

TEST(Concurrency, WaitingRunsStartInPriorityOrderAsSlotsFree) {
  auto engine = Engine::open(fast_options());
  engine->launch();
  Gate gate;
  std::mutex m;
  std::vector<std::string> order;
  WorkflowOptions wo;
  wo.max_running = 1;
  engine->register_workflow(
      "one",
      [&](Context& ctx, const Json& input) -> Json {
        return ctx.step("work", [&] {
          std::string name(input.at("name").as_string());
          if (name == "first") gate.wait();
          std::lock_guard lock(m);
          order.push_back(name);
          return Json(1);
        });
      },
      wo);
  auto first = engine->start("one", boost::json::object{{"name", "first"}});
  ASSERT_TRUE(eventually([&] { return gate.waiting() == 1; }));
  std::vector<std::string> ids;
  ids.push_back(engine->start("one", boost::json::object{{"name", "low"}}, {"", "", 1}).id);
  ids.push_back(engine->start("one", boost::json::object{{"name", "high-a"}}, {"", "", 5}).id);
  ids.push_back(engine->start("one", boost::json::object{{"name", "mid"}}, {"", "", 3}).id);
  ids.push_back(engine->start("one", boost::json::object{{"name", "high-b"}}, {"", "", 5}).id);
  auto bumped = engine->start("one", boost::json::object{{"name", "bumped"}}, {"", "", 0});
  engine->set_priority(bumped.id, 4);
  auto ev = events_of(*engine, bumped.id, "run.priority");
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].data.at("priority").as_int64(), 4);
  EXPECT_EQ(ev[0].data.at("previous").as_int64(), 0);
  EXPECT_EQ(engine->get(bumped.id).priority, 4);
  gate.open();
  EXPECT_EQ(wait_finished(*engine, bumped.id).status, RunStatus::completed);
  for (auto& id : ids) wait_finished(*engine, id);
  std::lock_guard lock(m);
  EXPECT_EQ(order, (std::vector<std::string>{"first", "high-a", "high-b", "bumped", "mid", "low"}));
}

TEST(Throttle, StartsPerKeyNeverExceedTheLimitPerPeriod) {
  auto clock = std::make_shared<ManualClock>();
  auto o = fast_options();
  o.clock = clock;
  auto engine = Engine::open(o);
  engine->launch();
  std::atomic<int> calls{0};
  WorkflowOptions wo;
  wo.throttle = Throttle{"$.user", 2, 1000ms};
  engine->register_workflow(
      "t",
      [&](Context& ctx, const Json&) -> Json {
        return ctx.step("s", [&] { return Json(++calls); });
      },
      wo);
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(engine->start("t", boost::json::object{{"user", "a"}}).id);
  auto other = engine->start("t", boost::json::object{{"user", "b"}});
  auto completed = [&] {
    int n = 0;
    for (auto& id : ids) n += engine->get(id).status == RunStatus::completed;
    return n;
  };
  ASSERT_TRUE(eventually([&] { return completed() == 2; }));
  EXPECT_EQ(wait_finished(*engine, other.id).status, RunStatus::completed);  // its own bucket
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(completed(), 2);
  // In order: the first two queued started first.
  EXPECT_EQ(engine->get(ids[0]).status, RunStatus::completed);
  EXPECT_EQ(engine->get(ids[1]).status, RunStatus::completed);
  clock->advance_ms(999);
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(completed(), 2);
  clock->advance_ms(1);
  ASSERT_TRUE(eventually([&] { return completed() == 4; }));
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(completed(), 4);
  EXPECT_EQ(engine->get(ids[4]).status, RunStatus::queued);
  clock->advance_ms(1000);
  ASSERT_TRUE(eventually([&] { return completed() == 5; }));
}

TEST(Limits, BadOptionsAreRefusedWithTheFieldNamed) {
  auto engine = Engine::open(fast_options());
  engine->launch();
  auto reg = [&](WorkflowOptions o) {
    return error_of([&] {
      engine->register_workflow("w", [](Context&, const Json&) -> Json { return nullptr; }, o);
    });
  };
  WorkflowOptions o;
  o.max_running = -1;
  auto e = reg(o);
  EXPECT_EQ(e.code(), ErrorCode::invalid_argument);
  EXPECT_STREQ(e.what(), "max_running must not be negative (0: no limit), got -1");
  EXPECT_STREQ(reg(keyed("$.user_id", 0)).what(), "concurrency limit must be at least 1, got 0");
  EXPECT_STREQ(reg(keyed("$.user_id", -2)).what(), "concurrency limit must be at least 1, got -2");
  EXPECT_STREQ(reg(keyed("", 2)).what(),
               "concurrency key path is empty; give a JSON path into the input such as \"$.user_id\"");
  EXPECT_STREQ(reg(keyed("$.user..id", 2)).what(),
               "concurrency key path '$.user..id' has an empty member name; use names separated by "
               "dots, such as \"$.user.id\"");
  WorkflowOptions t;
  t.throttle = Throttle{"user", 0, 1000ms};
  EXPECT_STREQ(reg(t).what(), "throttle limit must be at least 1, got 0");
  t.throttle = Throttle{"user", 3, 0ms};
  EXPECT_STREQ(reg(t).what(), "throttle period must be at least 1 ms, got 0 ms");
  WorkflowOptions rt;
  rt.run_timeout = -5ms;
  EXPECT_STREQ(reg(rt).what(), "run_timeout must not be negative (0: none), got -5 ms");
}

// Two engines on one file stand for two processes: the limit is counted in
// the claim transaction, so neither can take the other's slot.
TEST(Concurrency, LimitHoldsAcrossEnginesSharingAStore) {
  TempDir dir;
  Gate gate;
  Occupancy occ;
  auto open = [&] {
    auto engine = Engine::open(fast_options(dir.file("shared.db")));
    engine->launch();
    engine->register_workflow(
        "page",
        [&](Context& ctx, const Json& input) -> Json {
          return ctx.step("write", [&] {
            occ.enter(user_of(input));
            gate.wait();
            occ.leave(user_of(input));
            return Json(1);
          });
        },
        keyed("$.user_id", 1));
    return engine;
  };
  auto a = open();
  auto b = open();
  std::vector<std::string> ids;
  for (int i = 0; i < 6; ++i) {
    auto& e = i % 2 ? *a : *b;
    ids.push_back(e.start("page", boost::json::object{{"user_id", "same"}}).id);
  }
  ASSERT_TRUE(eventually([&] { return gate.waiting() == 1; }));
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(gate.waiting(), 1);
  gate.open();
  for (auto& id : ids) EXPECT_EQ(wait_finished(*a, id).status, RunStatus::completed);
  EXPECT_EQ(occ.peak("\"same\""), 1);
}

// A real second process holds the key's only slot; this process's run of the
// same key waits until that process dies and its run is recovered.
TEST(Concurrency, LimitHoldsAcrossProcesses) {
  TempDir dir;
  auto db = dir.file("procs.db");
  auto ready = dir.file("ready");
  std::atomic<bool> hang{true};
  auto reg = [&](Engine& engine, const std::string& log) {
    engine.register_workflow(
        "page",
        [&, log](Context& ctx, const Json&) -> Json {
          return ctx.step("write", [&, log] {
            std::ofstream(log, std::ios::app) << "start\n" << std::flush;
            while (hang) std::this_thread::sleep_for(5ms);
            return Json(1);
          });
        },
        keyed("$.user_id", 1));
  };
  pid_t child = fork();
  if (child == 0) {
    auto engine = Engine::open(fast_options(db));
    engine->launch();
    reg(*engine, dir.file("child.log"));
    engine->start("page", boost::json::object{{"user_id", "u"}});
    for (;;) std::this_thread::sleep_for(1s);
  }
  ASSERT_TRUE(eventually([&] { return std::ifstream(dir.file("child.log")).good(); }));
  hang = false;  // this process's steps finish at once
  auto engine = Engine::open(fast_options(db));
  engine->launch();
  reg(*engine, dir.file("parent.log"));
  auto mine = engine->start("page", boost::json::object{{"user_id", "u"}});
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(engine->get(mine.id).status, RunStatus::queued);
  EXPECT_FALSE(std::ifstream(dir.file("parent.log")).good());
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  EXPECT_EQ(wait_finished(*engine, mine.id, 30s).status, RunStatus::completed);
  RunFilter all;
  all.workflow = "page";
  for (auto& r : engine->list(all).runs) {
    EXPECT_EQ(wait_finished(*engine, r.id, 30s).status, RunStatus::completed);
  }
}

// Starts are counted from the store, so a new engine on the file still knows
// what the last one started this period.
TEST(Throttle, SurvivesARestart) {
  TempDir dir;
  auto clock = std::make_shared<ManualClock>();
  WorkflowOptions wo;
  wo.throttle = Throttle{"", 1, 1000ms};
  auto open = [&] {
    auto o = fast_options(dir.file("throttle.db"));
    o.clock = clock;
    auto engine = Engine::open(o);
    engine->launch();
    engine->register_workflow("t", [](Context&, const Json&) -> Json { return 1; }, wo);
    return engine;
  };
  std::string first, second;
  {
    auto engine = open();
    first = engine->start("t", boost::json::object{}).id;
    ASSERT_EQ(wait_finished(*engine, first).status, RunStatus::completed);
  }
  auto engine = open();
  second = engine->start("t", boost::json::object{}).id;
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(engine->get(second).status, RunStatus::queued);
  clock->advance_ms(1000);
  EXPECT_EQ(wait_finished(*engine, second).status, RunStatus::completed);
}

// A run held back by its key starts as soon as a run of that key ends, with
// no poll to rescue it: the end and the claim of the next run share a commit
// (the writer's tail), whatever other runs ended in the batches before.
TEST(Concurrency, HeldBackRunsStartWhenTheirKeyFreesWithoutAPoll) {
  auto o = fast_options();
  o.poll_interval = std::chrono::seconds(60);
  o.workers = 8;
  auto engine = Engine::open(o);
  engine->register_workflow(
      "page",
      [](Context& ctx, const Json&) -> Json {
        return ctx.step("write", [] {
          std::this_thread::sleep_for(2ms);
          return Json(1);
        });
      },
      keyed("$.user_id", 1));
  std::vector<std::string> ids;
  for (int i = 0; i < 60; ++i) {
    ids.push_back(engine->start("page", boost::json::object{{"user_id", i % 4}}).id);
  }
  engine->launch();
  for (auto& id : ids) ASSERT_EQ(wait_finished(*engine, id, 20s).status, RunStatus::completed);
}

TEST(Concurrency, AFreeKeyStartsBehindThousandsOfRunsHeldBackByAFullOne) {
  // An engine that registered the workflow stores each run's key at start,
  // so a claim reaches the run of "b" without reading the 4,500 runs of "a"
  // waiting before it (a walk of the queue in order gave up after 4,096).
  auto o = fast_options();
  auto engine = Engine::open(o);
  std::atomic<bool> release{false};
  engine->register_workflow(
      "page",
      [&](Context& ctx, const Json& input) -> Json {
        return ctx.step("write", [&] {
          while (user_of(input) == "\"a\"" && !release.load()) std::this_thread::sleep_for(1ms);
          return Json(1);
        });
      },
      keyed("$.user_id", 1));
  engine->launch();
  std::string first = engine->start("page", boost::json::object{{"user_id", "a"}}).id;
  ASSERT_EQ(wait_status(*engine, first, RunStatus::running).status, RunStatus::running);
  for (int done = 0; done < 4500; done += 500) {
    std::vector<StartRequest> batch;
    for (int i = 0; i < 500; ++i) {
      batch.push_back(StartRequest{"page", boost::json::object{{"user_id", "a"}}, {}});
    }
    engine->start_many(std::move(batch));
  }
  std::string b = engine->start("page", boost::json::object{{"user_id", "b"}}).id;
  EXPECT_EQ(wait_finished(*engine, b, 30s).status, RunStatus::completed);
  EXPECT_EQ(engine->get(first).status, RunStatus::running);  // "a" was full all along
  release = true;
  EXPECT_EQ(wait_finished(*engine, first).status, RunStatus::completed);
}
