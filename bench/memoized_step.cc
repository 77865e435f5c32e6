// Cost of a memoized step: a run records K steps, parks on a sleep (a manual
// clock, advanced by hand, ends it), and its replay returns the K stored
// results. Timed inside the workflow function, from just before the first
// ctx.step of the replay to just after the last.
#include <atomic>
#include <cstdio>
#include <thread>

#include "bench.h"
#include "stats.h"
#include "storyloom/engine.h"

namespace storyloom::bench {
namespace {

constexpr double kTargetUsPerStep = 5.0;

struct Timings {
  std::atomic<int> executions{0};
  std::atomic<int64_t> entered_ns{0};  // the replay entered the workflow function
  std::atomic<int64_t> record_ns{0};   // first execution: K new steps (queued for writing)
  std::atomic<int64_t> replay_ns{0};   // replay: K memoized steps
  std::atomic<bool> replayed{false};
  std::atomic<size_t> mismatches{0};  // memoized results that differ from what was stored
};

}  // namespace

boost::json::object measure_memoized_step(const MemoizedStepParams& params,
                                          const std::string& tmp_dir) {
  TempStore store(tmp_dir);
  auto clock = std::make_shared<ManualClock>();
  EngineOptions options;
  options.store = store.spec();
  options.clock = clock;
  options.poll_interval = std::chrono::milliseconds(5);  // notice the advanced clock promptly
  auto engine = Engine::open(options);
  engine->launch();

  std::vector<std::string> names;
  names.reserve(params.steps);
  for (size_t i = 0; i < params.steps; ++i) names.push_back("page-" + std::to_string(i));

  std::atomic<Timings*> timings{nullptr};
  engine->register_workflow("memo", [&](Context& ctx, const Json&) -> Json {
    Timings& t = *timings.load();
    bool replay = t.executions.fetch_add(1) > 0;
    if (replay) t.entered_ns = steady_ns();
    int64_t t0 = steady_ns();
    size_t mismatches = 0;
    for (size_t i = 0; i < names.size(); ++i) {
      Json r = ctx.step(names[i], [i] { return Json(boost::json::object{{"i", i}}); });
      if (r.as_object().at("i").to_number<size_t>() != i) ++mismatches;
    }
    int64_t t1 = steady_ns();
    (replay ? t.replay_ns : t.record_ns) = t1 - t0;
    t.mismatches += mismatches;
    if (replay) t.replayed = true;
    ctx.sleep("park", std::chrono::seconds(1));
    return boost::json::object{{"steps", names.size()}};
  });

  Conditions conditions;
  boost::json::array reps;
  std::vector<double> per_step_us;
  for (int rep = 0; rep < params.repetitions; ++rep) {
    std::fprintf(stderr, "memoized_step: repetition %d of %zu steps...\n", rep + 1, params.steps);
    Timings t;
    timings = &t;
    auto run = engine->start("memo", boost::json::object{{"rep", rep}});
    int64_t started = steady_ns();
    bool parked = wait_until([&] { return engine->get(run.id).status == RunStatus::sleeping; },
                             std::chrono::seconds(60));
    int64_t parked_ns = steady_ns() - started;
    int64_t advanced = steady_ns();
    clock->advance_ms(2000);
    bool replayed = wait_until([&] { return t.replayed.load(); }, std::chrono::seconds(60));
    bool completed = wait_until([&] { return engine->get(run.id).status == RunStatus::completed; },
                                std::chrono::seconds(60));

    double us = static_cast<double>(t.replay_ns.load()) / 1e3 / static_cast<double>(params.steps);
    per_step_us.push_back(us);
    boost::json::object r;
    r["run_completed"] = parked && replayed && completed;
    r["result_mismatches"] = t.mismatches.load();
    r["replay_us_per_memoized_step"] = round3(us);
    r["replay_ms_total"] = round3(static_cast<double>(t.replay_ns.load()) / 1e6);
    r["first_execution_us_per_new_step"] =
        round3(static_cast<double>(t.record_ns.load()) / 1e3 / static_cast<double>(params.steps));
    r["start_to_sleeping_ms"] = round3(static_cast<double>(parked_ns) / 1e6);
    // Includes up to one poll_interval before the timer is noticed, the claim
    // and loading the K stored steps.
    r["clock_advance_to_replay_entry_ms"] =
        round3(static_cast<double>(t.entered_ns.load() - advanced) / 1e6);
    reps.push_back(std::move(r));
  }
  engine->close();

  std::vector<double> sorted = per_step_us;
  auto summary = summarize(sorted);
  boost::json::object section;
  section["what"] =
      "replay of a run with K completed steps: wall time inside the workflow function from before "
      "the first memoized ctx.step to after the K-th, divided by K (stored results are parsed and "
      "checked)";
  section["params"] = {{"steps", params.steps},
                       {"repetitions", params.repetitions},
                       {"clock", "ManualClock"},
                       {"poll_interval_ms", 5}};
  section["repetitions"] = std::move(reps);
  double median = summary.empty() ? 0 : summary["p50"].as_double();
  section["us_per_memoized_step_median"] = median;
  section["target_us_per_memoized_step"] = kTargetUsPerStep;
  section["meets_target"] = median > 0 && median <= kTargetUsPerStep;
  section["conditions"] = conditions.finish();
  return section;
}

}  // namespace storyloom::bench
