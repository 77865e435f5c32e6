// Runs started and completed per second: no-op runs of one step, started from
// several client threads at once (Engine::start waits for its commit, so one
// thread would measure commit latency instead), until the store says every
// run is completed.
#include <atomic>
#include <cstdio>
#include <thread>

#include "bench.h"
#include "stats.h"
#include "storyloom/engine.h"

namespace storyloom::bench {
namespace {

constexpr double kTargetRunsPerSecond = 60'000;

// Runs of `status` in the store, counted a page at a time.
size_t count_runs(Engine& engine, RunStatus status) {
  RunFilter filter;
  filter.status = status;
  filter.limit = 1000;
  size_t count = 0;
  for (;;) {
    auto page = engine.list(filter);
    count += page.runs.size();
    if (page.next_cursor.empty()) return count;
    filter.after_run_id = page.next_cursor;
  }
}

boost::json::object measure_once(size_t runs, int clients, const ThroughputParams& params,
                                 const std::string& tmp_dir) {
  TempStore store(tmp_dir);
  EngineOptions options;
  options.store = store.spec();
  options.durability = params.durability;
  options.workers = params.workers;
  options.max_executions = params.max_executions;
  auto engine = Engine::open(options);
  engine->launch();
  std::atomic<size_t> executed{0};
  engine->register_workflow("noop", [&executed](Context& ctx, const Json&) -> Json {
    Json result = ctx.step("only", [] { return Json(boost::json::object{{"ok", true}}); });
    executed.fetch_add(1, std::memory_order_relaxed);
    return result;
  });

  std::atomic<bool> go{false};
  std::vector<std::vector<double>> start_us(static_cast<size_t>(clients));
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    size_t mine = runs / static_cast<size_t>(clients) +
                  (static_cast<size_t>(c) < runs % static_cast<size_t>(clients) ? 1 : 0);
    threads.emplace_back([&, c, mine] {
      auto& samples = start_us[static_cast<size_t>(c)];
      samples.reserve(mine);
      const Json input = boost::json::object{{"client", c}};
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      for (size_t i = 0; i < mine; ++i) {
        int64_t t0 = steady_ns();
        engine->start("noop", input);
        samples.push_back(static_cast<double>(steady_ns() - t0) / 1e3);
      }
    });
  }

  Conditions conditions;
  int64_t t_first = steady_ns();
  go.store(true, std::memory_order_release);
  for (auto& t : threads) t.join();
  int64_t t_started = steady_ns();
  size_t executed_when_started = executed.load();

  // Every workflow function has returned, then the store has no unfinished run.
  // Polled every 2 ms, as the Node and Python benches poll: a waiter waking
  // every 200 µs took several percent of a core from the engine it measures.
  bool finished = wait_until([&] { return executed.load() >= runs; }, std::chrono::minutes(2),
                             std::chrono::milliseconds(2));
  auto none_of = [&engine](RunStatus s) {
    RunFilter f;
    f.status = s;
    f.limit = 1;
    return engine->list(f).runs.empty();
  };
  finished = finished &&
             wait_until([&] { return none_of(RunStatus::running) && none_of(RunStatus::queued); },
                        std::chrono::minutes(1), std::chrono::milliseconds(2));
  int64_t t_last = steady_ns();
  double cpu_seconds = conditions.process_cpu_seconds();
  auto timed_conditions = conditions.finish();

  // Outside the timed window: every run is completed in the store.
  size_t completed = count_runs(*engine, RunStatus::completed);
  size_t failed = count_runs(*engine, RunStatus::failed);
  engine->close();

  std::vector<double> all_start_us;
  all_start_us.reserve(runs);
  for (auto& s : start_us) all_start_us.insert(all_start_us.end(), s.begin(), s.end());

  double seconds = static_cast<double>(t_last - t_first) / 1e9;
  double start_seconds = static_cast<double>(t_started - t_first) / 1e9;
  boost::json::object out;
  out["clients"] = clients;
  out["runs"] = runs;
  out["all_completed"] = finished && completed == runs;
  out["completed_in_store"] = completed;
  out["failed_in_store"] = failed;
  out["seconds"] = round3(seconds);
  out["runs_per_s"] = round3(static_cast<double>(runs) / seconds);
  out["target_runs_per_s"] = kTargetRunsPerSecond;
  out["meets_target"] = static_cast<double>(runs) / seconds >= kTargetRunsPerSecond;
  out["starts_per_s"] = round3(static_cast<double>(runs) / start_seconds);
  out["seconds_until_last_start_returned"] = round3(start_seconds);
  out["executed_when_last_start_returned"] = executed_when_started;
  out["start_call_us"] = summarize(all_start_us);
  // CPU time of the whole process (clients included) over the timed window: a
  // figure that a busy machine distorts less than runs_per_s.
  out["process_cpu_s"] = round3(cpu_seconds);
  out["cpu_us_per_run"] = round3(cpu_seconds * 1e6 / static_cast<double>(runs));
  out["conditions"] = std::move(timed_conditions);
  return out;
}

}  // namespace

boost::json::object measure_throughput(const ThroughputParams& params, const std::string& tmp_dir) {
  boost::json::object section;
  section["what"] =
      "no-op runs (one ctx.step returning a small object) started from several client threads at "
      "once; runs_per_s = runs / (first start() call .. every run confirmed completed in the "
      "store)";
  section["params"] = {{"durability", to_string(params.durability)},
                       {"runs", params.runs},
                       {"workers", params.workers},
                       {"max_executions", params.max_executions},
                       {"clients", boost::json::value_from(params.clients)},
                       {"budget_seconds", params.budget_seconds}};
  section["target_runs_per_s"] = kTargetRunsPerSecond;
  boost::json::array results;
  double best = 0;
  int best_clients = 0;
  boost::json::array skipped;
  int64_t began = steady_ns();
  for (int clients : params.clients) {
    if (!results.empty() &&
        static_cast<double>(steady_ns() - began) / 1e9 > params.budget_seconds) {
      std::fprintf(stderr, "throughput: %d clients skipped (over the %.0f s budget)\n", clients,
                   params.budget_seconds);
      skipped.push_back(clients);
      continue;
    }
    std::fprintf(stderr, "throughput: %zu runs from %d clients...\n", params.runs, clients);
    auto r = measure_once(params.runs, clients, params, tmp_dir);
    std::fprintf(stderr, "throughput: %d clients: %.0f runs/s\n", clients,
                 r["runs_per_s"].as_double());
    if (r["runs_per_s"].as_double() > best) {
      best = r["runs_per_s"].as_double();
      best_clients = clients;
    }
    results.push_back(std::move(r));
  }
  section["by_clients"] = std::move(results);
  if (!skipped.empty()) {
    section["skipped_clients"] = std::move(skipped);
    section["skipped_because"] = "the throughput budget (--throughput-budget-s) was used up";
  }
  section["best_runs_per_s"] = best;
  section["best_clients"] = best_clients;
  section["meets_target"] = best >= kTargetRunsPerSecond;
  return section;
}

}  // namespace storyloom::bench
