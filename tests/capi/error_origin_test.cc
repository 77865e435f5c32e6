// sl_execution_step_fail_origin / sl_execution_finish_failed_origin and
// sl_last_error_origin: a host's error class and traceback are stored with a
// failed step and run (bounded), raised again on replay, and never streamed
// in events.
#include <atomic>
#include <future>
#include <string>

#include "capi_test_util.h"

using namespace capi_test;

namespace {

class CapiErrorOrigin : public EngineTest {};

std::string id_of(const Json& run) { return std::string(run.at("id").as_string()); }

std::pair<std::string, std::string> last_origin() {
  const char* type = nullptr;
  const char* trace = nullptr;
  size_t type_len = 0;
  size_t trace_len = 0;
  sl_last_error_origin(&type, &type_len, &trace, &trace_len);
  return {std::string(type, type_len), std::string(trace, trace_len)};
}

const std::string kTrace = "Traceback (most recent call last):\n  File \"pay.py\", line 3, in charge\nValueError: declined";

TEST_F(CapiErrorOrigin, AReplayedStepFailureComesBackWithItsClassAndTrace) {
  std::atomic<int> executions{0};
  std::pair<std::string, std::string> replayed;
  workflow("saga", [&](sl_execution* e) {
    int64_t seq = -1;
    int memoized = -1;
    char* out = nullptr;
    int status = sl_execution_step_begin(&seq, &memoized, &out, nullptr, e, "charge", 6);
    if (++executions == 1) {
      ASSERT_EQ(status, SL_OK);
      EXPECT_EQ(sl_execution_step_fail_origin(e, seq, SL_CLASS_FATAL, "ValueError: declined", 20,
                                              "ValueError", 10, kTrace.data(), kTrace.size()),
                SL_OK)
          << last_message();
      int state = -1;
      sl_execution_sleep(&state, e, "settle", 6, 1);  // parks: a second execution replays
      sl_execution_finish_parked(e);
      return;
    }
    EXPECT_EQ(status, SL_ESTEPFAILED);
    replayed = last_origin();
    sl_execution_sleep(&status, e, "settle", 6, 1);
    complete(e, "{}");
  });
  Json run = wait_finished(id_of(start("saga")));
  ASSERT_EQ(run.at("status"), "completed") << run;
  EXPECT_EQ(replayed.first, "ValueError");
  EXPECT_EQ(replayed.second, kTrace);
  // A later failure with no origin clears it.
  EXPECT_EQ(sl_engine_get_run(nullptr, nullptr, engine_, "nope", 4), SL_EINVALID);
  EXPECT_EQ(last_origin().first, "");
}

TEST_F(CapiErrorOrigin, TheRunStoresTheTraceAndItsEventsCarryOnlyTheType) {
  workflow("fails", [&](sl_execution* e) {
    int64_t seq = -1;
    int memoized = -1;
    char* out = nullptr;
    ASSERT_EQ(sl_execution_step_begin(&seq, &memoized, &out, nullptr, e, "charge", 6), SL_OK);
    sl_execution_step_fail_origin(e, seq, SL_CLASS_FATAL, "ValueError: declined", 20, "ValueError",
                                  10, "step trace", 10);
    // The same class escapes: the run's error is the step's, with the fuller trace.
    EXPECT_EQ(sl_execution_finish_failed_origin(e, SL_CLASS_FATAL, "ValueError: declined", 20,
                                                "ValueError", 10, kTrace.data(), kTrace.size()),
              SL_OK);
  });
  std::string id = id_of(start("fails"));
  Json run = wait_finished(id);
  ASSERT_EQ(run.at("status"), "failed") << run;
  EXPECT_EQ(run.at("error").at("step"), "charge");
  EXPECT_EQ(run.at("error").at("origin").at("type"), "ValueError");
  EXPECT_EQ(run.at("error").at("origin").at("trace"), kTrace.c_str());
  int failed_events = 0;
  Json all = events(id);
  for (const auto& event : all.as_array()) {
    std::string type(event.at("type").as_string());
    if (type != "step.failed" && type != "run.failed") continue;
    ++failed_events;
    EXPECT_EQ(event.at("data").at("error").at("origin"), boost::json::parse(R"({"type":"ValueError"})"));
  }
  EXPECT_EQ(failed_events, 2);
}

TEST_F(CapiErrorOrigin, AnotherClassRaisedAfterCatchingTheStepsIsTheRunsError) {
  workflow("w", [&](sl_execution* e) {
    int64_t seq = -1;
    int memoized = -1;
    char* out = nullptr;
    ASSERT_EQ(sl_execution_step_begin(&seq, &memoized, &out, nullptr, e, "charge", 6), SL_OK);
    sl_execution_step_fail_origin(e, seq, SL_CLASS_FATAL, "ValueError: declined", 20, "ValueError",
                                  10, "", 0);
    sl_execution_finish_failed_origin(e, SL_CLASS_FATAL, "RuntimeError: no refund", 23,
                                      "RuntimeError", 12, "runtime trace", 13);
  });
  Json run = wait_finished(id_of(start("w")));
  EXPECT_EQ(run.at("error").at("message"), "RuntimeError: no refund");
  EXPECT_EQ(run.at("error").at("step"), "");
  EXPECT_EQ(run.at("error").at("origin").at("type"), "RuntimeError");
}

TEST_F(CapiErrorOrigin, ALongTraceKeepsItsBeginningAndEnd) {
  std::string trace = "HEAD" + std::string(100000, 'x') + "é" + std::string(50000, 'y') + "TAIL";
  workflow("long", [&](sl_execution* e) {
    sl_execution_finish_failed_origin(e, SL_CLASS_FATAL, "boom", 4, "Error", 5, trace.data(),
                                      trace.size());
  });
  Json run = wait_finished(id_of(start("long")));
  std::string stored(run.at("error").at("origin").at("trace").as_string());
  EXPECT_LE(stored.size(), 16u * 1024);
  EXPECT_EQ(stored.rfind("HEAD", 0), 0u);
  EXPECT_EQ(stored.substr(stored.size() - 4), "TAIL");
  EXPECT_NE(stored.find("bytes of the trace cut"), std::string::npos);
}

TEST_F(CapiErrorOrigin, BadArgumentsNameTheParameterAndStillEndTheRun) {
  std::promise<std::pair<int, std::string>> outcome;
  workflow("bad", [&](sl_execution* e) {
    int status = sl_execution_finish_failed_origin(e, SL_CLASS_FATAL, "boom", 4, nullptr, 3, "", 0);
    outcome.set_value({status, last_message()});
  });
  Json run = wait_finished(id_of(start("bad")));
  auto [status, message] = outcome.get_future().get();
  EXPECT_EQ(status, SL_EINVALID);
  EXPECT_NE(message.find("sl_execution_finish_failed_origin: type is NULL"), std::string::npos)
      << message;
  EXPECT_EQ(run.at("status"), "failed");
}

}  // namespace
