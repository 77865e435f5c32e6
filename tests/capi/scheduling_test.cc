// The scheduling calls of the C ABI: limits and timeouts in
// sl_workflow_options v2, retry/cancel by filter, priorities, rewind and
// heartbeats.
#include <atomic>
#include <thread>

#include "capi_test_util.h"

using namespace capi_test;

namespace {

class CapiScheduling : public EngineTest {};

std::string ids_of(sl_engine* engine, const sl_list_options* filter, int* status) {
  char* out = nullptr;
  *status = sl_engine_cancel_many(&out, nullptr, engine, filter);
  return *status == SL_OK ? take(out) : "";
}

}  // namespace

TEST_F(CapiScheduling, ConcurrencyKeyHoldsRunsOfOneKeyBack) {
  std::atomic<int> inside{0}, peak{0};
  sl_workflow_options opts = SL_WORKFLOW_OPTIONS_INIT;
  opts.concurrency_key = "$.user";
  opts.concurrency_key_len = 6;
  opts.concurrency_limit = 1;
  workflow("page", [&](sl_execution* e) {
    step(e, "write", [&] {
      int now = ++inside;
      peak = std::max(peak.load(), now);
      std::this_thread::sleep_for(2ms);
      --inside;
      return std::string("1");
    });
    complete(e);
  }, &opts);
  std::vector<std::string> ids;
  for (int i = 0; i < 6; ++i) ids.push_back(std::string(start("page", R"({"user":"u"})").at("id").as_string()));
  for (auto& id : ids) EXPECT_EQ(wait_finished(id).at("status").as_string(), "completed");
  EXPECT_EQ(peak.load(), 1);
}

TEST_F(CapiScheduling, BadLimitsAreRefusedWithTheFieldNamed) {
  sl_workflow_options opts = SL_WORKFLOW_OPTIONS_INIT;
  opts.concurrency_key = "$.user";
  opts.concurrency_key_len = 6;
  EXPECT_EQ(sl_engine_register_workflow(engine_, "w", 1, &opts, [](void*, sl_execution*) {}, nullptr),
            SL_EINVALID);
  EXPECT_EQ(last_message(), "concurrency limit must be at least 1, got 0");
  opts = SL_WORKFLOW_OPTIONS_INIT;
  opts.throttle_limit = 2;
  EXPECT_EQ(sl_engine_register_workflow(engine_, "w", 1, &opts, [](void*, sl_execution*) {}, nullptr),
            SL_EINVALID);
  EXPECT_EQ(last_message(), "throttle period must be at least 1 ms, got 0 ms");
  opts = SL_WORKFLOW_OPTIONS_INIT;
  opts.throttle_key = "$.user";
  opts.throttle_key_len = 6;
  EXPECT_EQ(sl_engine_register_workflow(engine_, "w", 1, &opts, [](void*, sl_execution*) {}, nullptr),
            SL_EINVALID);
  EXPECT_EQ(last_message(),
            "sl_engine_register_workflow: sl_workflow_options.throttle_key is set but throttle_limit is 0");
  opts.throttle_limit = 2;
  // A version-1 caller's struct ends before the new fields: they are not read.
  opts.version = 1;
  opts.max_attempts = 1;  // its INIT value
  EXPECT_EQ(sl_engine_register_workflow(engine_, "w", 1, &opts, [](void*, sl_execution*) {}, nullptr),
            SL_OK)
      << last_message();
}

