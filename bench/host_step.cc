// Cost of a new (not memoized) no-op host step, for comparison with the same
// measurement from Python (bench/python/step_overhead.py): one run calls
// ctx.step K times with a function returning {"i": i}; timed inside the
// workflow function from before the first ctx.step to after the K-th, divided
// by K (the amortized host-side cost: begin, call, record; the commit happens
// on the writer thread). Also reported: start-to-completed wall time per step,
// which includes the group commits of the K results.
#include <atomic>
#include <cstdio>

#include "bench.h"
#include "stats.h"
#include "storyloom/engine.h"

namespace storyloom::bench {

boost::json::object measure_host_step(size_t steps, int repetitions, const std::string& tmp_dir) {
  TempStore store(tmp_dir);
  EngineOptions options;
  options.store = store.spec();
  options.poll_interval = std::chrono::milliseconds(5);
  auto engine = Engine::open(options);
  engine->launch();

  std::vector<std::string> names;
  names.reserve(steps);
  for (size_t i = 0; i < steps; ++i) names.push_back("step-" + std::to_string(i));

  std::atomic<int64_t> inside_ns{0};
  engine->register_workflow("host_step", [&](Context& ctx, const Json&) -> Json {
    int64_t t0 = steady_ns();
    for (size_t i = 0; i < names.size(); ++i) {
      ctx.step(names[i], [i] { return Json(boost::json::object{{"i", i}}); });
    }
    inside_ns = steady_ns() - t0;
    return boost::json::object{{"steps", names.size()}};
  });

  Conditions conditions;
  boost::json::array reps;
  std::vector<double> inside_us, end_to_end_us;
  for (int rep = 0; rep < repetitions; ++rep) {
    std::fprintf(stderr, "host_step: repetition %d of %zu steps...\n", rep + 1, steps);
    inside_ns = 0;
    int64_t started = steady_ns();
    auto run = engine->start("host_step", boost::json::object{{"rep", rep}});
    bool completed = wait_until([&] { return engine->get(run.id).status == RunStatus::completed; },
                                std::chrono::seconds(120));
    int64_t total_ns = steady_ns() - started;
    double per = static_cast<double>(inside_ns.load()) / 1e3 / static_cast<double>(steps);
    double e2e = static_cast<double>(total_ns) / 1e3 / static_cast<double>(steps);
    inside_us.push_back(per);
    end_to_end_us.push_back(e2e);
    reps.push_back(boost::json::object{{"run_completed", completed},
                                       {"us_per_step_inside_workflow", round3(per)},
                                       {"us_per_step_start_to_completed", round3(e2e)}});
  }
  engine->close();

  auto inside = summarize(inside_us);
  auto e2e = summarize(end_to_end_us);
  boost::json::object section;
  section["what"] =
      "K new no-op C++ host steps in one run (ctx.step returning {\"i\": i}): wall time inside the "
      "workflow function divided by K, and start-to-completed wall time divided by K";
  section["params"] = {{"steps", steps}, {"repetitions", repetitions}};
  section["repetitions"] = std::move(reps);
  section["us_per_step_median"] = inside.empty() ? 0.0 : inside["p50"].as_double();
  section["us_per_step_start_to_completed_median"] = e2e.empty() ? 0.0 : e2e["p50"].as_double();
  section["conditions"] = conditions.finish();
  return section;
}

}  // namespace storyloom::bench
