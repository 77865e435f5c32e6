// Scheduling figures: runs/s through a concurrency-keyed workflow against the
// same workflow unkeyed, the drain of a deep queue over few keys, and the cost
// of many parked runs (memory per run, time to wake them all by signal).
#include <atomic>
#include <cstdio>
#include <fstream>
#include <thread>
#include <unistd.h>

#include "bench.h"
#include "stats.h"
#include "storyloom/engine.h"

namespace storyloom::bench {
namespace {

constexpr double kTargetKeyedRatio = 0.5;
constexpr double kTargetBytesPerParkedRun = 2048;
constexpr double kTargetWakeAllSeconds = 2.0;
constexpr size_t kDrainKeys = 10;  // few keys: most queued runs are held back

// Resident set size of this process, from /proc/self/statm.
double rss_bytes() {
  std::ifstream statm("/proc/self/statm");
  long long size = 0, resident = 0;
  statm >> size >> resident;
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE));
}

// Calls fn(i) for i in [0, n) from `threads` client threads.
template <typename Fn>
void from_clients(size_t n, int threads, Fn fn) {
  std::vector<std::thread> clients;
  std::atomic<size_t> next{0};
  for (int t = 0; t < threads; ++t) {
    clients.emplace_back([&] {
      for (size_t i = next++; i < n; i = next++) fn(i);
    });
  }
  for (auto& c : clients) c.join();
}

// Runs/s of `runs` one-step runs started by 8 clients, until all completed.
double runs_per_second(const KeyedThroughputParams& params, const std::string& tmp_dir,
                       bool keyed) {
  TempStore store(tmp_dir);
  EngineOptions options;
  options.store = store.spec();
  auto engine = Engine::open(options);
  engine->launch();
  WorkflowOptions wo;
  if (keyed) wo.concurrency = ConcurrencyKey{"$.user", params.key_limit};
  std::atomic<size_t> done{0};
  engine->register_workflow(
      "page",
      [&](Context& ctx, const Json&) -> Json {
        Json r = ctx.step("write", [] { return Json(1); });
        done.fetch_add(1);
        return r;
      },
      wo);
  auto t0 = SteadyClock::now();
  std::vector<std::string> ids(params.runs);
  from_clients(params.runs, 8, [&](size_t i) {
    ids[i] = engine->start("page", boost::json::object{{"user", static_cast<int64_t>(i % params.keys)}}).id;
  });
  wait_until([&] { return done.load() == params.runs; }, std::chrono::seconds(600),
             std::chrono::milliseconds(1));
  for (size_t i = params.runs; i-- > params.runs - std::min<size_t>(params.runs, 16);) {
    wait_until([&] { return engine->get(ids[i]).status == RunStatus::completed; },
               std::chrono::seconds(60), std::chrono::milliseconds(1));
  }
  double seconds = std::chrono::duration<double>(SteadyClock::now() - t0).count();
  engine->close();
  return static_cast<double>(params.runs) / seconds;
}

// Runs/s draining `runs` one-step runs queued before the engine launches,
// over kDrainKeys keys (round robin) at `key_limit` each: at most
// kDrainKeys * key_limit run at once and every other queued run is held back
// by its key, so each claim must find a run whose key has a free slot behind
// thousands that have none.
double keyed_drain_runs_per_second(const KeyedThroughputParams& params, const std::string& tmp_dir) {
  TempStore store(tmp_dir);
  EngineOptions options;
  options.store = store.spec();
  auto engine = Engine::open(options);
  WorkflowOptions wo;
  wo.concurrency = ConcurrencyKey{"$.user", params.key_limit};
  std::atomic<size_t> done{0};
  engine->register_workflow(
      "page",
      [&](Context& ctx, const Json&) -> Json {
        Json r = ctx.step("write", [] { return Json(1); });
        done.fetch_add(1);
        return r;
      },
      wo);
  for (size_t first = 0; first < params.runs; first += 1000) {
    std::vector<StartRequest> batch;
    for (size_t i = first; i < std::min(params.runs, first + 1000); ++i) {
      batch.push_back(
          StartRequest{"page", boost::json::object{{"user", static_cast<int64_t>(i % kDrainKeys)}}, {}});
    }
    engine->start_many(std::move(batch));
  }
  auto t0 = SteadyClock::now();
  engine->launch();
  wait_until([&] { return done.load() == params.runs; }, std::chrono::seconds(1800),
             std::chrono::milliseconds(1));
  double seconds = std::chrono::duration<double>(SteadyClock::now() - t0).count();
  engine->close();
  return static_cast<double>(params.runs) / seconds;
}

}  // namespace

