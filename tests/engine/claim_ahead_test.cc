// Claiming ahead (engine/claims.cc): an engine claims one run more than its
// execution slots, so the next run is ready the moment one ends. The ready
// run is `running` in the store, but never executes beyond the slots, and
// close() puts it back in the queue without executing it.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "support/test_support.h"

using namespace storyloom;
using namespace storyloom::testing;
using namespace std::chrono_literals;

namespace {

size_t count_running(Engine& engine) {
  RunFilter f;
  f.status = RunStatus::running;
  f.limit = 100;
  return engine.list(f).runs.size();
}

// A gate a step body waits at until the test opens it.
struct Gate {
  std::mutex mutex;
  std::condition_variable cv;
  bool open = false;
  void wait() {
    std::unique_lock lock(mutex);
    cv.wait(lock, [&] { return open; });
  }
  void release() {
    {
      std::lock_guard lock(mutex);
      open = true;
    }
    cv.notify_all();
  }
};

}  // namespace

TEST(ClaimAhead, NoMoreWorkflowsExecuteThanSlotsWhileTheNextRunIsClaimed) {
  TempDir dir;
  auto options = fast_options("sqlite:" + dir.file("a.db"));
  options.max_executions = 1;
  options.workers = 2;  // a free thread must not start the ready run
  auto engine = Engine::open(options);
  std::atomic<int> executing{0};
  std::atomic<int> most_executing{0};
  std::atomic<size_t> most_running_in_store{0};
  Engine* e = engine.get();
  engine->register_workflow("one", [&](Context& ctx, const Json&) -> Json {
    int now = ++executing;
    int seen = most_executing.load();
    while (now > seen && !most_executing.compare_exchange_weak(seen, now)) {
    }
    Json out = ctx.step("work", [&] {
      size_t running = count_running(*e);
      size_t most = most_running_in_store.load();
      while (running > most && !most_running_in_store.compare_exchange_weak(most, running)) {
      }
      std::this_thread::sleep_for(2ms);
      return Json(true);
    });
    --executing;
    return out;
  });
  std::vector<std::string> ids;
  for (int i = 0; i < 20; ++i) ids.push_back(engine->start("one", boost::json::object{{"i", i}}).id);
  engine->launch();
  for (const auto& id : ids) {
    ASSERT_EQ(wait_finished(*engine, id, 30s).status, RunStatus::completed) << id;
  }
  EXPECT_EQ(most_executing.load(), 1);
  // One executing and one claimed ahead: the queue was never empty meanwhile.
  EXPECT_EQ(most_running_in_store.load(), 2u);
}

TEST(ClaimAhead, CloseReleasesTheReadyRunWithoutExecutingIt) {
  TempDir dir;
  std::string db = dir.file("c.db");
  auto options = fast_options("sqlite:" + db);
  options.max_executions = 1;
  options.drain_timeout = 20s;
  Gate gate;
  std::atomic<bool> in_first{false};
  std::atomic<int> bodies{0};
  auto register_on = [&](Engine& engine, bool hold_first) {
    engine.register_workflow("held", [&, hold_first](Context& ctx, const Json& input) -> Json {
      ++bodies;
      return ctx.step("work", [&] {
        if (hold_first && input.at("i").as_int64() == 0) {
          in_first = true;
          gate.wait();
        }
        return input;
      });
    });
  };
  std::string first, second;
  {
    auto engine = Engine::open(options);
    register_on(*engine, true);
    first = engine->start("held", boost::json::object{{"i", 0}}).id;
    second = engine->start("held", boost::json::object{{"i", 1}}).id;
    engine->launch();
    ASSERT_TRUE(eventually([&] { return in_first.load(); }));
    ASSERT_EQ(engine->get(second).status, RunStatus::running);  // claimed ahead
    std::thread closer([&] { engine->close(); });
    // close() is waiting for the first run; the ready one is released meanwhile.
    EXPECT_EQ(wait_status(*engine, second, RunStatus::queued).status, RunStatus::queued);
    gate.release();
    closer.join();
    EXPECT_EQ(bodies.load(), 1) << "the ready run executed after close() began";
  }
  // Nothing was lost: the next engine on the store runs it.
  auto engine = Engine::open(options);
  auto events = engine->events(second, 0, 100);
  EXPECT_TRUE(std::any_of(events.begin(), events.end(),
                          [](const Event& ev) { return ev.type == "run.released"; }));
  register_on(*engine, false);
  engine->launch();
  EXPECT_EQ(wait_finished(*engine, first).status, RunStatus::completed);
  auto run = wait_finished(*engine, second);
  EXPECT_EQ(run.status, RunStatus::completed);
  EXPECT_EQ(run.output, Json(boost::json::object{{"i", 1}}));
}
