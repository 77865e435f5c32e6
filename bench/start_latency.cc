// Start-to-first-step latency on an idle engine: from calling Engine::start to
// the first line of the first step function, one run at a time (each finished
// in the store before the next starts).
#include <atomic>
#include <cstdio>
#include <thread>

#include "bench.h"
#include "stats.h"
#include "storyloom/engine.h"

namespace storyloom::bench {
namespace {

constexpr double kTargetP50Ms = 0.5;
constexpr double kTargetP99Ms = 2.0;

}  // namespace

boost::json::object measure_start_latency(const StartLatencyParams& params,
                                          const std::string& tmp_dir) {
  TempStore store(tmp_dir);
  EngineOptions options;
  options.store = store.spec();
  options.durability = params.durability;
  auto engine = Engine::open(options);
  engine->launch();

  std::atomic<int64_t> first_step_ns{0};
  std::atomic<uint64_t> returned{0};  // workflow functions that returned
  engine->register_workflow("first", [&](Context& ctx, const Json&) -> Json {
    Json r = ctx.step("first", [&] {
      first_step_ns.store(steady_ns());
      return Json(boost::json::object{{"ok", true}});
    });
    returned.fetch_add(1);
    returned.notify_all();
    return r;
  });

  Conditions conditions;
  std::vector<double> to_first_step_ms, start_call_ms, to_completed_ms;
  size_t not_completed = 0;
  size_t total = params.warmup + params.samples;
  std::fprintf(stderr, "start_latency: %zu runs (%zu warm-up)...\n", params.samples, params.warmup);
  for (size_t i = 0; i < total; ++i) {
    uint64_t before = returned.load();
    int64_t t0 = steady_ns();
    auto run = engine->start("first", boost::json::object{{"i", i}});
    int64_t t_returned = steady_ns();
    // Blocks on a futex, not spinning, so the engine has the CPUs.
    uint64_t seen = before;
    while (seen == before) {
      returned.wait(seen);
      seen = returned.load();
    }
    int64_t t_step = first_step_ns.load();
    // Finished in the store before the next run starts (not part of the figure).
    bool completed = wait_until([&] { return engine->get(run.id).status == RunStatus::completed; },
                                std::chrono::seconds(10), std::chrono::microseconds(50));
    int64_t t_completed = steady_ns();
    if (i < params.warmup) continue;
    if (!completed) ++not_completed;
    to_first_step_ms.push_back(static_cast<double>(t_step - t0) / 1e6);
    start_call_ms.push_back(static_cast<double>(t_returned - t0) / 1e6);
    to_completed_ms.push_back(static_cast<double>(t_completed - t0) / 1e6);
  }
  engine->close();

  auto first = summarize(to_first_step_ms);
  boost::json::object section;
  section["what"] =
      "idle engine, one run at a time: Engine::start called .. first line of the first step "
      "function running; start_call_ms is the start() call alone (its commit), "
      "start_to_completed_polled_ms polls get() every 50 us and is an upper bound";
  section["params"] = {{"durability", to_string(params.durability)},
                       {"samples", params.samples},
                       {"warmup", params.warmup},
                       {"workers", options.workers},
                       {"poll_interval_ms", options.poll_interval.count()}};
  section["all_completed"] = not_completed == 0;
  section["p50_ms"] = first["p50"];
  section["p99_ms"] = first["p99"];
  section["target_p50_ms"] = kTargetP50Ms;
  section["target_p99_ms"] = kTargetP99Ms;
  section["meets_target"] =
      first["p50"].as_double() <= kTargetP50Ms && first["p99"].as_double() <= kTargetP99Ms;
  section["start_to_first_step_ms"] = std::move(first);
  section["start_call_ms"] = summarize(start_call_ms);
  section["start_to_completed_polled_ms"] = summarize(to_completed_ms);
  section["conditions"] = conditions.finish();
  return section;
}

}  // namespace storyloom::bench
