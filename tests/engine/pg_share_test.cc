// Several engine processes on one PostgreSQL database (pg_share_worker.cc):
// they share the queue (each run completes once, a concurrency key of 2 is
// never exceeded across them, checked from the store), finish the runs of a
// process killed with -9 without running a completed step again, and ride
// out a database restart. Needs the test cluster (STORYLOOM_TEST_STORE; the
// restart also STORYLOOM_TEST_PG_DIR, its folder). STORYLOOM_PG_SHARE_RUNS
// sets the size of the shared queue (400 by default, which CI runs; 20,000
// is the long mode).
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>

#include "support/test_store.h"
#include "support/test_support.h"

using namespace storyloom;
using namespace storyloom::testing;

namespace {

// lease_ms: how long a silent engine is thought alive. The shared-queue test
// uses the default (10 s): on a loaded machine a shorter lease declares busy
// engines dead and their runs are (correctly) taken over, which blurs what
// it checks. The kill test uses a short one so the takeover comes soon.
pid_t spawn(const std::string& url, const std::string& log, int runs, int step_ms,
            int lease_ms = 10000) {
  pid_t pid = fork();
  if (pid == 0) {
    std::string r = std::to_string(runs), s = std::to_string(step_ms), l = std::to_string(lease_ms);
    execl(STORYLOOM_PG_SHARE_WORKER, STORYLOOM_PG_SHARE_WORKER, url.c_str(), log.c_str(), r.c_str(),
          s.c_str(), l.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  return pid;
}

int exit_code(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

// Rows of a query on the test store's schema, as text.
std::vector<std::vector<std::string>> rows(const std::string& url, const std::string& sql) {
  std::vector<std::vector<std::string>> out;
  PGconn* conn = PQconnectdb(url.c_str());
  if (PQstatus(conn) != CONNECTION_OK) {
    PQfinish(conn);
    return out;
  }
  PGresult* r = PQexec(conn, sql.c_str());
  for (int i = 0; i < PQntuples(r); ++i) {
    std::vector<std::string> row;
    for (int c = 0; c < PQnfields(r); ++c) row.emplace_back(PQgetvalue(r, i, c));
    out.push_back(std::move(row));
  }
  PQclear(r);
  PQfinish(conn);
  return out;
}

int64_t completed(const std::string& url) {
  auto r = rows(url, "SELECT count(*) FROM runs WHERE status = 'completed'");
  return r.empty() ? -1 : std::stoll(r[0][0]);
}

// Queues `n` "pair" runs, keys k = i % 10, from an engine that never launches.
void seed(const std::string& url, int n) {
  EngineOptions o;
  o.store = url;
  auto engine = Engine::open(o);
  WorkflowOptions wo;
  wo.concurrency = ConcurrencyKey{"k", 2};
  engine->register_workflow("pair", [](Context&, const Json&) -> Json { return nullptr; }, wo);
  for (int first = 0; first < n; first += 1000) {
    std::vector<StartRequest> batch;
    for (int i = first; i < std::min(n, first + 1000); ++i) {
      batch.push_back(StartRequest{"pair", boost::json::object{{"k", i % 10}}, {}});
    }
    engine->start_many(std::move(batch));
  }
  engine->close();
}

// Each run's step bodies in the order they began, from every process.
std::map<std::string, std::vector<std::string>> read_log(const std::string& path) {
  std::map<std::string, std::vector<std::string>> by_run;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    auto space = line.find(' ');
    if (space != std::string::npos) by_run[line.substr(0, space)].push_back(line.substr(space + 1));
  }
  return by_run;
}

// No step body began again once the next step of its run had begun (its
// result was committed before the workflow went on).
void expect_no_completed_step_rerun(const std::map<std::string, std::vector<std::string>>& log) {
  for (const auto& [run, steps] : log) {
    auto s2 = std::find(steps.begin(), steps.end(), "s2");
    EXPECT_EQ(std::find(s2, steps.end(), "s1"), steps.end()) << "run " << run << " ran s1 after s2";
  }
}

int shared_runs() {
  const char* env = std::getenv("STORYLOOM_PG_SHARE_RUNS");
  return env ? std::max(1, std::atoi(env)) : 400;
}

class PgShare : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing_on_postgres()) GTEST_SKIP() << "STORYLOOM_TEST_STORE is not set";
  }
};

}  // namespace

