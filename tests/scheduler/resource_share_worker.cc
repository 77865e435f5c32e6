// One of two engine processes sharing a resource "api" on one store
// (resource_share_test.cc starts them). Configures "api", registers one
// workflow, starts RUNS runs of it, executes runs of that workflow until its
// own are finished, then exits 0 (1 when one failed). Every step body appends
// "TAG start <µs>" when the resource admitted it and "TAG end <µs>" when it
// returns (µs of CLOCK_REALTIME; O_APPEND, one write per line).
//
//   resource_share_worker STORE LOG TAG WORKFLOW RUNS STEPS HOLD_MS REQUESTS_PER_S MAX_IN_FLIGHT LEASE_MS
//
// Workflows: "thrower" (see below) or any other name: STEPS steps, each
// holding its slot of "api" HOLD_MS. "thrower" (one step whose first attempt
// logs "TAG 429 <µs>" and fails rate-limited with a Retry-After of HOLD_MS,
// which pauses "api"; the retry then succeeds).
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "storyloom/engine.h"

using namespace storyloom;

namespace {

void log_line(const std::string& path, const std::string& line) {
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT, 0644);
  if (fd < 0) std::abort();
  std::string text = line + "\n";
  if (::write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size())) std::abort();
  ::close(fd);
}

std::string stamp() {
  auto now = std::chrono::system_clock::now().time_since_epoch();
  return std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(now).count());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 11) {
    std::fprintf(stderr,
                 "usage: resource_share_worker STORE LOG TAG WORKFLOW RUNS STEPS HOLD_MS "
                 "REQUESTS_PER_S MAX_IN_FLIGHT LEASE_MS\n");
    return 2;
  }
  std::string log = argv[2], tag = argv[3], workflow = argv[4];
  int runs = std::atoi(argv[5]), steps = std::atoi(argv[6]), hold_ms = std::atoi(argv[7]);
  EngineOptions options;
  options.store = argv[1];
  options.workers = 16;
  options.poll_interval = std::chrono::milliseconds(50);
  options.lease_ttl = std::chrono::milliseconds(std::atoi(argv[10]));
  options.drain_timeout = std::chrono::milliseconds(200);
  ResourceLimits limits;
  limits.requests = std::atof(argv[8]);
  limits.max_in_flight = std::atoi(argv[9]);
  options.resources["api"] = limits;
  auto engine = Engine::open(options);

  std::atomic<bool> threw{false};
  RetryPolicy retry;  // the thrower's step is tried again after the pause
  retry.max_attempts = 3;
  retry.initial_backoff = std::chrono::milliseconds(10);
  engine->register_workflow(workflow, [&](Context& ctx, const Json&) -> Json {
    for (int i = 0; i < steps; ++i) {
      ctx.step_using("api", "s" + std::to_string(i), [&]() -> Json {
        if (workflow == "thrower" && !threw.exchange(true)) {
          log_line(log, tag + " 429 " + stamp());
          throw Error(ErrorCode::provider, "HTTP 429 from the test", ErrorClass::rate_limited,
                      hold_ms);
        }
        log_line(log, tag + " start " + stamp());
        if (workflow != "thrower" && hold_ms > 0) {
          std::this_thread::sleep_for(std::chrono::milliseconds(hold_ms));
        }
        log_line(log, tag + " end " + stamp());
        return Json(i);
      }, retry);
    }
    return nullptr;
  });
  std::vector<std::string> ids;
  for (int i = 0; i < runs; ++i) ids.push_back(engine->start(workflow, boost::json::object{}).id);
  engine->launch();
  for (;;) {
    int finished = 0, failed = 0;
    for (const auto& id : ids) {
      RunStatus s = engine->get(id).status;
      finished += s == RunStatus::completed || s == RunStatus::failed;
      failed += s == RunStatus::failed;
    }
    if (finished == runs) {
      engine->close();
      return failed == 0 ? 0 : 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}
