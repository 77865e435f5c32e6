// The store the inspector's browser test looks at: an engine executing three
// workflows, started on demand. Reads lines "WORKFLOW JSON" on stdin and
// answers each with the new run's id on stdout; exits at end of input.
//   story  {"pages": N, "delay_ms": D}  N pages, D ms each, with progress,
//                                       a token stream and an artifact per page
//   flaky  {}                           its step fails (fatal) at the first
//                                       execution, succeeds once retried
//   slow   {}                           200 steps of 250 ms: one to cancel
#include <chrono>
#include <iostream>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "storyloom/engine.h"

using namespace storyloom;

namespace {

int64_t int_field(const Json& input, const char* name, int64_t fallback) {
  const auto* v = input.as_object().if_contains(name);
  return v && v->is_int64() ? v->as_int64() : fallback;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: storyloom_ui_e2e_fixture STORE\n";
    return 2;
  }
  EngineOptions options;
  options.store = argv[1];
  options.durability = Durability::normal;
  options.chunk_flush_interval = std::chrono::milliseconds(20);
  // For the Limits page: a resource with a cap, used by "busy" runs that
  // hold it, one per user at a time.
  ResourceLimits llm;
  llm.requests = 5;
  llm.max_in_flight = 2;
  options.resources["llm:e2e"] = llm;
  auto engine = Engine::open(options);
  WorkflowOptions one_per_user;
  one_per_user.concurrency = ConcurrencyKey{"user", 1};
  engine->register_workflow(
      "busy",
      [](Context& ctx, const Json& input) -> Json {
        auto hold = std::chrono::milliseconds(int_field(input, "hold_ms", 1000));
        return ctx.step_using("llm:e2e", "call", [&]() -> Json {
          auto until = std::chrono::steady_clock::now() + hold;
          while (std::chrono::steady_clock::now() < until && !ctx.cancelled()) {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
          }
          return nullptr;
        });
      },
      one_per_user);
  engine->register_workflow("story", [](Context& ctx, const Json& input) -> Json {
    int64_t pages = int_field(input, "pages", 3);
    auto delay = std::chrono::milliseconds(int_field(input, "delay_ms", 300));
    for (int64_t i = 1; i <= pages; ++i) {
      std::string name = "page-" + std::to_string(i);
      ctx.step(name, [&]() -> Json {
        std::this_thread::sleep_for(delay / 2);
        ctx.chunk("pages", "Page " + std::to_string(i) + " begins. ");
        std::this_thread::sleep_for(delay / 2);
        return boost::json::object{{"page", i}, {"words", 100 * i}};
      });
      ctx.progress(boost::json::object{{"page", i}, {"of", pages}});
      ctx.artifact(name, boost::json::object{{"text", "Once upon page " + std::to_string(i)}});
    }
    return boost::json::object{{"pages", pages}};
  });
  static std::mutex failed_mutex;
  static std::set<std::string> failed_once;
  engine->register_workflow("flaky", [](Context& ctx, const Json&) -> Json {
    Json fetched = ctx.step("fetch", [&]() -> Json {
      std::lock_guard lock(failed_mutex);
      if (failed_once.insert(ctx.run_id()).second) {
        throw Error(ErrorCode::provider, "the image service said no (first attempt)",
                    ErrorClass::fatal);
      }
      return "fetched";
    });
    return boost::json::object{{"fetch", fetched}};
  });
  engine->register_workflow("slow", [](Context& ctx, const Json&) -> Json {
    for (int i = 0; i < 200 && !ctx.cancelled(); ++i) {
      ctx.step("tick-" + std::to_string(i), [] {
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
        return Json(nullptr);
      });
    }
    return nullptr;
  });
  engine->launch();
  std::cout << "ready" << std::endl;
  for (std::string line; std::getline(std::cin, line);) {
    size_t space = line.find(' ');
    std::string workflow = line.substr(0, space);
    try {
      Json input = parse_json(space == std::string::npos ? "{}" : line.substr(space + 1), "input");
      std::cout << engine->start(workflow, input).id << std::endl;
    } catch (const Error& e) {
      std::cout << "error " << e.what() << std::endl;
    }
  }
  engine->close();
  return 0;
}
