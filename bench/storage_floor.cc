// The engine against the storage floor, at the durability named (full unless
// a section says otherwise):
//   drain        runs queued in bulk before launch(), then executed by one
//                worker thread with one execution at a time;
//   start_many   runs started in batches by start_many and executed;
//   signal_many  runs parked on wait_for_signal, woken by signal_many batches.
// Each reports bytes written per run (write() calls of the whole process) and
// the largest size the WAL reached, beside runs per second.
#include <atomic>
#include <cstdio>
#include <thread>

#include "bench.h"
#include "stats.h"
#include "storage_io.h"
#include "storyloom/engine.h"

namespace storyloom::bench {
namespace {

std::string wal_path(const TempStore& store) {
  return store.spec().substr(std::string("sqlite:").size()) + "-wal";
}

void register_noop(Engine& engine, std::atomic<size_t>& executed) {
  engine.register_workflow("noop", [&executed](Context& ctx, const Json&) -> Json {
    Json result = ctx.step("only", [] { return Json(boost::json::object{{"ok", true}}); });
    executed.fetch_add(1, std::memory_order_relaxed);
    return result;
  });
}

// Starts `runs` no-op runs in calls of `batch`, from `clients` threads.
void start_in_batches(Engine& engine, const std::string& workflow, size_t runs, size_t batch,
                      int clients) {
  std::vector<std::thread> threads;
  std::atomic<size_t> next{0};
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      for (;;) {
        size_t first = next.fetch_add(batch);
        if (first >= runs) return;
        std::vector<StartRequest> requests;
        for (size_t i = first; i < std::min(runs, first + batch); ++i) {
          requests.push_back(StartRequest{workflow, boost::json::object{{"client", c}}, {}});
        }
        for (const auto& r : engine.start_many(std::move(requests))) {
          if (r.error) throw *r.error;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
}

// How often the bench looks at its counters: on two cores a waiter waking
// every 200 µs took 8% of a core from the engine it measures (perf); 2 ms
// adds at most 2 ms to figures of several seconds.
constexpr std::chrono::milliseconds kPollEvery(2);

// Waits until every workflow function returned, then until the store has no
// queued or running run left; returns whether both happened in time.
bool wait_all_done(Engine& engine, const std::atomic<size_t>& executed, size_t runs) {
  bool done = wait_until([&] { return executed.load() >= runs; }, std::chrono::minutes(5),
                         kPollEvery);
  auto none_of = [&engine](RunStatus s) {
    RunFilter f;
    f.status = s;
    f.limit = 1;
    return engine.list(f).runs.empty();
  };
  return done &&
         wait_until([&] { return none_of(RunStatus::running) && none_of(RunStatus::queued); },
                    std::chrono::minutes(1), kPollEvery);
}

boost::json::object io_figures(int64_t bytes, size_t runs, const FileSizeWatcher& wal) {
  return {{"bytes_written_per_run", round3(static_cast<double>(bytes) / static_cast<double>(runs))},
          {"target_bytes_written_per_run", 2048},
          {"wal_max_bytes", wal.max_bytes()},
          {"target_wal_max_bytes", 64 << 20}};
}

}  // namespace

boost::json::object measure_drain(size_t runs, Durability durability, const std::string& tmp_dir) {
  TempStore store(tmp_dir);
  EngineOptions options;
  options.store = store.spec();
  options.durability = durability;
  options.workers = 1;
  options.max_executions = 1;
  auto engine = Engine::open(options);
  std::atomic<size_t> executed{0};
  register_noop(*engine, executed);
  std::fprintf(stderr, "drain: queueing %zu runs...\n", runs);
  start_in_batches(*engine, "noop", runs, 1000, 1);
  FileSizeWatcher wal(wal_path(store));
  Conditions conditions;
  int64_t bytes_before = process_bytes_written();
  int64_t t0 = steady_ns();
  engine->launch();
  bool done = wait_all_done(*engine, executed, runs);
  double seconds = static_cast<double>(steady_ns() - t0) / 1e9;
  int64_t bytes = process_bytes_written() - bytes_before;
  wal.stop();
  engine->close();
  boost::json::object section{
      {"what",
       "no-op one-step runs queued with start_many before launch(), then drained by one worker "
       "thread with max_executions 1 (one run executing at a time); launch() .. no run queued "
       "or running"},
      {"params", {{"runs", runs}, {"durability", to_string(durability)}}},
      {"all_completed", done},
      {"seconds", round3(seconds)},
      {"runs_per_s", round3(static_cast<double>(runs) / seconds)},
      {"target_runs_per_s", 5000},
      {"conditions", conditions.finish()}};
  for (auto& kv : io_figures(bytes, runs, wal)) section[kv.key()] = kv.value();
  return section;
}

boost::json::object measure_start_many(size_t runs, size_t batch, Durability durability,
                                       const std::string& tmp_dir) {
  TempStore store(tmp_dir);
  EngineOptions options;
  options.store = store.spec();
  options.durability = durability;
  auto engine = Engine::open(options);
  std::atomic<size_t> executed{0};
  register_noop(*engine, executed);
  engine->launch();
  std::fprintf(stderr, "start_many: %zu runs in batches of %zu...\n", runs, batch);
  FileSizeWatcher wal(wal_path(store));
  Conditions conditions;
  int64_t bytes_before = process_bytes_written();
  int64_t t0 = steady_ns();
  start_in_batches(*engine, "noop", runs, batch, 4);
  double start_seconds = static_cast<double>(steady_ns() - t0) / 1e9;
  bool done = wait_all_done(*engine, executed, runs);
  double seconds = static_cast<double>(steady_ns() - t0) / 1e9;
  int64_t bytes = process_bytes_written() - bytes_before;
  wal.stop();
  engine->close();
  boost::json::object section{
      {"what",
       "no-op one-step runs started by 4 client threads calling start_many with `batch` runs "
       "each, executed by the default workers; first call .. no run queued or running"},
      {"params", {{"runs", runs}, {"batch", batch}, {"durability", to_string(durability)}}},
      {"all_completed", done},
      {"seconds", round3(seconds)},
      {"starts_per_s", round3(static_cast<double>(runs) / start_seconds)},
      {"runs_per_s", round3(static_cast<double>(runs) / seconds)},
      {"target_runs_per_s", 40000},
      {"conditions", conditions.finish()}};
  for (auto& kv : io_figures(bytes, runs, wal)) section[kv.key()] = kv.value();
  return section;
}

boost::json::object measure_signal_many(size_t runs, size_t batch, const std::string& tmp_dir) {
  TempStore store(tmp_dir);
  EngineOptions options;
  options.store = store.spec();
  auto engine = Engine::open(options);
  std::atomic<size_t> parked{0};
  std::atomic<size_t> woken{0};
  engine->register_workflow("approval", [&](Context& ctx, const Json&) -> Json {
    parked.fetch_add(1, std::memory_order_relaxed);
    auto reply = ctx.wait_for_signal("approve");
    woken.fetch_add(1, std::memory_order_relaxed);
    return *reply;
  });
  engine->launch();
  std::fprintf(stderr, "signal_many: parking %zu runs...\n", runs);
  std::vector<std::string> ids;
  ids.reserve(runs);
  for (size_t first = 0; first < runs; first += 1000) {
    std::vector<StartRequest> requests;
    for (size_t i = first; i < std::min(runs, first + 1000); ++i) {
      requests.push_back(StartRequest{"approval", boost::json::object{}, {}});
    }
    for (auto& r : engine->start_many(std::move(requests))) {
      if (r.error) throw *r.error;
      ids.push_back(r.run->id);
    }
  }
  // Every run has reached its wait, and no run is queued or running any more.
  wait_until([&] { return parked.load() >= runs; }, std::chrono::minutes(10),
             std::chrono::milliseconds(1));
  auto none_of = [&engine](RunStatus s) {
    RunFilter f;
    f.status = s;
    f.limit = 1;
    return engine->list(f).runs.empty();
  };
  wait_until([&] { return none_of(RunStatus::running) && none_of(RunStatus::queued); },
             std::chrono::minutes(2), std::chrono::milliseconds(1));
  std::fprintf(stderr, "signal_many: waking them...\n");
  Conditions conditions;
  int64_t t0 = steady_ns();
  for (size_t first = 0; first < runs; first += batch) {
    std::vector<SignalRequest> signals;
    for (size_t i = first; i < std::min(runs, first + batch); ++i) {
      signals.push_back(SignalRequest{ids[i], "approve", Json(true)});
    }
    for (const auto& e : engine->signal_many(std::move(signals))) {
      if (e) throw *e;
    }
  }
  double signal_seconds = static_cast<double>(steady_ns() - t0) / 1e9;
  // "Running again" is the workflow function past its wait, for every run.
  bool all = wait_until([&] { return woken.load() >= runs; }, std::chrono::minutes(5),
                        kPollEvery);
  double seconds = static_cast<double>(steady_ns() - t0) / 1e9;
  engine->close();
  return {{"what",
           "runs parked on wait_for_signal (started with start_many), then one thread calls "
           "signal_many with `batch` signals at a time; first call .. every workflow function "
           "past its wait"},
          {"params", {{"runs", runs}, {"batch", batch}}},
          {"all_woken", all},
          {"signal_calls_s", round3(signal_seconds)},
          {"wake_all_s", round3(seconds)},
          {"target_wake_all_s", 2.0},
          {"conditions", conditions.finish()}};
}

}  // namespace storyloom::bench
