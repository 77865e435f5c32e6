// A full disk: the store lives on a small tmpfs that a ballast file fills
// while runs execute, then empties again, several times. Whatever a workflow
// was told (a step returned its result) must be in the store, no finished run
// may lack a step result, artifact or event, and once space returns every run
// completes, with no help from outside.
//
// Mounting a tmpfs needs root (CI runs as root); elsewhere the test is skipped.
#include <gtest/gtest.h>

#include <fstream>
#include <mutex>
#include <set>

#include "support/small_disk.h"
#include "support/test_support.h"

using namespace storyloom;
using namespace storyloom::testing;
using namespace std::chrono_literals;

namespace {

constexpr int kSteps = 4;

// What the workflows were told: (run, step) pairs whose ctx.step returned.
struct Told {
  std::mutex mutex;
  std::set<std::pair<std::string, std::string>> steps;
  void add(const std::string& run, const std::string& step) {
    std::lock_guard lock(mutex);
    steps.emplace(run, step);
  }
  std::set<std::pair<std::string, std::string>> copy() {
    std::lock_guard lock(mutex);
    return steps;
  }
};

std::string page_text(int64_t n, int k) {
  return std::string(1500, static_cast<char>('a' + (n + k) % 26));
}

// Every step the workflow was told about is stored; every completed run has
// all its steps, its artifact and its events.
void check_store(Engine& engine, Told& told, const std::vector<std::string>& ids) {
  for (const auto& [run, step] : told.copy()) {
    auto snap = engine.snapshot(run);
    bool stored = false;
    for (const auto& s : snap.steps) stored = stored || (s.name == step && s.status == "completed");
    EXPECT_TRUE(stored) << "run " << run << ": the workflow got the result of step " << step
                        << ", but the store does not have it";
  }
  for (const auto& id : ids) {
    auto snap = engine.snapshot(id);
    if (snap.run.status != RunStatus::completed) continue;
    int completed_steps = 0;
    for (const auto& s : snap.steps) completed_steps += s.status == "completed";
    EXPECT_EQ(completed_steps, kSteps) << "completed run " << id << " lacks a step result";
    EXPECT_EQ(engine.artifacts(id).size(), 1u) << "completed run " << id << " lacks its artifact";
    int step_events = 0;
    bool completed_event = false;
    for (const auto& e : engine.events(id, 0, 1000)) {
      step_events += e.type == "step.completed";
      completed_event = completed_event || e.type == "run.completed";
    }
    EXPECT_GE(step_events, kSteps) << "completed run " << id << " lacks a step.completed event";
    EXPECT_TRUE(completed_event) << "completed run " << id << " lacks run.completed";
  }
}

}  // namespace

TEST(FullDisk, NothingReportedIsLostAndRunsCompleteWhenSpaceReturns) {
  TempDir dir;
  SmallDisk disk(dir.file("disk"), 32 << 20);
  if (!disk.mounted()) GTEST_SKIP() << "cannot mount a tmpfs here (needs root)";
  Told told;
  EngineOptions o = fast_options("sqlite:" + dir.file("disk") + "/store.db");
  o.workers = 4;
  auto engine = Engine::open(o);
  engine->register_workflow("page", [&told](Context& ctx, const Json& input) -> Json {
    int64_t n = input.at("n").as_int64();
    size_t length = 0;
    for (int k = 1; k <= kSteps; ++k) {
      std::string name = "part-" + std::to_string(k);
      auto text = ctx.step(name, [&] {
        std::this_thread::sleep_for(15ms);
        return Json(page_text(n, k));
      });
      told.add(ctx.run_id(), name);
      length += text.as_string().size();
      if (k == 2) ctx.artifact("draft", boost::json::object{{"n", n}, {"length", length}});
      ctx.progress(boost::json::object{{"parts", k}});
    }
    return boost::json::object{{"length", length}};
  });
  engine->launch();

  std::vector<std::string> ids;
  constexpr int kCycles = 6;
  int store_errors = 0;
  for (int cycle = 0; cycle < kCycles; ++cycle) {
    for (int i = 0; i < 12; ++i) {
      ids.push_back(engine->start("page", boost::json::object{{"n", cycle * 100 + i}}).id);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5 + cycle * 7));
    disk.fill();
    std::this_thread::sleep_for(300ms);  // runs keep trying on the full disk
    check_store(*engine, told, ids);
    disk.make_room();
    // Everything resumes by itself once the disk has room.
    for (const auto& id : ids) {
      auto run = wait_finished(*engine, id, 20s);
      if (run.status != RunStatus::completed) {
        for (const auto& e : engine->events(id, 0, 1000)) {
          std::printf("  %lld %s %s\n", static_cast<long long>(e.id), e.type.c_str(),
                      boost::json::serialize(e.data).c_str());
        }
      }
      ASSERT_EQ(run.status, RunStatus::completed)
          << "run " << id << " after cycle " << cycle << ": " << boost::json::serialize(run.error);
      EXPECT_EQ(run.output.at("length").as_int64(), 1500 * kSteps);
    }
    check_store(*engine, told, ids);
  }
  for (const auto& id : ids) {
    for (const auto& e : engine->events(id, 0, 1000)) store_errors += e.type == "run.released";
  }
  std::printf("full disk: %d cycles, %zu runs, %d releases after a failed commit\n", kCycles,
              ids.size(), store_errors);
}
