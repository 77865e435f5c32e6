// A resource shared by two engine processes on one store (SQLite file here;
// the same tests run on PostgreSQL as pg.ResourceShare.*): together they keep
// one rate limit, one in-flight cap and one 429 pause, and a killed process's
// slots come back after its lease. The processes are resource_share_worker;
// what they did is read from the log their step bodies append to.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "support/child_process.h"
#include "support/test_store.h"
#include "support/test_support.h"

using namespace storyloom;
using namespace storyloom::testing;

namespace {

struct Worker {
  std::string tag, workflow;
  int runs = 1, steps = 1, hold_ms = 0;
  double requests = 0;
  int max_in_flight = 0;
  int lease_ms = 10000;
};

pid_t spawn(const std::string& store, const std::string& log, const Worker& w) {
  return spawn_program({STORYLOOM_RESOURCE_SHARE_WORKER, store, log, w.tag, w.workflow,
                        std::to_string(w.runs), std::to_string(w.steps), std::to_string(w.hold_ms),
                        std::to_string(w.requests), std::to_string(w.max_in_flight),
                        std::to_string(w.lease_ms)});
}

struct Line {
  std::string tag, kind;
  int64_t us = 0;
};

std::vector<Line> read_log(const std::string& path) {
  std::vector<Line> out;
  std::ifstream in(path);
  Line l;
  while (in >> l.tag >> l.kind >> l.us) out.push_back(l);
  return out;
}

std::vector<int64_t> times(const std::vector<Line>& log, const std::string& kind,
                           const std::string& tag = "") {
  std::vector<int64_t> out;
  for (const auto& l : log) {
    if (l.kind == kind && (tag.empty() || l.tag == tag)) out.push_back(l.us);
  }
  std::sort(out.begin(), out.end());
  return out;
}

int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class ResourceShare : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = test_store(dir_.file("shared.db"));
    // Created (and migrated) once here, so the two workers never race to create it.
    EngineOptions options;
    options.store = store_;
    Engine::open(options)->close();
    log_ = dir_.file("steps.log");
  }

  TempDir dir_;
  std::string store_;
  std::string log_;
};

// 10 requests/s (bucket of 10) shared by two processes that each want 24
// requests at once: in every window of the merged log, the starts stay within
// the bucket plus the refill (each process alone would allow the full rate,
// so together they would run at twice it).
TEST_F(ResourceShare, TwoProcessesTogetherKeepOneRateLimit) {
  // Workflows of their own, so each process executes only its own runs.
  Worker a{"A", "useA", 8, 3, 0, 10, 0};
  Worker b = a;
  b.tag = "B";
  b.workflow = "useB";
  pid_t pa = spawn(store_, log_, a), pb = spawn(store_, log_, b);
  ASSERT_EQ(exit_code(pa), 0);
  ASSERT_EQ(exit_code(pb), 0);
  auto log = read_log(log_);
  auto starts = times(log, "start");
  ASSERT_EQ(starts.size(), 48u);
  EXPECT_EQ(times(log, "start", "A").size(), 24u);
  EXPECT_EQ(times(log, "start", "B").size(), 24u);
  // Bodies start a little after their admission, so allow 2 over the bucket.
  for (size_t i = 0; i < starts.size(); ++i) {
    for (size_t j = i; j < starts.size(); ++j) {
      double window_s = static_cast<double>(starts[j] - starts[i]) / 1e6;
      double allowed = 10 + 10 * window_s + 2;
      ASSERT_LE(static_cast<double>(j - i + 1), allowed)
          << (j - i + 1) << " starts within " << window_s << " s";
    }
  }
  // 48 requests through a bucket of 10 refilled at 10/s take at least 3.8 s.
  EXPECT_GE(starts.back() - starts.front(), 3'500'000);
}

// A cap of 2 requests in flight across both processes.
TEST_F(ResourceShare, TwoProcessesTogetherKeepOneInFlightCap) {
  Worker a{"A", "useA", 3, 2, 150, 0, 2};
  Worker b = a;
  b.tag = "B";
  b.workflow = "useB";
  pid_t pa = spawn(store_, log_, a), pb = spawn(store_, log_, b);
  ASSERT_EQ(exit_code(pa), 0);
  ASSERT_EQ(exit_code(pb), 0);
  auto log = read_log(log_);
  std::vector<std::pair<int64_t, int>> edges;  // (time, +1 start / -1 end); ends first on ties
  for (const auto& l : log) {
    if (l.kind == "start") edges.emplace_back(l.us, 1);
    if (l.kind == "end") edges.emplace_back(l.us, -1);
  }
  ASSERT_EQ(edges.size(), 24u);
  std::sort(edges.begin(), edges.end());
  int running = 0, most = 0;
  for (auto& [t, d] : edges) most = std::max(most, running += d);
  EXPECT_LE(most, 2);
  EXPECT_EQ(times(log, "start", "A").size(), 6u);
  EXPECT_EQ(times(log, "start", "B").size(), 6u);
}

// A provider's 429 with Retry-After 1.5 s, seen by process A, stops process
// B's requests until then.
TEST_F(ResourceShare, A429InOneProcessPausesTheOther) {
  Worker b{"B", "use", 1, 80, 40, 0, 0};
  pid_t pb = spawn(store_, log_, b);
  ASSERT_TRUE(eventually([&] { return times(read_log(log_), "start", "B").size() >= 3; },
                         std::chrono::seconds(30)));
  Worker a{"A", "thrower", 1, 1, 1500, 0, 0};
  pid_t pa = spawn(store_, log_, a);
  ASSERT_EQ(exit_code(pa), 0);
  ASSERT_EQ(exit_code(pb), 0);
  auto log = read_log(log_);
  auto thrown = times(log, "429", "A");
  ASSERT_EQ(thrown.size(), 1u);
  int64_t t = thrown[0];
  auto b_starts = times(log, "start", "B");
  ASSERT_EQ(b_starts.size(), 80u);
  EXPECT_LT(b_starts.front(), t) << "B was not running before the 429";
  int paused_starts = 0;
  for (auto s : b_starts) paused_starts += s > t + 300'000 && s < t + 1'400'000;
  EXPECT_EQ(paused_starts, 0) << "B started requests while the resource was paused";
  EXPECT_GT(b_starts.back(), t + 1'400'000) << "B never resumed after the pause";
}

// Process A holds both slots of a cap of 2 and is killed with -9: B's request
// waits while A lives, then is admitted once A's lease is over.
TEST_F(ResourceShare, AKilledProcessSlotsComeBackAfterItsLease) {
  Worker a{"A", "hold", 2, 1, 60'000, 0, 2, 1500};
  pid_t pa = spawn(store_, log_, a);
  ASSERT_TRUE(eventually([&] { return times(read_log(log_), "start", "A").size() == 2; },
                         std::chrono::seconds(30)));
  Worker b{"B", "use", 1, 1, 0, 0, 2, 1500};
  pid_t pb = spawn(store_, log_, b);
  std::this_thread::sleep_for(std::chrono::seconds(2));
  EXPECT_TRUE(times(read_log(log_), "start", "B").empty()) << "B passed a cap A still held";
  int64_t killed = now_us();
  kill(pa, SIGKILL);
  exit_code(pa);
  ASSERT_EQ(exit_code(pb), 0);
  auto b_starts = times(read_log(log_), "start", "B");
  ASSERT_EQ(b_starts.size(), 1u);
  EXPECT_GT(b_starts[0], killed);
  EXPECT_LT(b_starts[0] - killed, 1'500'000 + 5'000'000) << "the slots came back too late";
}

}  // namespace
