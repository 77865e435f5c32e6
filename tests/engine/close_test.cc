// close() keeps to its drain timeout even when a step ignores it: the worker
// thread inside that step is left behind, every call it makes afterwards is
// refused, its run goes back to the queue, and the next open runs the step
// again (it never completed). In process, and in a process that exits while
// the step is still running (close_worker.cc).
#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <mutex>

#include "support/test_support.h"

using namespace storyloom;
using namespace storyloom::testing;
using namespace std::chrono_literals;

namespace {

// What the step left behind by close() shares with the test. Held by the
// workflow through a shared_ptr: the step outlives the test's engine.
struct Stuck {
  std::mutex mutex;
  std::condition_variable cv;
  bool released = false;
  std::atomic<bool> in_step{false};
  std::atomic<bool> returned{false};  // the workflow function returned (threw)
  std::string refusal;                // what the engine said when the step finished

  void release() {
    {
      std::lock_guard lock(mutex);
      released = true;
    }
    cv.notify_all();
  }
};

// How many descriptors of this process are open on `path` (or its -wal / -shm files).
int open_descriptors(const std::string& path) {
  int n = 0;
  DIR* dir = opendir("/proc/self/fd");
  if (!dir) return -1;
  while (auto* entry = readdir(dir)) {
    std::string link = std::string("/proc/self/fd/") + entry->d_name;
    char target[4096];
    ssize_t len = readlink(link.c_str(), target, sizeof target - 1);
    if (len <= 0) continue;
    if (std::string(target, static_cast<size_t>(len)).rfind(path, 0) == 0) ++n;
  }
  closedir(dir);
  return n;
}

EngineOptions options_for(const std::string& db) {
  auto o = fast_options("sqlite:" + db);
  o.drain_timeout = 1s;
  return o;
}

}  // namespace

TEST(Close, ReturnsWithinTheDrainTimeoutWhileAStepIgnoresIt) {
  TempDir dir;
  std::string db = dir.file("close.db");
  auto stuck = std::make_shared<Stuck>();
  std::string run_id;
  {
    auto engine = Engine::open(options_for(db));
    engine->register_workflow("slow", [stuck](Context& ctx, const Json&) -> Json {
      struct Returned {
        Stuck& s;
        ~Returned() { s.returned = true; }
      } returned{*stuck};
      try {
        return ctx.step("block", [stuck] {
          stuck->in_step = true;
          std::unique_lock lock(stuck->mutex);
          stuck->cv.wait_for(lock, 5s, [&] { return stuck->released; });
          return Json("first engine");
        });
      } catch (const Error& e) {
        std::lock_guard lock(stuck->mutex);
        stuck->refusal = e.what();
        throw;
      }
    });
    engine->launch();
    run_id = engine->start("slow", boost::json::object{}).id;
    ASSERT_TRUE(eventually([&] { return stuck->in_step.load(); }));
    auto begin = std::chrono::steady_clock::now();
    engine->close();
    auto took = std::chrono::steady_clock::now() - begin;
    EXPECT_GE(took, 950ms);
    EXPECT_LT(took, 1500ms);
    EXPECT_FALSE(stuck->returned);  // still inside the step
    EXPECT_EQ(engine->get(run_id).status, RunStatus::queued);
  }
  // The next open recovers the run, though the first engine's step is still
  // running in this process, and runs the step again: it never completed.
  {
    auto engine = Engine::open(options_for(db));
    std::atomic<int> reruns{0};
    engine->register_workflow("slow", [&](Context& ctx, const Json&) -> Json {
      return ctx.step("block", [&] {
        ++reruns;
        return Json("second engine");
      });
    });
    engine->launch();
    auto done = wait_finished(*engine, run_id);
    ASSERT_EQ(done.status, RunStatus::completed) << boost::json::serialize(done.error);
    EXPECT_EQ(done.output.as_string(), "second engine");
    EXPECT_EQ(reruns.load(), 1);
    EXPECT_FALSE(stuck->returned);
  }
  // The step left behind finishes: its result is refused with a message, and
  // the first engine, which its execution kept alive, is freed with its files.
  EXPECT_GT(open_descriptors(db), 0);
  stuck->release();
  ASSERT_TRUE(eventually([&] { return stuck->returned.load(); }));
  {
    std::lock_guard lock(stuck->mutex);
    EXPECT_EQ(stuck->refusal, "the engine closed before step 'block' of run '" + run_id +
                                  "' completed; its result is dropped and the step runs again "
                                  "when the store is opened again");
  }
  EXPECT_TRUE(eventually([&] { return open_descriptors(db) == 0; }, 5s));
  auto engine = Engine::open(options_for(db));
  auto snapshot = engine->snapshot(run_id);
  ASSERT_EQ(snapshot.steps.size(), 1u);
  EXPECT_EQ(snapshot.steps[0].result.as_string(), "second engine");
}

