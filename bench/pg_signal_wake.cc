// storyloom_pg_signal_bench: how soon the CLI's `signal` wakes a run parked
// in another engine process on the same PostgreSQL database (NOTIFY, not
// poll: that engine polls only every 10 s). Prints JSON.
//
//   storyloom_pg_signal_bench URL CLI [RUNS]   (bench/pg_run.sh passes both; 100 runs by default)
//
// One engine process (this program re-executed with "worker") executes
// "parked" runs: wait_for_signal("go"), then a step whose body writes
// "<run id> <µs of CLOCK_REALTIME>" to a pipe. The parent starts a run,
// waits until it is `waiting`, runs `CLI --db URL signal RUN go {}` and
// reads the pipe. Two figures per run:
//   wake_ms: from the signal's write (signals.created_at, the CLI's batch
//            time, taken before its commit) to the step body beginning in
//            the other process: NOTIFY, claim, replay;
//   cli_ms:  from spawning the CLI to the same moment (adds the CLI's own
//            start: loading, connecting, opening the store).
#include <fcntl.h>
#include <libpq-fe.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "storyloom/engine.h"

using namespace storyloom;

namespace {

int64_t now_us() {
  auto t = std::chrono::system_clock::now().time_since_epoch();
  return std::chrono::duration_cast<std::chrono::microseconds>(t).count();
}

void register_parked(Engine& engine, int out_fd) {
  engine.register_workflow("parked", [out_fd](Context& ctx, const Json&) -> Json {
    ctx.wait_for_signal("go");
    return ctx.step("woke", [&] {
      std::string line = ctx.run_id() + " " + std::to_string(now_us()) + "\n";
      if (::write(out_fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) std::abort();
      return Json(1);
    });
  });
}

int worker(const std::string& url) {
  EngineOptions o;
  o.store = url;
  o.poll_interval = std::chrono::seconds(10);  // a wake-up sooner than this came through NOTIFY
  auto engine = Engine::open(o);
  register_parked(*engine, 1);
  engine->launch();
  char c;
  while (::read(0, &c, 1) > 0) {  // until the parent closes our stdin
  }
  engine->close();
  return 0;
}

std::string fresh_schema(const std::string& url) {
  PGconn* conn = PQconnectdb(url.c_str());
  PQsetNoticeProcessor(conn, [](void*, const char*) {}, nullptr);
  PQclear(PQexec(conn, "DROP SCHEMA IF EXISTS bench_signal CASCADE"));
  PGresult* r = PQexec(conn, "CREATE SCHEMA bench_signal");
  if (PQresultStatus(r) != PGRES_COMMAND_OK) {
    std::fprintf(stderr, "pg_signal_bench: %s", PQerrorMessage(conn));
    std::exit(1);
  }
  PQclear(r);
  PQfinish(conn);
  return url + (url.find('?') == std::string::npos ? "?" : "&") + "options=-csearch_path%3Dbench_signal";
}

int64_t signal_written_ms(PGconn* conn, const std::string& run_id) {
  const char* params[] = {run_id.c_str()};
  PGresult* r = PQexecParams(conn, "SELECT created_at FROM signals WHERE run_id = $1", 1, nullptr,
                             params, nullptr, nullptr, 0);
  int64_t ms = PQntuples(r) ? std::atoll(PQgetvalue(r, 0, 0)) : 0;
  PQclear(r);
  return ms;
}

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 3 && std::string(argv[1]) == "worker") return worker(argv[2]);
  if (argc < 3) {
    std::fprintf(stderr, "usage: storyloom_pg_signal_bench URL CLI [RUNS]\n");
    return 2;
  }
  std::string url = fresh_schema(argv[1]);
  std::string cli = argv[2];
  int runs = argc > 3 ? std::atoi(argv[3]) : 100;

  int to_worker[2], from_worker[2];
  if (pipe(to_worker) != 0 || pipe(from_worker) != 0) return 1;
  pid_t pid = fork();
  if (pid == 0) {
    dup2(to_worker[0], 0);
    dup2(from_worker[1], 1);
    close(to_worker[1]);
    close(from_worker[0]);
    execl(argv[0], argv[0], "worker", url.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(to_worker[0]);
  close(from_worker[1]);
  FILE* woke = fdopen(from_worker[0], "r");

  EngineOptions o;
  o.store = url;
  auto driver = Engine::open(o);  // starts runs; never launched
  register_parked(*driver, -1);
  PGconn* conn = PQconnectdb(url.c_str());
  std::vector<double> wake_ms, cli_ms;
  for (int i = 0; i < runs; ++i) {
    auto run = driver->start("parked", boost::json::object{});
    while (driver->get(run.id).status != RunStatus::waiting) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    int64_t spawned_us = now_us();
    pid_t signal = fork();
    if (signal == 0) {
      int null = ::open("/dev/null", O_WRONLY);
      dup2(null, 1);  // the CLI's answer is not part of this bench's JSON
      execl(cli.c_str(), cli.c_str(), "--db", url.c_str(), "signal", run.id.c_str(), "go", "{}",
            static_cast<char*>(nullptr));
      _exit(127);
    }
    int status = 0;
    waitpid(signal, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      std::fprintf(stderr, "pg_signal_bench: the CLI's signal failed (status %d)\n", status);
      return 1;
    }
    char line[256];
    if (!std::fgets(line, sizeof line, woke)) {
      std::fprintf(stderr, "pg_signal_bench: the worker stopped\n");
      return 1;
    }
    std::string text(line);
    std::string id = text.substr(0, text.find(' '));
    int64_t woke_us = std::atoll(text.c_str() + text.find(' ') + 1);
    if (id != run.id) {
      std::fprintf(stderr, "pg_signal_bench: run %s woke, expected %s\n", id.c_str(), run.id.c_str());
      return 1;
    }
    wake_ms.push_back(static_cast<double>(woke_us) / 1000.0 -
                      static_cast<double>(signal_written_ms(conn, run.id)));
    cli_ms.push_back(static_cast<double>(woke_us - spawned_us) / 1000.0);
  }
  PQfinish(conn);
  close(to_worker[1]);
  waitpid(pid, nullptr, 0);
  driver->close();
  std::printf("{\"signal_wake\": {\"runs\": %d, \"wake_ms_p50\": %.2f, \"wake_ms_p99\": %.2f, "
              "\"wake_ms_max\": %.2f, \"cli_ms_p50\": %.2f, \"cli_ms_p99\": %.2f}}\n",
              runs, percentile(wake_ms, 0.5), percentile(wake_ms, 0.99), percentile(wake_ms, 1.0),
              percentile(cli_ms, 0.5), percentile(cli_ms, 0.99));
  return 0;
}
