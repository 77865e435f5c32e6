// sl_engine_set_lifecycle and sl_start_options.trace_parent: reports as JSON,
// in order, carrying the caller's traceparent; and the errors callers can reach.
#include <mutex>
#include <cstring>
#include <thread>
#include <vector>

#include "capi_test_util.h"

using namespace capi_test;

namespace {

constexpr const char* kTraceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

struct Reports {
  std::mutex mutex;
  std::vector<Json> items;
  static void collect(void* user_data, const char* json, size_t len) {
    auto* self = static_cast<Reports*>(user_data);
    std::lock_guard lock(self->mutex);
    self->items.push_back(boost::json::parse(std::string_view(json, len)));
  }
  std::vector<Json> copy() {
    std::lock_guard lock(mutex);
    return items;
  }
};

}  // namespace

using CapiLifecycle = EngineTest;

TEST_F(CapiLifecycle, ReportsCarryTheTraceParentGivenAtStart) {
  Reports reports;
  ASSERT_EQ(sl_engine_set_lifecycle(engine_, &Reports::collect, &reports), SL_OK) << last_message();
  workflow("one-step", [](sl_execution* e) {
    int64_t seq = 0;
    int memoized = 0;
    char* result = nullptr;
    ASSERT_EQ(sl_execution_step_begin(&seq, &memoized, &result, nullptr, e, "s", 1), SL_OK);
    ASSERT_EQ(sl_execution_step_complete(e, seq, "7", 1), SL_OK);
    ASSERT_EQ(sl_execution_wait_durable(e), SL_OK);
    sl_execution_finish_completed(e, "{}", 2);
  });
  ASSERT_EQ(sl_engine_launch(engine_), SL_OK);
  sl_start_options opts = SL_START_OPTIONS_INIT;
  opts.trace_parent = kTraceParent;
  opts.trace_parent_len = std::strlen(kTraceParent);
  char* out = nullptr;
  Json run = take_json(sl_engine_start(&out, nullptr, engine_, "one-step", 8, "{}", 2, &opts), out);
  EXPECT_EQ(run.at("trace_parent"), kTraceParent);
  std::string id(run.at("id").as_string());
  wait_finished(id);
  // The last report may follow the run's commit by a moment.
  for (int i = 0; i < 2000 && reports.copy().size() < 4; ++i) std::this_thread::sleep_for(1ms);
  auto items = reports.copy();
  ASSERT_EQ(items.size(), 4u);
  std::vector<std::string> types;
  for (const auto& r : items) {
    types.emplace_back(r.at("type").as_string());
    EXPECT_EQ(r.at("run_id"), id.c_str());
    EXPECT_EQ(r.at("workflow"), "one-step");
    EXPECT_EQ(r.at("trace_parent"), kTraceParent);
  }
  EXPECT_EQ(types, (std::vector<std::string>{"run.started", "step.started", "step.finished", "run.finished"}));
  EXPECT_EQ(items[2].at("step"), "s");
  EXPECT_EQ(items[2].at("kind"), "step");
  EXPECT_EQ(items[2].at("attempt"), 1);
  EXPECT_GE(items[2].at("duration_ms").as_int64(), 0);
  EXPECT_EQ(items[3].at("outcome"), "completed");
  ASSERT_EQ(sl_engine_set_lifecycle(engine_, nullptr, nullptr), SL_OK);  // stops the reports
}

TEST_F(CapiLifecycle, StartRefusesAMalformedTraceParent) {
  workflow("w", [](sl_execution* e) { sl_execution_finish_completed(e, "{}", 2); });
  sl_start_options opts = SL_START_OPTIONS_INIT;
  opts.trace_parent = "not-a-traceparent";
  opts.trace_parent_len = 17;
  char* out = nullptr;
  EXPECT_EQ(sl_engine_start(&out, nullptr, engine_, "w", 1, "{}", 2, &opts), SL_EINVALID);
  EXPECT_EQ(last_message(),
            "trace_parent 'not-a-traceparent' is not a W3C traceparent (00-<32 hex>-<16 hex>-<2 hex>)");
}

TEST_F(CapiLifecycle, StartManyTakesATraceParentPerRequest) {
  workflow("w", [](sl_execution* e) { sl_execution_finish_completed(e, "{}", 2); });
  std::string requests = std::string(R"([{"workflow":"w","input":{},"trace_parent":")") + kTraceParent +
                         R"("},{"workflow":"w","input":{},"trace_parent":"bad"}])";
  char* out = nullptr;
  Json results =
      take_json(sl_engine_start_many(&out, nullptr, engine_, requests.data(), requests.size()), out);
  EXPECT_EQ(results.at(0).at("run").at("trace_parent"), kTraceParent);
  EXPECT_EQ(results.at(1).at("error").at("message"),
            "trace_parent 'bad' is not a W3C traceparent (00-<32 hex>-<16 hex>-<2 hex>)");
}

TEST(CapiLifecycleArgs, SetLifecycleRefusesANullEngine) {
  EXPECT_EQ(sl_engine_set_lifecycle(nullptr, nullptr, nullptr), SL_EINVALID);
  EXPECT_EQ(last_message(), "sl_engine_set_lifecycle: engine is NULL");
}
