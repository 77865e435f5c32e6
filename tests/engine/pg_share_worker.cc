// One of several engine processes sharing a PostgreSQL store
// (pg_share_test.cc starts them). Executes "pair" runs until RUNS of them are
// completed in the store, then exits 0; exits 3 on SIGTERM after closing.
// Every step body first appends "<run id> <step> <key> <µs>" to LOG
// (O_APPEND, one write per line, fsynced; µs of CLOCK_REALTIME), and the
// second one also "<run id> end <key> <µs>" when it returns, so the log holds
// every time a body began, in every process, and when each run's last body
// ended.
//
//   pg_share_worker URL LOG RUNS STEP_MS LEASE_MS
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "storyloom/engine.h"

using namespace storyloom;

namespace {

std::atomic<bool> terminate_requested{false};
void on_term(int) { terminate_requested = true; }

void log_line(const std::string& path, const std::string& line) {
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT, 0644);
  if (fd < 0) std::abort();
  std::string text = line + "\n";
  if (::write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size())) std::abort();
  if (::fsync(fd) != 0) std::abort();
  ::close(fd);
}

std::string stamp() {
  auto now = std::chrono::system_clock::now().time_since_epoch();
  return std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(now).count());
}

}  // namespace

// The workflow every process registers: two steps, each `step_ms` long, and
// at most two runs per key "k" running at once across all processes.
static void register_pair(Engine& engine, const std::string& log, int step_ms) {
  WorkflowOptions wo;
  wo.concurrency = ConcurrencyKey{"k", 2};
  engine.register_workflow(
      "pair",
      [log, step_ms](Context& ctx, const Json& input) -> Json {
        std::string key = boost::json::serialize(input.at("k"));
        for (const char* name : {"s1", "s2"}) {
          ctx.step(name, [&] {
            if (!log.empty()) log_line(log, ctx.run_id() + " " + name + " " + key + " " + stamp());
            if (step_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(step_ms));
            if (!log.empty() && std::string(name) == "s2") {
              log_line(log, ctx.run_id() + " end " + key + " " + stamp());
            }
            return Json(1);
          });
        }
        return nullptr;
      },
      wo);
}

int main(int argc, char** argv) {
  if (argc != 6) {
    std::fprintf(stderr, "usage: pg_share_worker URL LOG RUNS STEP_MS LEASE_MS\n");
    return 2;
  }
  ::signal(SIGTERM, on_term);
  std::string log = argv[2];
  int runs = std::atoi(argv[3]);
  EngineOptions options;
  options.store = argv[1];
  options.workers = 16;
  options.poll_interval = std::chrono::milliseconds(50);
  options.lease_ttl = std::chrono::milliseconds(std::atoi(argv[5]));
  options.drain_timeout = std::chrono::milliseconds(200);
  auto engine = Engine::open(options);
  register_pair(*engine, log, std::atoi(argv[4]));
  engine->launch();
  while (!terminate_requested) {
    RunFilter filter;
    filter.workflow = "pair";
    filter.status = RunStatus::completed;
    filter.limit = 1000;
    int completed = 0;
    try {
      for (;;) {
        auto page = engine->list(filter);
        completed += static_cast<int>(page.runs.size());
        if (page.next_cursor.empty()) break;
        filter.after_run_id = page.next_cursor;
      }
    } catch (const Error&) {
      completed = 0;  // the database is restarting: ask again
    }
    if (completed >= runs) return 0;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  engine->close();
  return 3;
}