boost::json::object measure_keyed_throughput(const KeyedThroughputParams& params,
                                             const std::string& tmp_dir) {
  Conditions conditions;
  std::fprintf(stderr, "keyed_throughput: %zu runs unkeyed...\n", params.runs);
  double unkeyed = runs_per_second(params, tmp_dir, false);
  std::fprintf(stderr, "keyed_throughput: %zu runs keyed (%zu keys, limit %d)...\n", params.runs,
               params.keys, params.key_limit);
  double keyed = runs_per_second(params, tmp_dir, true);
  std::fprintf(stderr, "keyed_throughput: %zu runs queued over %zu keys (limit %d), then drained...\n",
               params.runs, kDrainKeys, params.key_limit);
  double drain = keyed_drain_runs_per_second(params, tmp_dir);
  boost::json::object section;
  section["what"] =
      "one-step runs started by 8 client threads, start of the first .. all completed; the same "
      "workflow with and without a concurrency key ($.user, limit per key)";
  section["params"] = {{"runs", params.runs}, {"keys", params.keys}, {"key_limit", params.key_limit}};
  section["unkeyed_runs_per_s"] = round3(unkeyed);
  section["keyed_runs_per_s"] = round3(keyed);
  section["keyed_over_unkeyed"] = round3(keyed / unkeyed);
  section["drain_what"] =
      "the same runs queued before launch over 10 keys ($.user, limit per key), launch .. all "
      "completed: every queued run but the running ones is held back by its key";
  section["drain_keys"] = kDrainKeys;
  section["drain_runs_per_s"] = round3(drain);
  section["target_keyed_over_unkeyed"] = kTargetKeyedRatio;
  section["meets_target"] = keyed / unkeyed >= kTargetKeyedRatio;
  section["conditions"] = conditions.finish();
  return section;
}

// Runs parked on a durable sleep, all due at once: the clock (a ManualClock)
// jumps past their timers, and the figure is the real time until none is
// parked any more (every run queued or further), then until all completed.
boost::json::object measure_timer_wake(const ParkedRunsParams& params, const std::string& tmp_dir) {
  TempStore store(tmp_dir);
  auto clock = std::make_shared<ManualClock>();
  EngineOptions options;
  options.store = store.spec();
  options.clock = clock;
  options.lease_ttl = std::chrono::hours(24);  // the jump must not look like a dead engine
  auto engine = Engine::open(options);
  engine->launch();
  std::atomic<size_t> finished{0};
  engine->register_workflow("nap", [&](Context& ctx, const Json&) -> Json {
    ctx.sleep("nap", std::chrono::hours(1));
    finished.fetch_add(1);
    return nullptr;
  });
  Conditions conditions;
  std::fprintf(stderr, "parked_runs: parking %zu runs on a sleep...\n", params.runs);
  from_clients(params.runs, 8, [&](size_t i) {
    engine->start("nap", boost::json::object{{"i", static_cast<int64_t>(i)}});
  });
  auto none_with = [&](RunStatus status) {
    RunFilter f;
    f.status = status;
    f.limit = 1;
    return engine->list(f).runs.empty();
  };
  wait_until([&] { return none_with(RunStatus::queued) && none_with(RunStatus::running); },
             std::chrono::seconds(600), std::chrono::milliseconds(5));
  std::fprintf(stderr, "parked_runs: the clock passes their timers...\n");
  auto t0 = SteadyClock::now();
  clock->advance_ms(3'600'001);
  bool woken = wait_until([&] { return none_with(RunStatus::sleeping); }, std::chrono::seconds(600),
                          std::chrono::milliseconds(1));
  double wake_seconds = std::chrono::duration<double>(SteadyClock::now() - t0).count();
  bool done = wait_until([&] { return finished.load() == params.runs; }, std::chrono::seconds(600),
                         std::chrono::milliseconds(1));
  double done_seconds = std::chrono::duration<double>(SteadyClock::now() - t0).count();
  engine->close();
  return boost::json::object{
      {"what", "runs parked on ctx.sleep(1 h); a ManualClock jumps past every timer at once; "
               "woken: until no run is sleeping (each queued, running or done); completed: "
               "until every run finished"},
      {"all_woken", woken},
      {"wake_all_s", round3(wake_seconds)},
      {"target_wake_all_s", kTargetWakeAllSeconds},
      {"meets_target", woken && wake_seconds <= kTargetWakeAllSeconds},
      {"all_completed", done},
      {"complete_all_s", round3(done_seconds)},
      {"conditions", conditions.finish()}};
}