TEST_F(CapiScheduling, RetryFailedByErrorClassAndCancelMany) {
  std::atomic<bool> healthy{false};
  workflow("flaky", [&](sl_execution* e) {
    if (!healthy) {
      sl_execution_finish_failed(e, SL_CLASS_FATAL, "down", 4);
      return;
    }
    complete(e);
  });
  std::string failed(start("flaky").at("id").as_string());
  ASSERT_EQ(wait_finished(failed).at("status").as_string(), "failed");
  sl_list_options filter = SL_LIST_OPTIONS_INIT;
  filter.by_error_class = 1;
  filter.error_class = SL_CLASS_RETRYABLE;
  size_t count = 99;
  ASSERT_EQ(sl_engine_retry_failed(&count, engine_, &filter), SL_OK) << last_message();
  EXPECT_EQ(count, 0u);  // the run failed with class fatal
  filter.error_class = SL_CLASS_FATAL;
  healthy = true;
  ASSERT_EQ(sl_engine_retry_failed(&count, engine_, &filter), SL_OK) << last_message();
  EXPECT_EQ(count, 1u);
  EXPECT_EQ(wait_finished(failed).at("status").as_string(), "completed");
  filter.error_class = 7;
  EXPECT_EQ(sl_engine_retry_failed(&count, engine_, &filter), SL_EINVALID);
  EXPECT_EQ(last_message(),
            "sl_engine_retry_failed: sl_list_options.error_class is 7, not SL_CLASS_RETRYABLE, "
            "SL_CLASS_FATAL, SL_CLASS_RATE_LIMITED or SL_CLASS_TIMEOUT");

  std::string waiting = start_waiting();
  sl_list_options by_status = SL_LIST_OPTIONS_INIT;
  by_status.status = "waiting";
  by_status.status_len = 7;
  int status = 0;
  EXPECT_EQ(ids_of(engine_, &by_status, &status), "[\"" + waiting + "\"]");
  EXPECT_EQ(status, SL_OK) << last_message();
  EXPECT_EQ(get(waiting).at("status").as_string(), "cancelled");
  by_status.status = "completed";
  by_status.status_len = 9;
  ids_of(engine_, &by_status, &status);
  EXPECT_EQ(status, SL_EINVALID);
  EXPECT_EQ(last_message(), "cancel by filter takes unfinished runs only; the filter asks for completed runs");
}

TEST_F(CapiScheduling, SetPriorityAndRewind) {
  std::atomic<int> page_runs{0};
  workflow("book", [&](sl_execution* e) {
    step(e, "outline", [] { return std::string("\"o\""); });
    step(e, "page", [&] { ++page_runs; return std::string("\"p\""); });
    complete(e);
  });
  std::string id(start("book").at("id").as_string());
  ASSERT_EQ(wait_finished(id).at("status").as_string(), "completed");
  EXPECT_EQ(sl_engine_set_priority(engine_, id.data(), id.size(), 3), SL_EINVALIDSTATE);
  EXPECT_EQ(last_message(), "run '" + id + "' is completed; its priority can only be changed while it is queued");
  EXPECT_EQ(sl_engine_rewind(engine_, id.data(), id.size(), "nope", 4), SL_ENOTFOUND);
  EXPECT_EQ(last_message(), "run '" + id + "' has no step named 'nope'");
  ASSERT_EQ(sl_engine_rewind(engine_, id.data(), id.size(), "page", 4), SL_OK) << last_message();
  ASSERT_EQ(wait_finished(id).at("status").as_string(), "completed");
  EXPECT_EQ(page_runs.load(), 2);
}

TEST_F(CapiScheduling, HeartbeatOfAStepNotBegunIsInvalid) {
  std::atomic<int> status{-1};
  std::string message;
  workflow("h", [&](sl_execution* e) {
    int64_t seq = 0;
    int memoized = 0;
    char* result = nullptr;
    sl_execution_step_begin(&seq, &memoized, &result, nullptr, e, "s", 1);
    EXPECT_EQ(sl_execution_heartbeat(e, seq), SL_OK);
    status = sl_execution_heartbeat(e, seq + 5);
    message = last_message();
    sl_execution_step_complete(e, seq, "1", 1);
    complete(e);
  });
  std::string id(start("h").at("id").as_string());
  ASSERT_EQ(wait_finished(id).at("status").as_string(), "completed");
  EXPECT_EQ(status.load(), SL_EINVALID);
  EXPECT_EQ(message, "step position 5 of run '" + id +
                         "' was not begun by this execution or is already finished");
}
