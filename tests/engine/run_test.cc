#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "storyloom/engine.h"

using namespace storyloom;
using namespace std::chrono_literals;

namespace {

RunInfo wait_finished(Engine& engine, const std::string& id, std::chrono::milliseconds limit = 5s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    auto run = engine.get(id);
    if (is_finished(run.status) || std::chrono::steady_clock::now() > deadline) return run;
    std::this_thread::sleep_for(2ms);
  }
}

}  // namespace

TEST(Run, CompletesWithStepResults) {
  auto engine = Engine::open({});
  std::atomic<int> calls{0};
  engine->register_workflow("two", [&](Context& ctx, const Json& input) -> Json {
    auto a = ctx.step("a", [&] { ++calls; return Json(input.at("x").as_int64() + 1); });
    auto b = ctx.step("b", [&] { ++calls; return Json(a.as_int64() * 2); });
    return boost::json::object{{"b", b}};
  });
  auto run = engine->start("two", boost::json::object{{"x", 1}});
  auto done = wait_finished(*engine, run.id);
  ASSERT_EQ(done.status, RunStatus::completed) << boost::json::serialize(done.error);
  EXPECT_EQ(done.output.at("b").as_int64(), 4);
  EXPECT_EQ(calls.load(), 2);
}