boost::json::object measure_parked_runs(const ParkedRunsParams& params, const std::string& tmp_dir) {
  TempStore store(tmp_dir);
  EngineOptions options;
  options.store = store.spec();
  auto engine = Engine::open(options);
  engine->launch();
  std::atomic<size_t> woken{0};
  engine->register_workflow("approval", [&](Context& ctx, const Json&) -> Json {
    auto reply = ctx.wait_for_signal("approve");
    woken.fetch_add(1);
    return *reply;
  });
  // Warm the engine (threads, caches, statements) before the baseline.
  for (int i = 0; i < 100; ++i) {
    auto id = engine->start("approval", boost::json::object{}).id;
    engine->signal(id, "approve", Json(true));
  }
  wait_until([&] { return woken.load() == 100; }, std::chrono::seconds(30));
  woken = 0;
  Conditions conditions;
  double rss_before = rss_bytes();
  std::fprintf(stderr, "parked_runs: parking %zu runs...\n", params.runs);
  std::vector<std::string> ids(params.runs);
  auto t_park = SteadyClock::now();
  from_clients(params.runs, 8, [&](size_t i) {
    ids[i] = engine->start("approval", boost::json::object{{"i", static_cast<int64_t>(i)}}).id;
  });
  RunFilter waiting;
  waiting.status = RunStatus::waiting;
  waiting.workflow = "approval";
  // Every run parked: the last ones started are waiting.
  for (size_t i = params.runs; i-- > params.runs - std::min<size_t>(params.runs, 64);) {
    wait_until([&] { return engine->get(ids[i]).status == RunStatus::waiting; },
               std::chrono::seconds(600), std::chrono::milliseconds(1));
  }
  wait_until([&] { return engine->get(ids[0]).status == RunStatus::waiting; }, std::chrono::seconds(60));
  double park_seconds = std::chrono::duration<double>(SteadyClock::now() - t_park).count();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // executions released
  double rss_parked = rss_bytes();
  std::fprintf(stderr, "parked_runs: waking them by signal...\n");
  auto t_wake = SteadyClock::now();
  from_clients(params.runs, 8, [&](size_t i) { engine->signal(ids[i], "approve", Json(true)); });
  double signal_seconds = std::chrono::duration<double>(SteadyClock::now() - t_wake).count();
  bool all = wait_until([&] { return woken.load() == params.runs; }, std::chrono::seconds(600),
                        std::chrono::milliseconds(1));
  for (size_t i = params.runs; i-- > params.runs - std::min<size_t>(params.runs, 16);) {
    wait_until([&] { return engine->get(ids[i]).status == RunStatus::completed; },
               std::chrono::seconds(60), std::chrono::milliseconds(1));
  }
  double wake_seconds = std::chrono::duration<double>(SteadyClock::now() - t_wake).count();
  engine->close();

  double per_run = (rss_parked - rss_before) / static_cast<double>(params.runs);
  boost::json::object section;
  section["what"] =
      "runs started by 8 clients, each parking on wait_for_signal; memory is the process RSS "
      "delta (engine plus SQLite page caches) over the parked count; waking is 8 clients "
      "signalling every run, first signal .. every run completed";
  section["params"] = {{"runs", params.runs}};
  section["all_woken"] = all;
  section["park_all_s"] = round3(park_seconds);
  section["rss_delta_bytes"] = rss_parked - rss_before;
  section["bytes_per_parked_run"] = round3(per_run);
  section["target_bytes_per_parked_run"] = kTargetBytesPerParkedRun;
  section["signal_calls_s"] = round3(signal_seconds);
  section["wake_all_s"] = round3(wake_seconds);
  section["target_wake_all_s"] = kTargetWakeAllSeconds;
  section["meets_target"] = per_run <= kTargetBytesPerParkedRun && wake_seconds <= kTargetWakeAllSeconds;
  section["conditions"] = conditions.finish();
  section["by_timer"] = measure_timer_wake(params, tmp_dir);
  return section;
}

}  // namespace storyloom::bench
