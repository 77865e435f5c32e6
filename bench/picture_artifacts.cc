// Binary artifacts at picture size: a run writes N pictures of B bytes (1 MB
// by default), each followed by a step, so every picture is committed (and,
// at durability full, synced) before the run goes on. The same run without
// pictures is the baseline; the difference per picture is the store time a
// picture adds. Each picture is then read back and compared byte for byte.
#include <algorithm>
#include <atomic>
#include <cstdio>

#include "bench.h"
#include "stats.h"
#include "storyloom/engine.h"

namespace storyloom::bench {
namespace {

constexpr double kTargetMsPerPicture = 20.0;

// Bytes that do not compress and differ per picture, like real PNG data.
std::string picture_bytes(size_t size, uint64_t seed) {
  std::string out(size, '\0');
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (auto& c : out) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    c = static_cast<char>(x);
  }
  return out;
}

}  // namespace

boost::json::object measure_picture_artifacts(const PictureArtifactsParams& params,
                                              const std::string& tmp_dir) {
  TempStore store(tmp_dir);
  EngineOptions options;
  options.store = store.spec();
  options.poll_interval = std::chrono::milliseconds(5);
  auto engine = Engine::open(options);
  std::vector<std::string> pictures;
  for (size_t i = 0; i < params.pictures; ++i) pictures.push_back(picture_bytes(params.bytes, i));

  std::atomic<int64_t> workflow_ns{0};
  engine->register_workflow("book", [&](Context& ctx, const Json& input) -> Json {
    bool with_pictures = input.at("pictures").as_bool();
    int64_t t0 = steady_ns();
    for (size_t i = 0; i < pictures.size(); ++i) {
      std::string page = "page-" + std::to_string(i + 1);
      if (with_pictures) ctx.binary_artifact(page + ".picture", "image/png", pictures[i]);
      // The step waits for the picture's commit: a run's writes are durable in order.
      ctx.step(page, [&] { return Json(static_cast<int64_t>(i)); });
    }
    workflow_ns = steady_ns() - t0;
    return nullptr;
  });
  engine->launch();

  Conditions conditions;
  boost::json::array reps;
  std::vector<double> added_ms;
  std::vector<double> read_ms;
  size_t mismatches = 0;
  bool all_completed = true;
  for (int rep = 0; rep < params.repetitions; ++rep) {
    std::fprintf(stderr, "picture_artifacts: repetition %d: %zu pictures of %zu bytes...\n",
                 rep + 1, params.pictures, params.bytes);
    double run_ms[2] = {0, 0};
    std::string run_with;
    for (int with = 0; with < 2; ++with) {
      auto run = engine->start("book", boost::json::object{{"pictures", with == 1}, {"rep", rep}});
      bool done = wait_until(
          [&] { return is_finished(engine->get(run.id).status); }, std::chrono::seconds(120));
      all_completed = all_completed && done && engine->get(run.id).status == RunStatus::completed;
      run_ms[with] = static_cast<double>(workflow_ns.load()) / 1e6;
      if (with == 1) run_with = run.id;
    }
    for (size_t i = 0; i < pictures.size(); ++i) {
      int64_t t0 = steady_ns();
      auto read = engine->artifact_bytes(run_with, "page-" + std::to_string(i + 1) + ".picture");
      read_ms.push_back(static_cast<double>(steady_ns() - t0) / 1e6);
      if (read.bytes != pictures[i]) ++mismatches;
    }
    double added = (run_ms[1] - run_ms[0]) / static_cast<double>(params.pictures);
    added_ms.push_back(added);
    reps.push_back({{"run_ms_with_pictures", round3(run_ms[1])},
                    {"run_ms_without", round3(run_ms[0])},
                    {"added_ms_per_picture", round3(added)}});
  }
  engine->close();

  std::sort(added_ms.begin(), added_ms.end());
  double median = added_ms.empty() ? 0 : median_sorted(added_ms);
  boost::json::object section;
  section["what"] =
      "a run of N pages, each a picture (binary artifact) then a step, against the same run "
      "without pictures: the added wall time per picture (written, committed and synced before "
      "the next step); then each picture read back with artifact_bytes and compared";
  section["params"] = {{"pictures", params.pictures},
                       {"bytes", params.bytes},
                       {"repetitions", params.repetitions},
                       {"durability", "full"}};
  section["repetitions"] = std::move(reps);
  section["all_runs_completed"] = all_completed;
  section["read_back_mismatches"] = mismatches;
  section["read_back_ms"] = summarize(read_ms);
  section["added_ms_per_picture_median"] = round3(median);
  section["target_ms_per_picture"] = kTargetMsPerPicture;
  section["meets_target"] = all_completed && mismatches == 0 && median <= kTargetMsPerPicture;
  section["conditions"] = conditions.finish();
  return section;
}

}  // namespace storyloom::bench
