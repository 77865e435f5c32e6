// storyloom_bench_inspector: how long `storyloom ui` takes to answer one page
// of its runs list (GET /api/runs, through the same Inspector the server
// uses) on a store of 100,000 runs: the first page, a page in the middle, the
// last one, filtered pages, a filter that matches nothing, and a search by
// idempotency key. Prints JSON; the target is under 1 s per page.
//
//   storyloom_bench_inspector [--runs N] [--reps N] [--tmp-dir DIR]
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <unistd.h>
#include <iostream>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "inspector.h"
#include "storyloom/engine.h"
#include "storyloom/store_reader.h"

using namespace storyloom;
using SteadyClock = std::chrono::steady_clock;

namespace {

struct Figure {
  std::string name;
  std::string target;
  double median_ms = 0;
  double max_ms = 0;
  size_t runs_in_page = 0;
};

}  // namespace

int main(int argc, char** argv) {
  size_t runs = 100000, reps = 20;
  std::filesystem::path tmp = std::filesystem::temp_directory_path();
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--runs") runs = std::stoul(argv[i + 1]);
    else if (flag == "--reps") reps = std::stoul(argv[i + 1]);
    else if (flag == "--tmp-dir") tmp = argv[i + 1];
    else {
      std::cerr << "usage: storyloom_bench_inspector [--runs N] [--reps N] [--tmp-dir DIR]\n";
      return 2;
    }
  }
  auto dir = tmp / ("storyloom-bench-inspector-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::string store = (dir / "runs.db").string();
  std::vector<std::string> ids;
  {
    EngineOptions options;
    options.store = store;
    options.durability = Durability::normal;
    auto engine = Engine::open(options);
    // Registered, never launched: the runs stay queued.
    for (auto name : {"story", "image"}) {
      engine->register_workflow(name, [](Context&, const Json&) -> Json { return nullptr; });
    }
    auto started = SteadyClock::now();
    for (size_t done = 0; done < runs;) {
      std::vector<StartRequest> batch;
      for (size_t i = 0; i < 1000 && done < runs; ++i, ++done) {
        StartOptions o;
        o.owner = "user-" + std::to_string(done % 100);
        o.idempotency_key = "key-" + std::to_string(done);
        batch.push_back({done % 10 == 0 ? "image" : "story",
                         boost::json::object{{"topic", "owls"}, {"n", done}}, o});
      }
      for (auto& r : engine->start_many(std::move(batch))) ids.push_back(r.run->id);
    }
    std::cerr << "wrote " << runs << " runs in "
              << std::chrono::duration<double>(SteadyClock::now() - started).count() << " s\n";
    engine->close();
  }
  cli::ui::Inspector inspector(StoreReader::open(store), nullptr);
  std::vector<std::pair<std::string, std::string>> cases = {
      {"first_page", "/api/runs?limit=50"},
      {"middle_page", "/api/runs?limit=50&cursor=" + ids[ids.size() / 2]},
      {"last_page", "/api/runs?limit=50&cursor=" + ids[ids.size() - 25]},
      {"full_page_1000", "/api/runs?limit=1000&cursor=" + ids[ids.size() / 3]},
      {"by_workflow", "/api/runs?limit=50&workflow=image&cursor=" + ids[ids.size() / 2]},
      {"by_owner", "/api/runs?limit=50&owner=user-7"},
      {"by_status", "/api/runs?limit=50&status=queued&cursor=" + ids[ids.size() / 2]},
      {"no_match", "/api/runs?limit=50&status=failed&error_class=fatal"},
      {"search_key", "/api/runs?q=key-" + std::to_string(runs / 2)},
  };
  boost::json::array figures;
  bool all_under = true;
  for (auto& [name, target] : cases) {
    std::vector<double> ms;
    size_t in_page = 0;
    for (size_t r = 0; r < reps; ++r) {
      auto t0 = SteadyClock::now();
      auto res = inspector.handle({"GET", target, "", ""});
      ms.push_back(std::chrono::duration<double, std::milli>(SteadyClock::now() - t0).count());
      if (res.status != 200) {
        std::cerr << name << ": HTTP " << res.status << " " << res.body << "\n";
        return 1;
      }
      in_page = boost::json::parse(res.body).at("runs").as_array().size();
    }
    std::sort(ms.begin(), ms.end());
    all_under = all_under && ms.back() < 1000;
    figures.push_back(boost::json::object{{"case", name},
                                          {"runs_in_page", in_page},
                                          {"median_ms", ms[ms.size() / 2]},
                                          {"max_ms", ms.back()}});
  }
  std::filesystem::remove_all(dir);
  std::cout << boost::json::serialize(boost::json::object{{"section", "inspector_list"},
                                                          {"runs", runs},
                                                          {"reps", reps},
                                                          {"target_ms_per_page", 1000},
                                                          {"all_under_target", all_under},
                                                          {"figures", std::move(figures)}})
            << "\n";
  return all_under ? 0 : 1;
}