TEST_F(PgShare, FourProcessesShareTheQueueEachRunOnceKeyLimitHeld) {
  TempDir dir;
  std::string url = fresh_postgres_schema();
  std::string log = dir.file("steps.log");
  int n = shared_runs();
  seed(url, n);
  std::vector<pid_t> workers;
  for (int i = 0; i < 4; ++i) workers.push_back(spawn(url, log, n, 0));
  for (pid_t pid : workers) EXPECT_EQ(exit_code(pid), 0);
  EXPECT_EQ(completed(url), n);
  auto by_run = read_log(log);
  EXPECT_EQ(by_run.size(), static_cast<size_t>(n));
  for (const auto& [run, steps] : by_run) {
    EXPECT_EQ(steps, (std::vector<std::string>{"s1", "s2"})) << "run " << run;
  }
  // From the store: at no instant did a key have more than 2 runs between
  // their claim and their completion, across all processes.
  std::map<std::string, std::vector<std::pair<int64_t, int>>> marks;
  for (auto& r : rows(url, "SELECT concurrency_key, started_at, finished_at FROM runs")) {
    marks[r[0]].emplace_back(std::stoll(r[1]), +1);
    marks[r[0]].emplace_back(std::stoll(r[2]), -1);
  }
  EXPECT_EQ(marks.size(), 10u);
  for (auto& [key, m] : marks) {
    std::sort(m.begin(), m.end());  // a finish (-1) before a start at the same instant
    int running = 0, most = 0;
    for (auto& [at, delta] : m) most = std::max(most, running += delta);
    EXPECT_LE(most, 2) << "key " << key;
    EXPECT_GE(most, 1) << "key " << key;
  }
}

TEST_F(PgShare, KilledProcessRunsAreFinishedByTheOthers) {
  TempDir dir;
  std::string url = fresh_postgres_schema();
  std::string log = dir.file("steps.log");
  constexpr int kRuns = 150;
  seed(url, kRuns);
  std::vector<pid_t> workers;
  for (int i = 0; i < 3; ++i) workers.push_back(spawn(url, log, kRuns, 20, 3000));
  ASSERT_TRUE(eventually([&] { return completed(url) >= 40; }, std::chrono::seconds(60)));
  kill(workers[0], SIGKILL);
  EXPECT_EQ(exit_code(workers[0]), -SIGKILL);
  for (size_t i = 1; i < workers.size(); ++i) EXPECT_EQ(exit_code(workers[i]), 0);
  EXPECT_EQ(completed(url), kRuns);
  auto by_run = read_log(log);
  EXPECT_EQ(by_run.size(), static_cast<size_t>(kRuns));
  expect_no_completed_step_rerun(by_run);
  // The dead engine's runs came back through lease expiry.
  auto recovered = rows(url, "SELECT count(*) FROM events WHERE type = 'run.recovered'");
  ASSERT_FALSE(recovered.empty());
  EXPECT_GE(std::stoll(recovered[0][0]), 1);
}

TEST_F(PgShare, EnginesRideOutADatabaseRestart) {
  const char* cluster = std::getenv("STORYLOOM_TEST_PG_DIR");
  if (!cluster) GTEST_SKIP() << "STORYLOOM_TEST_PG_DIR (the test cluster's folder) is not set";
  TempDir dir;
  std::string url = fresh_postgres_schema();
  std::string log = dir.file("steps.log");
  constexpr int kRuns = 150;
  seed(url, kRuns);
  std::vector<pid_t> workers;
  for (int i = 0; i < 2; ++i) workers.push_back(spawn(url, log, kRuns, 10));
  ASSERT_TRUE(eventually([&] { return completed(url) >= 40; }, std::chrono::seconds(60)));
  std::string restart = std::string(STORYLOOM_PG_CLUSTER_SCRIPT) + " restart " + cluster;
  ASSERT_EQ(std::system(restart.c_str()), 0);
  for (pid_t pid : workers) EXPECT_EQ(exit_code(pid), 0);
  EXPECT_EQ(completed(url), kRuns);
  auto by_run = read_log(log);
  EXPECT_EQ(by_run.size(), static_cast<size_t>(kRuns));
  expect_no_completed_step_rerun(by_run);
}
