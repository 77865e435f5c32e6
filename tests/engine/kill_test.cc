// kill -9 at random moments: during start bursts, mid-step, during close. The
// worker (kill_worker.cc) logs every step body as it begins, fsynced; after
// the storm every run must be completed with its exact output, and no step
// body may have run again once a later step of its run had begun (a step's
// result is committed before the workflow goes on).
//
// STORYLOOM_KILL_ROUNDS sets the number of kills (20 by default; the README
// documents the long mode, 100 and more).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <random>
#include <sstream>

#include "support/child_process.h"
#include "support/test_support.h"

using namespace storyloom;
using namespace storyloom::testing;
using namespace std::chrono_literals;

namespace {

// Each incarnation asks for more books than the last, so every round finds
// work in flight: books 0..runs-1, the ones it finds done are not redone.
constexpr int kRunsPerRound = 24;

pid_t spawn_worker(const std::string& db, const std::string& log, int books) {
  return spawn_program({STORYLOOM_KILL_WORKER, db, log, std::to_string(books)});
}

int rounds() {
  const char* env = std::getenv("STORYLOOM_KILL_ROUNDS");
  return env ? std::max(1, std::atoi(env)) : 20;
}

// Each run's step bodies, in the order they began (from every incarnation).
std::map<std::string, std::vector<std::string>> read_log(const std::string& path) {
  std::map<std::string, std::vector<std::string>> by_run;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    auto space = line.find(' ');
    if (space == std::string::npos) continue;
    by_run[line.substr(0, space)].push_back(line.substr(space + 1));
  }
  return by_run;
}

// "s3" -> 3, "c2" -> 2: the order of steps within their run.
int step_index(const std::string& step) { return std::atoi(step.c_str() + 1); }

}  // namespace

TEST(KillNine, NoRunLostAndNoFinishedStepRunsAgain) {
  TempDir dir;
  std::string db = dir.file("kill.db");
  std::string log = dir.file("steps.log");
  std::mt19937 random(std::random_device{}());
  int total = rounds();
  int finished_early = 0;
  for (int round = 0; round < total; ++round) {
    pid_t pid = spawn_worker(db, log, kRunsPerRound * (round + 1));
    // Early kills land in the start burst, later ones mid-step; every fourth
    // round asks for a close first and kills it while it drains.
    int delay_ms = std::uniform_int_distribution<int>(5, 120)(random);
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    if (round % 4 == 3) {
      kill(pid, SIGTERM);
      std::this_thread::sleep_for(
          std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 30)(random)));
    }
    kill(pid, SIGKILL);
    int code = exit_code(pid);
    if (code == 0) ++finished_early;  // every run was already done
    // 0: all done; 3: closed on SIGTERM; killed by SIGTERM before its handler was set.
    ASSERT_TRUE(code == 0 || code == 3 || code == -SIGKILL || code == -SIGTERM)
        << "worker exited with " << code;
  }
  // The last incarnation runs undisturbed to the end.
  int books_total = kRunsPerRound * (total + 1);
  pid_t pid = spawn_worker(db, log, books_total);
  ASSERT_EQ(exit_code(pid), 0) << "the worker could not finish the runs after " << total
                               << " kills";

  EngineOptions o = fast_options("sqlite:" + db);
  auto engine = Engine::open(o);  // not launched: a reader only
  RunFilter filter;
  filter.workflow = "book";
  filter.limit = 1000;
  std::vector<RunInfo> books;
  for (;;) {
    auto page = engine->list(filter);
    books.insert(books.end(), page.runs.begin(), page.runs.end());
    if (page.next_cursor.empty()) break;
    filter.after_run_id = page.next_cursor;
  }
  ASSERT_EQ(books.size(), static_cast<size_t>(books_total));
  for (const auto& book : books) {
    ASSERT_EQ(book.status, RunStatus::completed) << book.id;
    int64_t n = book.input.at("n").as_int64();
    EXPECT_EQ(book.output.at("sum").as_int64(), 36 * n + n + 1000) << book.id;
    auto artifacts = engine->artifacts(book.id);
    ASSERT_EQ(artifacts.size(), 1u) << book.id;
    EXPECT_EQ(artifacts[0].value.at("sum").as_int64(), 15 * n);
  }

  // No step body began again after a later step of its run had begun.
  auto by_run = read_log(log);
  ASSERT_EQ(by_run.size(), static_cast<size_t>(2 * books_total)) << "books and chapters logged";
  int repeated = 0;
  for (const auto& [run, steps] : by_run) {
    int highest = 0;
    for (const auto& step : steps) {
      int index = step_index(step);
      EXPECT_GE(index, highest) << "run " << run << ": step " << step
                                << " ran again after a later step had begun";
      if (index == highest) ++repeated;  // the step a kill interrupted, begun again
      highest = std::max(highest, index);
    }
  }
  std::printf("kill -9: %d rounds (%d found every run done), %zu runs logged, %d step bodies "
              "begun again after a kill in the middle of them\n",
              total, finished_early, by_run.size(), repeated);
}
