// storyloom_pg_bench: one-step runs/s with 1, 2 and 4 engine processes on one
// PostgreSQL database, and start -> completed latency. Prints JSON.
//
//   storyloom_pg_bench URL [RUNS]        (bench/pg_run.sh starts a cluster)
//
// For each process count: a fresh schema; N engine processes (this program
// re-executed with "worker") register a one-step workflow and launch; the
// parent starts RUNS runs in batches of 1,000 and times the first start to
// the last completion. Latency: 200 runs started one at a time, 5 ms apart,
// each timed from start() returning to its run.completed event (a
// subscription in the parent, an engine that executes nothing). Beside it,
// the commit floor: a one-row insert committed on its own connection (fsync
// on) after each latency sample, so a latency can be read as the run's four
// commits (start, claim, step, completion) plus the engine's own overhead.
#include <libpq-fe.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "storyloom/engine.h"

using namespace storyloom;
using SteadyClock = std::chrono::steady_clock;

namespace {

void register_one(Engine& engine) {
  engine.register_workflow("one", [](Context& ctx, const Json&) -> Json {
    return ctx.step("only", [] { return Json(1); });
  });
}

int worker(const std::string& url) {
  EngineOptions o;
  o.store = url;
  o.poll_interval = std::chrono::milliseconds(50);
  auto engine = Engine::open(o);
  register_one(*engine);
  engine->launch();
  // Until the parent closes our stdin.
  char c;
  while (::read(0, &c, 1) > 0) {
  }
  engine->close();
  return 0;
}

std::string fresh_schema(const std::string& url, const std::string& name) {
  PGconn* conn = PQconnectdb(url.c_str());
  PQsetNoticeProcessor(conn, [](void*, const char*) {}, nullptr);  // "does not exist, skipping"
  PQclear(PQexec(conn, ("DROP SCHEMA IF EXISTS " + name + " CASCADE").c_str()));
  PGresult* r = PQexec(conn, ("CREATE SCHEMA " + name).c_str());
  if (PQresultStatus(r) != PGRES_COMMAND_OK) {
    std::fprintf(stderr, "pg_bench: %s", PQerrorMessage(conn));
    std::exit(1);
  }
  PQclear(r);
  PQfinish(conn);
  return url + (url.find('?') == std::string::npos ? "?" : "&") + "options=-csearch_path%3D" + name;
}

struct Workers {
  std::vector<pid_t> pids;
  std::vector<int> pipes;
};

Workers spawn(const char* self, const std::string& url, int n) {
  Workers w;
  for (int i = 0; i < n; ++i) {
    int fds[2];
    if (pipe(fds) != 0) std::exit(1);
    pid_t pid = fork();
    if (pid == 0) {
      dup2(fds[0], 0);
      close(fds[1]);
      execl(self, self, "worker", url.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    close(fds[0]);
    w.pids.push_back(pid);
    w.pipes.push_back(fds[1]);
  }
  return w;
}

void stop(Workers& w) {
  for (int fd : w.pipes) close(fd);
  for (pid_t pid : w.pids) waitpid(pid, nullptr, 0);
}

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 3 && std::string(argv[1]) == "worker") return worker(argv[2]);
  if (argc < 2) {
    std::fprintf(stderr, "usage: storyloom_pg_bench URL [RUNS]\n");
    return 2;
  }
  std::string base = argv[1];
  int runs = argc > 2 ? std::atoi(argv[2]) : 20000;
  std::printf("{\"runs\": %d, \"results\": [\n", runs);
  bool first = true;
  for (int processes : {1, 2, 4}) {
    std::string url = fresh_schema(base, "bench_" + std::to_string(processes));
    EngineOptions o;
    o.store = url;
    o.poll_interval = std::chrono::milliseconds(20);
    auto driver = Engine::open(o);  // starts runs and listens; never launched
    register_one(*driver);
    Workers w = spawn(argv[0], url, processes);
    std::this_thread::sleep_for(std::chrono::seconds(1));  // the workers open and launch

    // Latency: one run at a time, start() to its run.completed event.
    std::vector<double> latency_ms;
    std::vector<double> commit_ms;
    PGconn* probe = PQconnectdb(base.c_str());  // public: the engines' schema holds theirs only
    PQclear(PQexec(probe, "CREATE TABLE IF NOT EXISTS bench_commit_probe (n int)"));
    for (int i = 0; i < 200; ++i) {
      std::mutex m;
      std::condition_variable cv;
      bool done = false;
      auto t0 = SteadyClock::now();
      auto run = driver->start("one", boost::json::object{});
      auto sub = driver->subscribe(run.id, 0, [&](const Event& e) {
        if (e.type != "run.completed") return;
        std::lock_guard lock(m);
        done = true;
        cv.notify_one();
      });
      std::unique_lock lock(m);
      cv.wait_for(lock, std::chrono::seconds(10), [&] { return done; });
      latency_ms.push_back(std::chrono::duration<double, std::milli>(SteadyClock::now() - t0).count());
      lock.unlock();
      sub.close();
      auto c0 = SteadyClock::now();
      PQclear(PQexec(probe, "INSERT INTO bench_commit_probe VALUES (1)"));
      commit_ms.push_back(std::chrono::duration<double, std::milli>(SteadyClock::now() - c0).count());
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    PQfinish(probe);

    // Throughput: a burst of runs, first start to last completion.
    auto t0 = SteadyClock::now();
    for (int done = 0; done < runs; done += 1000) {
      std::vector<StartRequest> batch;
      for (int i = done; i < std::min(runs, done + 1000); ++i) batch.push_back({"one", boost::json::object{}, {}});
      driver->start_many(std::move(batch));
    }
    PGconn* watch = PQconnectdb(url.c_str());
    for (;;) {
      PGresult* r = PQexec(watch, "SELECT count(*) FROM runs WHERE status = 'completed'");
      long completed = PQntuples(r) ? std::atol(PQgetvalue(r, 0, 0)) : 0;
      PQclear(r);
      if (completed >= runs + 200) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    PQfinish(watch);
    double seconds = std::chrono::duration<double>(SteadyClock::now() - t0).count();
    stop(w);
    driver->close();
    std::printf("%s  {\"processes\": %d, \"runs_per_s\": %.0f, \"seconds\": %.2f, "
                "\"latency_ms_p50\": %.2f, \"latency_ms_p99\": %.2f, \"commit_ms_p50\": %.2f, "
                "\"commit_ms_p99\": %.2f}",
                first ? "" : ",\n", processes, runs / seconds, seconds, percentile(latency_ms, 0.5),
                percentile(latency_ms, 0.99), percentile(commit_ms, 0.5), percentile(commit_ms, 0.99));
    std::fflush(stdout);
    first = false;
  }
  std::printf("\n]}\n");
  return 0;
}
