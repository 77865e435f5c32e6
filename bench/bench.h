// The measurements storyloom_bench makes, one function each, and what they share.
// Every measurement opens its own engine on a fresh temporary SQLite file (WAL;
// durability full unless the section says otherwise) and returns its JSON section:
// the parameters, the raw figures and the target next to each figure.
#pragma once

#include <boost/json.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "storyloom/engine.h"

namespace storyloom::bench {

using SteadyClock = std::chrono::steady_clock;

inline int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(SteadyClock::now().time_since_epoch())
      .count();
}

// A temporary directory for one store file; removed with its WAL and SHM files.
class TempStore {
 public:
  explicit TempStore(const std::string& parent_dir);
  ~TempStore();
  TempStore(const TempStore&) = delete;
  TempStore& operator=(const TempStore&) = delete;
  // "sqlite:<dir>/bench.db", for EngineOptions::store.
  std::string spec() const;

 private:
  std::string dir_;
};

// Polls `done` every `every` until it holds or `limit` passes; returns whether it held.
bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds limit,
                std::chrono::microseconds every = std::chrono::microseconds(500));

// What else the machine was doing while a measurement ran: the 1-minute load
// average before and after, and the CPU time this process used (all threads).
class Conditions {
 public:
  Conditions();  // takes the "before" readings
  // {"wall_s","process_cpu_s","load_1m_before","load_1m_after"}
  boost::json::object finish() const;
  double process_cpu_seconds() const;  // since construction

 private:
  int64_t wall_ns_;
  double cpu_s_;
  double load_;
};

// nproc, CPU, memory, kernel, compiler, build type, library versions, and the
// file system the temporary stores live on.
boost::json::object machine_info(const std::string& tmp_dir);

struct ThroughputParams {
  size_t runs = 50'000;
  std::vector<int> clients{8, 16, 32};  // one measurement per count, each on a fresh engine
  int workers = 32;                     // EngineOptions::workers (the default)
  int max_executions = 256;             // EngineOptions::max_executions (the default)
  // No further client count is measured once this much time has gone by, so
  // the whole bench stays near two minutes on a slow or busy machine.
  double budget_seconds = 75;
  Durability durability = Durability::full;
};
boost::json::object measure_throughput(const ThroughputParams& params, const std::string& tmp_dir);

struct MemoizedStepParams {
  size_t steps = 10'000;
  int repetitions = 3;  // runs, each measured once on replay
};
boost::json::object measure_memoized_step(const MemoizedStepParams& params,
                                          const std::string& tmp_dir);

struct EventLatencyParams {
  size_t events = 2'000;
  int64_t gap_us = 200;
  std::vector<int> subscribers{1, 100};  // one measurement per count, each on a fresh engine
};
boost::json::object measure_event_latency(const EventLatencyParams& params,
                                          const std::string& tmp_dir);

struct StartLatencyParams {
  size_t samples = 1'000;
  size_t warmup = 20;  // runs before the measured ones, not counted
  Durability durability = Durability::full;
};

inline const char* to_string(Durability d) { return d == Durability::full ? "full" : "normal"; }
boost::json::object measure_start_latency(const StartLatencyParams& params,
                                          const std::string& tmp_dir);

struct KeyedThroughputParams {
  size_t runs = 20'000;
  size_t keys = 1'000;  // distinct $.user values
  int key_limit = 2;    // running runs per key
};
// In scheduling.cc.
boost::json::object measure_keyed_throughput(const KeyedThroughputParams& params,
                                             const std::string& tmp_dir);

struct ParkedRunsParams {
  size_t runs = 100'000;
};
boost::json::object measure_parked_runs(const ParkedRunsParams& params, const std::string& tmp_dir);

struct LlmStreamParams {
  size_t tokens = 2'000;        // paced: one token every interval_us
  int64_t interval_us = 1'000;  // a fast model's pace (1,000 tokens a second)
  size_t fast_tokens = 300'000;  // then as fast as the server writes (over a second), for the store writes
};
// In llm_stream.cc: needs the fake LLM server of tests/support.
boost::json::object measure_llm_stream(const LlmStreamParams& params, const std::string& tmp_dir);

// The storage floor (storage_floor.cc, sqlite_floor.cc): sizes of each section.
struct FloorParams {
  size_t drain_runs = 20'000;
  size_t start_many_runs = 50'000;
  size_t start_many_batch = 500;
  size_t floor_group = 256;
  size_t signal_runs = 100'000;
  size_t signal_batch = 10'000;
};
boost::json::object measure_drain(size_t runs, Durability durability, const std::string& tmp_dir);
boost::json::object measure_start_many(size_t runs, size_t batch, Durability durability,
                                       const std::string& tmp_dir);
boost::json::object measure_sqlite_floor(size_t jobs, size_t group, Durability durability,
                                         const std::string& tmp_dir);
boost::json::object measure_signal_many(size_t runs, size_t batch, const std::string& tmp_dir);
struct PictureArtifactsParams {
  size_t pictures = 10;     // pages, one picture each
  size_t bytes = 1 << 20;   // per picture (1 MiB)
  int repetitions = 3;      // runs with and without pictures, each
};
// In picture_artifacts.cc: binary artifacts at picture size, written and read back.
boost::json::object measure_picture_artifacts(const PictureArtifactsParams& params,
                                              const std::string& tmp_dir);

}  // namespace storyloom::bench