// close_now() does not wait for the drain timeout: the run in flight goes
// back to the queue at once and the next open completes it.
TEST(Close, CloseNowPutsTheRunInFlightBackWithoutWaitingForTheDrain) {
  TempDir dir;
  std::string db = dir.file("close_now.db");
  auto stuck = std::make_shared<Stuck>();
  auto slow_drain = options_for(db);
  slow_drain.drain_timeout = 5s;
  std::string run_id;
  {
    auto engine = Engine::open(slow_drain);
    engine->register_workflow("slow", [stuck](Context& ctx, const Json&) -> Json {
      return ctx.step("block", [stuck] {
        stuck->in_step = true;
        std::unique_lock lock(stuck->mutex);
        stuck->cv.wait_for(lock, 10s, [&] { return stuck->released; });
        return Json("first engine");
      });
    });
    engine->launch();
    run_id = engine->start("slow", boost::json::object{}).id;
    ASSERT_TRUE(eventually([&] { return stuck->in_step.load(); }));
    auto begin = std::chrono::steady_clock::now();
    engine->close_now();
    EXPECT_LT(std::chrono::steady_clock::now() - begin, slow_drain.drain_timeout / 2);
    EXPECT_EQ(engine->get(run_id).status, RunStatus::queued);
  }
  {
    auto engine = Engine::open(options_for(db));
    engine->register_workflow("slow", [](Context& ctx, const Json&) -> Json {
      return ctx.step("block", [] { return Json("second engine"); });
    });
    engine->launch();
    auto done = wait_finished(*engine, run_id);
    ASSERT_EQ(done.status, RunStatus::completed) << boost::json::serialize(done.error);
    EXPECT_EQ(done.output.as_string(), "second engine");
  }
  stuck->release();
}

TEST(Close, AProcessExitsAtOnceWithAStepStillRunning) {
  TempDir dir;
  std::string db = dir.file("exit.db");
  std::string out = dir.file("out.txt");
  auto begin = std::chrono::steady_clock::now();
  pid_t pid = fork();
  if (pid == 0) {
    if (!freopen(out.c_str(), "w", stdout)) _exit(126);
    execl(STORYLOOM_CLOSE_WORKER, STORYLOOM_CLOSE_WORKER, db.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  ASSERT_GT(pid, 0);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  auto took = std::chrono::steady_clock::now() - begin;
  ASSERT_TRUE(WIFEXITED(status)) << "close_worker died of signal " << WTERMSIG(status);
  ASSERT_EQ(WEXITSTATUS(status), 0);
  EXPECT_LT(took, 4s);  // its step sleeps 5 s: the process did not wait for it
  char run_id[128] = {0};
  long long close_ms = -1;
  FILE* f = fopen(out.c_str(), "r");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(fscanf(f, "run %127s close_ms %lld", run_id, &close_ms), 2);
  fclose(f);
  EXPECT_GE(close_ms, 950);
  EXPECT_LE(close_ms, 1500);

  auto engine = Engine::open(options_for(db));
  std::atomic<int> reruns{0};
  engine->register_workflow("slow", [&](Context& ctx, const Json&) -> Json {
    return ctx.step("block", [&] {
      ++reruns;
      return Json("second process");
    });
  });
  engine->launch();
  auto done = wait_finished(*engine, run_id);
  ASSERT_EQ(done.status, RunStatus::completed) << boost::json::serialize(done.error);
  EXPECT_EQ(done.output.as_string(), "second process");
  EXPECT_EQ(reruns.load(), 1);
}
