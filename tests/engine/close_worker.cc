// The process close_test.cc runs: opens an engine on DB with a drain timeout
// of 1 s, starts one run whose step sleeps 5 s, closes the engine while that
// step is still asleep, prints "run <id> close_ms <n>" and returns from main
// with the step still asleep on its worker thread. The test checks that the
// process exits at once (0) and that the next open re-runs the step.
//
//   close_worker DB
#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

#include "storyloom/engine.h"

using namespace storyloom;
using namespace std::chrono_literals;

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: close_worker DB\n");
    return 2;
  }
  EngineOptions options;
  options.store = std::string("sqlite:") + argv[1];
  options.poll_interval = 5ms;
  options.drain_timeout = 1s;
  auto engine = Engine::open(options);
  // Static: the step outlives main's locals (it is still asleep when main returns).
  static std::atomic<bool> asleep{false};
  engine->register_workflow("slow", [](Context& ctx, const Json&) -> Json {
    return ctx.step("block", [] {
      asleep = true;
      std::this_thread::sleep_for(5s);
      return Json("first process");
    });
  });
  engine->launch();
  std::string run_id = engine->start("slow", boost::json::object{}).id;
  auto limit = std::chrono::steady_clock::now() + 10s;
  while (!asleep && std::chrono::steady_clock::now() < limit) std::this_thread::sleep_for(1ms);
  if (!asleep) {
    std::fprintf(stderr, "close_worker: the step never began\n");
    return 1;
  }
  auto begin = std::chrono::steady_clock::now();
  engine->close();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                  begin);
  engine.reset();
  std::printf("run %s close_ms %lld\n", run_id.c_str(), static_cast<long long>(ms.count()));
  std::fflush(stdout);
  return 0;
}
