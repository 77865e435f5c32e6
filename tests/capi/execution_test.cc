// sl_execution_*: host-driven executions, synchronous inside the callback and
// asynchronous from other threads; durable waits; and every error a host can
// reach through an execution (code and message).
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <thread>

#include "capi_test_util.h"

using namespace capi_test;

namespace {

// Executions handed from engine threads to a host thread, as an event loop would.
class Inbox {
 public:
  void push(sl_execution* execution) {
    {
      std::lock_guard lock(mutex_);
      queue_.push_back(execution);
    }
    ready_.notify_one();
  }
  sl_execution* pop(std::chrono::milliseconds limit = 5s) {
    std::unique_lock lock(mutex_);
    if (!ready_.wait_for(lock, limit, [this] { return !queue_.empty(); })) return nullptr;
    sl_execution* e = queue_.front();
    queue_.pop_front();
    return e;
  }

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<sl_execution*> queue_;
};

std::string id_of(const Json& run) { return std::string(run.at("id").as_string()); }
std::string status_of(const Json& run) { return std::string(run.at("status").as_string()); }

int sleep_for(sl_execution* e, const std::string& name, int64_t ms) {
  int state = -1;
  EXPECT_EQ(sl_execution_sleep(&state, e, name.data(), name.size(), ms), SL_OK) << last_message();
  return state;
}

// Waits for a signal; returns the state and stores the payload (if any).
int wait_signal(sl_execution* e, const std::string& name, int64_t timeout_ms,
                std::string* payload) {
  int state = -1;
  char* out = nullptr;
  EXPECT_EQ(sl_execution_wait_for_signal(&state, &out, nullptr, e, name.data(), name.size(),
                                         timeout_ms),
            SL_OK)
      << last_message();
  if (state != SL_WAIT_READY) {
    EXPECT_EQ(out, nullptr);
  }
  *payload = take(out);
  return state;
}

std::vector<std::string> event_types(const Json& events) {
  std::vector<std::string> types;
  for (const auto& e : events.as_array()) types.emplace_back(e.at("type").as_string());
  return types;
}

bool contains(const std::vector<std::string>& items, const std::string& item) {
  return std::find(items.begin(), items.end(), item) != items.end();
}

}  // namespace

class CapiExecution : public EngineTest {
 protected:
  // Reopens the fixture's store with a small payload limit.
  void reopen_with_payload_limit(size_t bytes) {
    close();
    sl_engine_options opts = options();
    opts.max_payload_bytes = bytes;
    open(opts);
  }
};

// ---- the two ways to drive an execution ----

TEST_F(CapiExecution, CallbackCompletesTheRunSynchronously) {
  std::thread::id test_thread = std::this_thread::get_id();
  std::atomic<bool> on_engine_thread{false};
  workflow("double", [&](sl_execution* e) {
    on_engine_thread = std::this_thread::get_id() != test_thread;
    Json input = boost::json::parse(input_of(e));
    int64_t n = input.at("n").as_int64();
    std::string a = step(e, "add", [&] { return std::to_string(n + 1); });
    std::string b = step(e, "times", [&] { return std::to_string(std::stoll(a) * 2); });
    complete(e, "{\"result\":" + b + "}");
  });
  std::string id = id_of(start("double", R"({"n":3})"));
  Json run = wait_finished(id);
  ASSERT_EQ(status_of(run), "completed") << run;
  EXPECT_EQ(run.at("output"), boost::json::parse(R"({"result":8})"));
  EXPECT_GT(run.at("finished_at_ms").as_int64(), 0);
  EXPECT_TRUE(on_engine_thread);
}

TEST_F(CapiExecution, HostCompletesStepsLaterFromAnotherThread) {
  Inbox inbox;
  std::atomic<bool> callback_returned{false};
  workflow("async", [&](sl_execution* e) {
    inbox.push(e);  // hand it to the host's loop and return at once
    callback_returned = true;
  });
  std::string id = id_of(start("async", R"({"topic":"owls"})"));
  std::thread host([&] {
    sl_execution* e = inbox.pop();
    ASSERT_NE(e, nullptr);
    int64_t seq = -1;
    int memoized = -1;
    char* result = nullptr;
    ASSERT_EQ(sl_execution_step_begin(&seq, &memoized, &result, nullptr, e, "draft", 5), SL_OK)
        << last_message();
    EXPECT_EQ(memoized, 0);
    EXPECT_EQ(result, nullptr);
    // The "LLM call" finishes later; the engine thread is long gone.
    std::this_thread::sleep_for(20ms);
    EXPECT_TRUE(callback_returned);
    ASSERT_EQ(sl_execution_step_complete(e, seq, "\"a story about owls\"", 20), SL_OK)
        << last_message();
    complete(e, R"({"text":"a story about owls"})");
  });
  host.join();
  Json run = wait_finished(id);
  ASSERT_EQ(status_of(run), "completed") << run;
  EXPECT_EQ(run.at("output").at("text"), "a story about owls");
}

TEST_F(CapiExecution, ParallelStepsCompleteInAnyOrderFromSeveralThreads) {
  workflow("fan", [&](sl_execution* e) {
    int64_t seq[2];
    int memoized = 0;
    char* result = nullptr;
    ASSERT_EQ(sl_execution_step_begin(&seq[0], &memoized, &result, nullptr, e, "left", 4), SL_OK);
    ASSERT_EQ(sl_execution_step_begin(&seq[1], &memoized, &result, nullptr, e, "right", 5), SL_OK);
    std::thread second([&] { EXPECT_EQ(sl_execution_step_complete(e, seq[1], "2", 1), SL_OK); });
    second.join();
    std::thread first([&] { EXPECT_EQ(sl_execution_step_complete(e, seq[0], "1", 1), SL_OK); });
    first.join();
    complete(e);
  });
  std::string id = id_of(start("fan"));
  ASSERT_EQ(status_of(wait_finished(id)), "completed");
  char* out = nullptr;
  Json snap = take_json(sl_engine_snapshot(&out, nullptr, engine_, id.data(), id.size()), out);
  ASSERT_EQ(snap.at("steps").as_array().size(), 2u);
  EXPECT_EQ(snap.at("steps").at(0).at("result"), 1);
  EXPECT_EQ(snap.at("steps").at(1).at("result"), 2);
}

TEST_F(CapiExecution, AccessorsLendRunIdWorkflowAndInput) {
  std::promise<std::vector<std::string>> seen;
  workflow("look", [&](sl_execution* e) {
    const char* workflow = nullptr;
    size_t len = 0;
    EXPECT_EQ(sl_execution_workflow(&workflow, &len, e), SL_OK);
    int cancelled = -1;
    EXPECT_EQ(sl_execution_cancelled(&cancelled, e), SL_OK);
    seen.set_value({run_id_of(e), std::string(workflow, len), input_of(e),
                    std::to_string(cancelled)});
    complete(e);
  });
  std::string id = id_of(start("look", R"({ "a" : [1, 2] })"));
  auto values = seen.get_future().get();
  EXPECT_EQ(values[0], id);
  EXPECT_EQ(values[1], "look");
  EXPECT_EQ(values[2], R"({"a":[1,2]})");
  EXPECT_EQ(values[3], "0");
}

// ---- durable waits and memoization ----

TEST_F(CapiExecution, SleepParksThenResumesWithoutRerunningCompletedSteps) {
  std::atomic<int> executions{0}, outline_calls{0};
  std::string memoized_result;
  workflow("nap", [&](sl_execution* e) {
    ++executions;
    int64_t seq = -1;
    int memoized = -1;
    char* result = nullptr;
    ASSERT_EQ(sl_execution_step_begin(&seq, &memoized, &result, nullptr, e, "outline", 7), SL_OK);
    if (memoized) {
      memoized_result = take(result);
    } else {
      ++outline_calls;
      ASSERT_EQ(sl_execution_step_complete(e, seq, "\"plot\"", 6), SL_OK);
    }
    if (sleep_for(e, "nap", 30) == SL_WAIT_PARKED) {
      EXPECT_EQ(sl_execution_finish_parked(e), SL_OK) << last_message();
      return;
    }
    complete(e, R"({"slept":true})");
  });
  std::string id = id_of(start("nap"));
  Json run = wait_finished(id);
  ASSERT_EQ(status_of(run), "completed") << run;
  EXPECT_EQ(executions, 2);
  EXPECT_EQ(outline_calls, 1);
  EXPECT_EQ(memoized_result, "\"plot\"");
  auto types = event_types(events(id));
  EXPECT_TRUE(contains(types, "run.sleeping"));
  EXPECT_TRUE(contains(types, "run.resumed"));
}

TEST_F(CapiExecution, SignalSentBeforeTheWaitIsReadAtOnce) {
  Inbox inbox;
  workflow("approve", [&](sl_execution* e) { inbox.push(e); });
  std::string id = id_of(start("approve"));
  sl_execution* e = inbox.pop();
  ASSERT_NE(e, nullptr);
  // The run is executing but has not reached its wait yet.
  ASSERT_EQ(sl_engine_signal(engine_, id.data(), id.size(), "approval", 8, R"({"ok":true})", 11),
            SL_OK)
      << last_message();
  std::string payload;
  ASSERT_EQ(wait_signal(e, "approval", -1, &payload), SL_WAIT_READY);
  EXPECT_EQ(boost::json::parse(payload), boost::json::parse(R"({"ok":true})"));
  complete(e, "{\"approval\":" + payload + "}");
  Json run = wait_finished(id);
  ASSERT_EQ(status_of(run), "completed") << run;
  EXPECT_EQ(run.at("output").at("approval"), boost::json::parse(R"({"ok":true})"));
}

TEST_F(CapiExecution, SignalAfterTheRunParkedResumesIt) {
  std::atomic<int> executions{0};
  workflow("approve", [&](sl_execution* e) {
    ++executions;
    std::string payload;
    if (wait_signal(e, "approval", -1, &payload) == SL_WAIT_PARKED) {
      EXPECT_EQ(sl_execution_finish_parked(e), SL_OK) << last_message();
      return;
    }
    complete(e, "{\"approval\":" + payload + "}");
  });
  std::string id = id_of(start("approve"));
  ASSERT_EQ(status_of(wait_status(id, "waiting")), "waiting");
  ASSERT_EQ(sl_engine_signal(engine_, id.data(), id.size(), "approval", 8, "\"yes\"", 5), SL_OK);
  Json run = wait_finished(id);
  ASSERT_EQ(status_of(run), "completed") << run;
  EXPECT_EQ(run.at("output").at("approval"), "yes");
  EXPECT_EQ(executions, 2);
}

TEST_F(CapiExecution, WaitForSignalTimesOut) {
  workflow("impatient", [&](sl_execution* e) {
    std::string payload;
    int state = wait_signal(e, "reply", 20, &payload);
    if (state == SL_WAIT_PARKED) {
      EXPECT_EQ(sl_execution_finish_parked(e), SL_OK);
      return;
    }
    EXPECT_EQ(state, SL_WAIT_TIMED_OUT);
    complete(e, R"({"timed_out":true})");
  });
  std::string id = id_of(start("impatient"));
  Json run = wait_finished(id);
  ASSERT_EQ(status_of(run), "completed") << run;
  EXPECT_EQ(run.at("output").at("timed_out"), true);
}

TEST_F(CapiExecution, InvokeReturnsTheChildRunsOutput) {
  workflow("child", [&](sl_execution* e) {
    Json input = boost::json::parse(input_of(e));
    complete(e, "{\"y\":" + std::to_string(input.at("x").as_int64() * 2) + "}");
  });
  workflow("parent", [&](sl_execution* e) {
    int state = -1;
    char* output = nullptr;
    ASSERT_EQ(sl_execution_invoke(&state, &output, nullptr, e, "double", 6, "child", 5,
                                  R"({"x":2})", 7),
              SL_OK)
        << last_message();
    if (state == SL_WAIT_PARKED) {
      EXPECT_EQ(output, nullptr);
      EXPECT_EQ(sl_execution_finish_parked(e), SL_OK);
      return;
    }
    ASSERT_EQ(state, SL_WAIT_READY);
    complete(e, "{\"child\":" + take(output) + "}");
  });
  std::string id = id_of(start("parent"));
  Json run = wait_finished(id);
  ASSERT_EQ(status_of(run), "completed") << run;
  EXPECT_EQ(run.at("output").at("child"), boost::json::parse(R"({"y":4})"));
  char* page = nullptr;
  sl_list_options opts = SL_LIST_OPTIONS_INIT;
  opts.workflow = "child";
  opts.workflow_len = 5;
  Json children = take_json(sl_engine_list_runs(&page, nullptr, engine_, &opts), page);
  ASSERT_EQ(children.at("runs").as_array().size(), 1u);
  EXPECT_EQ(children.at("runs").at(0).at("parent_id"), id.c_str());
}

TEST_F(CapiExecution, InvokeOfAnUnregisteredWorkflowIsNotFound) {
  std::promise<std::pair<int, std::string>> outcome;
  workflow("parent", [&](sl_execution* e) {
    int state = -1;
    char* output = nullptr;
    int status =
        sl_execution_invoke(&state, &output, nullptr, e, "call", 4, "ghost", 5, "{}", 2);
    outcome.set_value({status, last_message()});
    sl_execution_finish_failed(e, SL_CLASS_FATAL, "no child", 8);
  });
  start("parent");
  auto [status, message] = outcome.get_future().get();
  EXPECT_EQ(status, SL_ENOTFOUND);
  EXPECT_EQ(message, "workflow 'ghost' is not registered by any engine on this store");
}

TEST_F(CapiExecution, InvokeOfAFailingChildIsStepFailed) {
  workflow("child", [&](sl_execution* e) {
    EXPECT_EQ(sl_execution_finish_failed(e, SL_CLASS_FATAL, "boom", 4), SL_OK);
  });
  std::promise<std::pair<int, std::string>> outcome;
  workflow("parent", [&](sl_execution* e) {
    int state = -1;
    char* output = nullptr;
    int status = sl_execution_invoke(&state, &output, nullptr, e, "call", 4, "child", 5, "{}", 2);
    if (status == SL_OK && state == SL_WAIT_PARKED) {
      sl_execution_finish_parked(e);
      return;
    }
    outcome.set_value({status, last_message()});
    sl_execution_finish_failed(e, SL_CLASS_FATAL, "child failed", 12);
  });
  start("parent");
  auto [status, message] = outcome.get_future().get();
  EXPECT_EQ(status, SL_ESTEPFAILED);
  EXPECT_EQ(message.rfind("child run '", 0), 0u) << message;
  EXPECT_NE(message.find("' failed: boom"), std::string::npos) << message;
}

TEST_F(CapiExecution, ReplayInADifferentOrderIsNondeterminism) {
  std::atomic<int> executions{0};
  std::promise<std::pair<int, std::string>> outcome;
  workflow("fickle", [&](sl_execution* e) {
    if (++executions == 1) {
      step(e, "a", [] { return std::string("1"); });
      ASSERT_EQ(sleep_for(e, "nap", 10), SL_WAIT_PARKED);
      sl_execution_finish_parked(e);
      return;
    }
    int64_t seq = -1;
    int memoized = -1;
    char* result = nullptr;
    int status = sl_execution_step_begin(&seq, &memoized, &result, nullptr, e, "b", 1);
    outcome.set_value({status, last_message()});
    complete(e);
  });
  std::string id = id_of(start("fickle"));
  auto [status, message] = outcome.get_future().get();
  EXPECT_EQ(status, SL_ENONDETERMINISM);
  EXPECT_EQ(message, "replay of run '" + id +
                         "' called step 'b' at position 0, but the run recorded step 'a' there; a "
                         "workflow must call its steps in the same order every time");
  Json run = wait_finished(id);
  ASSERT_EQ(status_of(run), "failed");
  EXPECT_EQ(run.at("error").at("code"), "nondeterminism");
}

TEST_F(CapiExecution, RetryRunsOnlyTheFailedStepAgain) {
  std::atomic<int> a_calls{0}, b_calls{0};
  workflow("flaky", [&](sl_execution* e) {
    step(e, "a", [&] { ++a_calls; return std::string("\"a\""); });
    int64_t seq = -1;
    int memoized = -1;
    char* result = nullptr;
    ASSERT_EQ(sl_execution_step_begin(&seq, &memoized, &result, nullptr, e, "b", 1), SL_OK);
    if (++b_calls == 1) {
      EXPECT_EQ(sl_execution_step_fail(e, seq, SL_CLASS_RETRYABLE, "flaky", 5), SL_OK);
      sl_execution_finish_failed(e, SL_CLASS_RETRYABLE, "flaky", 5);  // the error escapes
      return;
    }
    EXPECT_EQ(sl_execution_step_complete(e, seq, "\"b\"", 3), SL_OK);
    complete(e);
  });
  std::string id = id_of(start("flaky"));
  ASSERT_EQ(status_of(wait_finished(id)), "failed");
  ASSERT_EQ(sl_engine_retry(engine_, id.data(), id.size()), SL_OK) << last_message();
  Json run = wait_status(id, "completed");
  ASSERT_EQ(status_of(run), "completed") << run;
  EXPECT_EQ(a_calls, 1);
  EXPECT_EQ(b_calls, 2);
}

TEST_F(CapiExecution, WorkflowRetryPolicyRetriesAFailedStep) {
  sl_workflow_options options = SL_WORKFLOW_OPTIONS_INIT;
  options.max_attempts = 3;
  options.initial_backoff_ms = 10;
  options.max_backoff_ms = 10;
  options.no_jitter = 1;
  std::atomic<int> calls{0};
  workflow("retrying", [&](sl_execution* e) {
    int64_t seq = -1;
    int memoized = -1;
    char* result = nullptr;
    ASSERT_EQ(sl_execution_step_begin(&seq, &memoized, &result, nullptr, e, "call", 4), SL_OK);
    if (++calls == 1) {
      EXPECT_EQ(sl_execution_step_fail(e, seq, SL_CLASS_RETRYABLE, "503", 3), SL_OK);
      // Whatever finish the host calls, the run is requeued for the next attempt.
      EXPECT_EQ(sl_execution_finish_failed(e, SL_CLASS_RETRYABLE, "503", 3), SL_OK);
      return;
    }
    EXPECT_EQ(sl_execution_step_complete(e, seq, "\"ok\"", 4), SL_OK);
    complete(e);
  }, &options);
  std::string id = id_of(start("retrying"));
  Json run = wait_status(id, "completed");
  ASSERT_EQ(status_of(run), "completed") << run;
  EXPECT_EQ(calls, 2);
  bool retrying = false;
  Json history = events(id);
  for (const auto& e : history.as_array()) retrying = retrying || e.at("type") == "step.retrying";
  EXPECT_TRUE(retrying);
}

TEST_F(CapiExecution, InvalidRetryPolicyIsRefusedNamingTheField) {
  sl_workflow_options options = SL_WORKFLOW_OPTIONS_INIT;
  options.max_attempts = -1;  // 0 is "unset" (version 3)
  auto noop = [](void*, sl_execution*) {};
  EXPECT_EQ(sl_engine_register_workflow(engine_, "w", 1, &options, noop, nullptr), SL_EINVALID);
  EXPECT_EQ(last_message(), "max_attempts must be at least 1, got -1");
  options = SL_WORKFLOW_OPTIONS_INIT;
  options.multiplier = 0.5;
  EXPECT_EQ(sl_engine_register_workflow(engine_, "w", 1, &options, noop, nullptr), SL_EINVALID);
  EXPECT_EQ(last_message(), "multiplier must be at least 1, got 0.500000");
}

// ---- cancellation and events from an execution ----

TEST_F(CapiExecution, CancellationIsVisibleToTheExecution) {
  Inbox inbox;
  workflow("long", [&](sl_execution* e) { inbox.push(e); });
  std::string id = id_of(start("long"));
  sl_execution* e = inbox.pop();
  ASSERT_NE(e, nullptr);
  int cancelled = -1;
  ASSERT_EQ(sl_execution_cancelled(&cancelled, e), SL_OK);
  EXPECT_EQ(cancelled, 0);
  ASSERT_EQ(sl_engine_cancel(engine_, id.data(), id.size()), SL_OK) << last_message();
  ASSERT_EQ(sl_execution_cancelled(&cancelled, e), SL_OK);
  EXPECT_EQ(cancelled, 1);
  int64_t seq = -1;
  int memoized = -1;
  char* result = nullptr;
  EXPECT_EQ(sl_execution_step_begin(&seq, &memoized, &result, nullptr, e, "next", 4),
            SL_ECANCELLED);
  EXPECT_EQ(last_message(), "run '" + id + "' was cancelled");
  EXPECT_EQ(sl_execution_finish_failed(e, SL_CLASS_FATAL, "cancelled", 9), SL_OK)
      << last_message();
  EXPECT_EQ(status_of(get(id)), "cancelled");
}

TEST_F(CapiExecution, ProgressArtifactEmitAndChunksBecomeEvents) {
  workflow("writer", [&](sl_execution* e) {
    EXPECT_EQ(sl_execution_progress(e, R"({"page":1})", 10), SL_OK) << last_message();
    EXPECT_EQ(sl_execution_artifact(e, "cover", 5, R"({"url":"c.png"})", 15), SL_OK)
        << last_message();
    EXPECT_EQ(sl_execution_emit(e, "story.note", 10, R"({"n":1})", 7), SL_OK) << last_message();
    EXPECT_EQ(sl_execution_chunk(e, "page-1", 6, "Once upon", 9), SL_OK) << last_message();
    EXPECT_EQ(sl_execution_chunk(e, "page-1", 6, " a time", 7), SL_OK) << last_message();
    EXPECT_EQ(sl_execution_chunk(e, "page-1", 6, nullptr, 0), SL_OK) << last_message();
    complete(e);
  });
  std::string id = id_of(start("writer"));
  Json run = wait_finished(id);
  ASSERT_EQ(status_of(run), "completed");
  EXPECT_EQ(run.at("progress"), boost::json::parse(R"({"page":1})"));
  std::string text;
  std::vector<std::string> types;
  Json all = events(id);
  for (const auto& event : all.as_array()) {
    types.emplace_back(event.at("type").as_string());
    if (event.at("type") == "chunk") text += event.at("data").at("text").as_string();
    if (event.at("type") == "story.note") {
      EXPECT_EQ(event.at("data").at("n"), 1);
    }
    if (event.at("type") == "artifact") {
      EXPECT_EQ(event.at("data").at("key"), "cover");
    }
  }
  EXPECT_TRUE(contains(types, "progress"));
  EXPECT_TRUE(contains(types, "artifact"));
  EXPECT_TRUE(contains(types, "story.note"));
  EXPECT_EQ(text, "Once upon a time");
}

// ---- errors through an execution ----

TEST_F(CapiExecution, CallsRejectNullArgumentsNamingThem) {
  std::promise<std::vector<std::pair<int, std::string>>> outcome;
  workflow("nulls", [&](sl_execution* e) {
    std::vector<std::pair<int, std::string>> seen;
    auto record = [&](int status) { seen.emplace_back(status, last_message()); };
    const char* text = nullptr;
    size_t len = 0;
    int64_t seq = 0;
    int flag = 0;
    char* out = nullptr;
    record(sl_execution_run_id(nullptr, &len, e));
    record(sl_execution_input(&text, &len, nullptr));
    record(sl_execution_cancelled(nullptr, e));
    record(sl_execution_step_begin(&seq, nullptr, &out, nullptr, e, "s", 1));
    record(sl_execution_step_begin(&seq, &flag, &out, nullptr, e, nullptr, 3));
    record(sl_execution_sleep(nullptr, e, "nap", 3, 10));
    record(sl_execution_wait_for_signal(&flag, nullptr, nullptr, e, "go", 2, -1));
    record(sl_execution_invoke(&flag, &out, nullptr, e, "c", 1, "w", 1, nullptr, 0));
    record(sl_execution_progress(nullptr, "1", 1));
    record(sl_execution_chunk(e, "s", 1, nullptr, 5));
    outcome.set_value(seen);
    complete(e);
  });
  std::string id = id_of(start("nulls"));
  auto seen = outcome.get_future().get();
  std::vector<std::string> expected = {
      "sl_execution_run_id: out is NULL",
      "sl_execution_input: execution is NULL",
      "sl_execution_cancelled: out is NULL",
      "sl_execution_step_begin: memoized is NULL",
      "sl_execution_step_begin: name is NULL but its length is 3",
      "sl_execution_sleep: state is NULL",
      "sl_execution_wait_for_signal: payload_json is NULL",
      "sl_execution_invoke: input_json is NULL",
      "sl_execution_progress: execution is NULL",
      "sl_execution_chunk: text is NULL but its length is 5",
  };
  ASSERT_EQ(seen.size(), expected.size());
  for (size_t i = 0; i < seen.size(); ++i) {
    EXPECT_EQ(seen[i].first, SL_EINVALID) << expected[i];
    EXPECT_EQ(seen[i].second, expected[i]);
  }
  // None of the refused calls consumed a step position.
  bool completed = false;
  for (int i = 0; i < 2000 && !completed; ++i) {
    char* got = nullptr;
    ASSERT_EQ(sl_engine_get_run(&got, nullptr, engine_, id.data(), id.size()), SL_OK);
    completed = take(got).find("\"status\":\"completed\"") != std::string::npos;
    if (!completed) std::this_thread::sleep_for(5ms);
  }
  EXPECT_TRUE(completed);
}

TEST_F(CapiExecution, StepCallsRejectBadInput) {
  std::promise<std::vector<std::pair<int, std::string>>> outcome;
  workflow("bad", [&](sl_execution* e) {
    std::vector<std::pair<int, std::string>> seen;
    auto record = [&](int status) { seen.emplace_back(status, last_message()); };
    int64_t seq = -1;
    int memoized = -1;
    char* out = nullptr;
    int state = -1;
    record(sl_execution_step_begin(&seq, &memoized, &out, nullptr, e, "", 0));
    EXPECT_EQ(sl_execution_step_begin(&seq, &memoized, &out, nullptr, e, "s", 1), SL_OK);
    record(sl_execution_step_complete(e, seq, "{nope", 5));
    record(sl_execution_step_complete(e, 7, "1", 1));
    record(sl_execution_step_fail(e, seq, 42, "x", 1));
    record(sl_execution_sleep(&state, e, "nap", 3, -1));
    record(sl_execution_emit(e, "run.custom", 10, "{}", 2));
    record(sl_execution_artifact(e, "k", 1, "", 0));
    EXPECT_EQ(sl_execution_step_complete(e, seq, "1", 1), SL_OK) << last_message();
    outcome.set_value(seen);
    complete(e);
  });
  std::string id = id_of(start("bad"));
  auto seen = outcome.get_future().get();
  ASSERT_EQ(seen.size(), 7u);
  EXPECT_EQ(seen[0], std::make_pair(int(SL_EINVALID), std::string("step name is empty")));
  EXPECT_EQ(seen[1].first, SL_EINVALID);
  EXPECT_EQ(seen[1].second.rfind("sl_execution_step_complete: result_json is not valid JSON: ", 0),
            0u)
      << seen[1].second;
  EXPECT_EQ(seen[2], std::make_pair(int(SL_EINVALID),
                                    "step position 7 of run '" + id +
                                        "' was not begun by this execution or is already "
                                        "finished"));
  EXPECT_EQ(seen[3], std::make_pair(int(SL_EINVALID),
                                    std::string("sl_execution_step_fail: error_class is 42, not "
                                                "SL_CLASS_RETRYABLE, SL_CLASS_FATAL, "
                                                "SL_CLASS_RATE_LIMITED or SL_CLASS_TIMEOUT")));
  EXPECT_EQ(seen[4], std::make_pair(int(SL_EINVALID),
                                    std::string("sl_execution_sleep: duration_ms is -1; it must "
                                                "not be negative")));
  EXPECT_EQ(seen[5], std::make_pair(int(SL_EINVALID),
                                    std::string("event type 'run.custom' is reserved for "
                                                "storyloom's own events")));
  EXPECT_EQ(seen[6].first, SL_EINVALID);
  EXPECT_EQ(seen[6].second.rfind("sl_execution_artifact: value_json is not valid JSON: ", 0), 0u)
      << seen[6].second;
  bool completed = false;
  for (int i = 0; i < 2000 && !completed; ++i) {
    char* got = nullptr;
    ASSERT_EQ(sl_engine_get_run(&got, nullptr, engine_, id.data(), id.size()), SL_OK);
    completed = take(got).find("\"status\":\"completed\"") != std::string::npos;
    if (!completed) std::this_thread::sleep_for(5ms);
  }
  EXPECT_TRUE(completed);
}

TEST_F(CapiExecution, OversizedPayloadsAreRefused) {
  reopen_with_payload_limit(1024);
  std::promise<std::vector<std::pair<int, std::string>>> outcome;
  workflow("big", [&](sl_execution* e) {
    std::vector<std::pair<int, std::string>> seen;
    auto record = [&](int status) { seen.emplace_back(status, last_message()); };
    std::string text(2000, 'x');
    record(sl_execution_chunk(e, "page", 4, text.data(), text.size()));
    std::string json = "\"" + text + "\"";
    record(sl_execution_progress(e, json.data(), json.size()));
    outcome.set_value(seen);
    complete(e);
  });
  start("big");
  auto seen = outcome.get_future().get();
  EXPECT_EQ(seen[0], std::make_pair(int(SL_ETOOLARGE),
                                    std::string("chunk of stream 'page' is 2000 bytes; the limit "
                                                "is 1024")));
  EXPECT_EQ(seen[1], std::make_pair(int(SL_ETOOLARGE),
                                    std::string("progress is 2002 bytes of JSON; the limit is "
                                                "1024")));
}

TEST_F(CapiExecution, StepFailFailsTheRunWithItsClassAndMessage) {
  workflow("llm", [&](sl_execution* e) {
    int64_t seq = -1;
    int memoized = -1;
    char* out = nullptr;
    ASSERT_EQ(sl_execution_step_begin(&seq, &memoized, &out, nullptr, e, "call-llm", 8), SL_OK);
    EXPECT_EQ(sl_execution_step_fail(e, seq, SL_CLASS_RATE_LIMITED, "429 from provider", 17),
              SL_OK)
        << last_message();
    // The error escapes the workflow: the run's error is the step's.
    sl_execution_finish_failed(e, SL_CLASS_RATE_LIMITED, "429 from provider", 17);
  });
  std::string id = id_of(start("llm"));
  Json run = wait_finished(id);
  ASSERT_EQ(status_of(run), "failed");
  EXPECT_EQ(run.at("error"), boost::json::parse(R"({"code":"step_failed","class":"rate_limited",
      "message":"429 from provider","step":"call-llm"})"));
}

// A step that failed for good raises in the workflow, which may catch it and
// compensate; the run completes, and a replay takes the same path.
TEST_F(CapiExecution, ACaughtStepFailureLetsTheRunCompleteAndReplaysTheSameWay) {
  std::atomic<int> executions{0};
  workflow("saga", [&](sl_execution* e) {
    ++executions;
    step(e, "book", [] { return std::string("\"booked\""); });
    int64_t seq = -1;
    int memoized = -1;
    char* out = nullptr;
    int status = sl_execution_step_begin(&seq, &memoized, &out, nullptr, e, "charge", 6);
    if (status == SL_OK) {
      EXPECT_EQ(sl_execution_step_fail(e, seq, SL_CLASS_FATAL, "card declined", 13), SL_OK);
    } else {
      // Replayed: the stored failure comes back as the step's error.
      EXPECT_EQ(status, SL_ESTEPFAILED);
      EXPECT_EQ(last_message(), "card declined");
    }
    step(e, "refund", [] { return std::string("\"refunded\""); });
    if (executions == 1) {
      int state = -1;
      sl_execution_sleep(&state, e, "settle", 6, 1);  // parks: a second execution replays
      sl_execution_finish_parked(e);
      return;
    }
    int state = -1;
    sl_execution_sleep(&state, e, "settle", 6, 1);
    complete(e, R"({"refunded":true})");
  });
  std::string id = id_of(start("saga"));
  Json run = wait_finished(id);
  ASSERT_EQ(status_of(run), "completed") << run;
  EXPECT_EQ(run.at("output").at("refunded"), true);
  EXPECT_GE(executions.load(), 2);
  char* out = nullptr;
  Json snap = take_json(sl_engine_snapshot(&out, nullptr, engine_, id.data(), id.size()), out);
  ASSERT_EQ(snap.at("steps").as_array().size(), 4u);
  EXPECT_EQ(snap.at("steps").at(1).at("status"), "failed");
  EXPECT_EQ(snap.at("steps").at(1).at("result").at("message"), "card declined");
}

// ---- finishing ----

TEST_F(CapiExecution, FinishFailedRecordsMessageAndClass) {
  workflow("down", [&](sl_execution* e) {
    EXPECT_EQ(sl_execution_finish_failed(e, SL_CLASS_RETRYABLE, "provider down", 13), SL_OK);
  });
  Json run = wait_finished(id_of(start("down")));
  ASSERT_EQ(status_of(run), "failed");
  EXPECT_EQ(run.at("error").at("class"), "retryable");
  EXPECT_EQ(run.at("error").at("message"), "provider down");
  EXPECT_EQ(run.at("error").at("code"), "step_failed");
}

TEST_F(CapiExecution, FinishCompletedWithInvalidJsonStillEndsTheRun) {
  std::promise<std::pair<int, std::string>> outcome;
  workflow("sloppy", [&](sl_execution* e) {
    int status = sl_execution_finish_completed(e, "{\"a\":", 5);
    outcome.set_value({status, last_message()});
  });
  std::string id = id_of(start("sloppy"));
  auto [status, message] = outcome.get_future().get();
  EXPECT_EQ(status, SL_EINVALID);
  EXPECT_EQ(message.rfind("sl_execution_finish_completed: output_json is not valid JSON: ", 0), 0u)
      << message;
  Json run = wait_finished(id);
  ASSERT_EQ(status_of(run), "failed");
  EXPECT_EQ(run.at("error").at("code"), "invalid_argument");
  EXPECT_EQ(run.at("error").at("message"), message.c_str());
}

TEST_F(CapiExecution, FinishFailedWithAnUnknownClassStillEndsTheRun) {
  std::promise<std::pair<int, std::string>> outcome;
  workflow("sloppy", [&](sl_execution* e) {
    int status = sl_execution_finish_failed(e, 7, "oops", 4);
    outcome.set_value({status, last_message()});
  });
  std::string id = id_of(start("sloppy"));
  auto [status, message] = outcome.get_future().get();
  EXPECT_EQ(status, SL_EINVALID);
  EXPECT_EQ(message,
            "sl_execution_finish_failed: error_class is 7, not SL_CLASS_RETRYABLE, SL_CLASS_FATAL, "
            "SL_CLASS_RATE_LIMITED or SL_CLASS_TIMEOUT");
  Json run = wait_finished(id);
  ASSERT_EQ(status_of(run), "failed");
  EXPECT_EQ(run.at("error").at("message"), message.c_str());
}

TEST_F(CapiExecution, FinishParkedWithNothingToWaitForFailsTheRun) {
  workflow("lost", [&](sl_execution* e) { EXPECT_EQ(sl_execution_finish_parked(e), SL_OK); });
  std::string id = id_of(start("lost"));
  Json run = wait_finished(id);
  ASSERT_EQ(status_of(run), "failed");
  EXPECT_EQ(run.at("error").at("message"),
            ("the workflow parked run '" + id +
             "' without a pending sleep, signal wait or child run")
                .c_str());
}

TEST_F(CapiExecution, OversizedOutputFailsTheRun) {
  reopen_with_payload_limit(1024);
  workflow("verbose", [&](sl_execution* e) {
    std::string output = "{\"text\":\"" + std::string(2000, 'x') + "\"}";
    // The run fails with the error, and the caller hears about it too.
    EXPECT_EQ(sl_execution_finish_completed(e, output.data(), output.size()), SL_ETOOLARGE);
  });
  std::string id = id_of(start("verbose"));
  Json run = wait_finished(id);
  ASSERT_EQ(status_of(run), "failed");
  EXPECT_EQ(run.at("error").at("code"), "payload_too_large");
  EXPECT_EQ(run.at("error").at("message"),
            ("output of run '" + id + "' is 2011 bytes of JSON; the limit is 1024").c_str());
}

TEST_F(CapiExecution, FinishCallsRejectANullExecution) {
  EXPECT_EQ(sl_execution_finish_completed(nullptr, "{}", 2), SL_EINVALID);
  EXPECT_EQ(last_message(), "sl_execution_finish_completed: execution is NULL");
  EXPECT_EQ(sl_execution_finish_failed(nullptr, SL_CLASS_FATAL, "x", 1), SL_EINVALID);
  EXPECT_EQ(last_message(), "sl_execution_finish_failed: execution is NULL");
  EXPECT_EQ(sl_execution_finish_parked(nullptr), SL_EINVALID);
  EXPECT_EQ(last_message(), "sl_execution_finish_parked: execution is NULL");
}

TEST_F(CapiExecution, EngineCloseReleasesAnExecutionTheHostStillHolds) {
  close();
  sl_engine_options opts = options();
  opts.drain_timeout_ms = 30;
  open(opts);
  Inbox inbox;
  workflow("slow", [&](sl_execution* e) { inbox.push(e); });
  std::string id = id_of(start("slow"));
  sl_execution* held = inbox.pop();
  ASSERT_NE(held, nullptr);
  close();  // waits 30 ms for `held`, then puts the run back in the queue

  int64_t seq = -1;
  int memoized = -1;
  char* out = nullptr;
  EXPECT_EQ(sl_execution_step_begin(&seq, &memoized, &out, nullptr, held, "s", 1),
            SL_EINVALIDSTATE);
  std::string finished = "this execution of run '" + id + "' has already finished";
  EXPECT_EQ(last_message(), finished);
  EXPECT_EQ(sl_execution_finish_completed(held, "{}", 2), SL_EINVALIDSTATE);  // frees `held`
  EXPECT_EQ(last_message(), finished);

  open(options());
  workflow("slow", [&](sl_execution* e) { complete(e, R"({"second":true})"); });
  Json run = wait_finished(id);
  ASSERT_EQ(status_of(run), "completed") << run;
  EXPECT_TRUE(contains(event_types(events(id)), "run.released"));
}

// A host told "durable" finds the step's result in the store from another connection.
TEST_F(CapiExecution, WhenDurableFiresOnceTheResultIsCommitted) {
  std::promise<std::pair<int, std::string>> seen;
  sl_engine* reader = nullptr;
  sl_engine_options opts = options();
  ASSERT_EQ(sl_engine_open(&reader, &opts), SL_OK) << last_message();  // never launched
  struct Probe {
    sl_engine* reader;
    std::string run_id;
    std::promise<std::pair<int, std::string>>* seen;
  };
  workflow("one", [&](sl_execution* e) {
    int64_t seq = 0;
    int memoized = 0;
    char* result = nullptr;
    size_t len = 0;
    ASSERT_EQ(sl_execution_step_begin(&seq, &memoized, &result, &len, e, "s", 1), SL_OK);
    ASSERT_EQ(sl_execution_step_complete(e, seq, "42", 2), SL_OK);
    const char* id = nullptr;
    size_t id_len = 0;
    sl_execution_run_id(&id, &id_len, e);
    auto* probe = new Probe{reader, std::string(id, id_len), &seen};
    int status = sl_execution_when_durable(
        e,
        [](void* user, int durable, const char*, size_t) {
          auto* p = static_cast<Probe*>(user);
          char* snap = nullptr;
          sl_engine_snapshot(&snap, nullptr, p->reader, p->run_id.data(), p->run_id.size());
          p->seen->set_value({durable, snap ? std::string(snap) : ""});
          sl_free(snap);
          delete p;
        },
        probe);
    ASSERT_EQ(status, SL_OK);
    EXPECT_EQ(sl_execution_wait_durable(e), SL_OK);
    sl_execution_finish_completed(e, "{}", 2);
  });
  start("one");
  auto [status, snapshot] = seen.get_future().get();
  EXPECT_EQ(status, SL_OK);
  Json snap = boost::json::parse(snapshot);
  ASSERT_EQ(snap.at("steps").as_array().size(), 1u);
  EXPECT_EQ(snap.at("steps").at(0).at("result"), 42);
  EXPECT_EQ(sl_execution_when_durable(nullptr, nullptr, nullptr), SL_EINVALID);
  sl_engine_close(reader);
}

// ---- only valid text reaches the store ----

TEST_F(CapiExecution, MessagesThatAreNotUtf8AreStoredWithReplacementCharacters) {
  workflow("latin1-step", [&](sl_execution* e) {
    int64_t seq = -1;
    int memoized = -1;
    char* out = nullptr;
    // The retry at the end may begin as the engine closes: then it just ends.
    if (sl_execution_step_begin(&seq, &memoized, &out, nullptr, e, "open", 4) != SL_OK) {
      sl_execution_finish_failed(e, SL_CLASS_FATAL, "closing", 7);
      return;
    }
    EXPECT_EQ(sl_execution_step_fail(e, seq, SL_CLASS_FATAL, "caf\xe9.txt", 8), SL_OK);
    sl_execution_finish_failed(e, SL_CLASS_FATAL, "caf\xe9.txt", 8);  // the error escapes
  });
  workflow("latin1-finish", [&](sl_execution* e) {
    EXPECT_EQ(sl_execution_finish_failed(e, SL_CLASS_FATAL, "\xff down", 6), SL_OK);
  });
  std::string a = id_of(start("latin1-step"));
  std::string b = id_of(start("latin1-finish"));
  Json ra = wait_finished(a);
  Json rb = wait_finished(b);
  EXPECT_EQ(ra.at("error").at("message"), "caf\xEF\xBF\xBD.txt");
  EXPECT_EQ(rb.at("error").at("message"), "\xEF\xBF\xBD down");
  // Both runs stay readable: the unfiltered list and a retry of all failed runs work.
  char* listed = nullptr;
  Json page = take_json(sl_engine_list_runs(&listed, nullptr, engine_, nullptr), listed);
  EXPECT_EQ(page.at("runs").as_array().size(), 2u);
  size_t count = 0;
  EXPECT_EQ(sl_engine_retry_failed(&count, engine_, nullptr), SL_OK) << last_message();
  EXPECT_EQ(count, 2u);
}

TEST_F(CapiExecution, DurationsBeyondTheLimitAreRefusedNotImmediate) {
  std::promise<std::vector<std::pair<int, std::string>>> outcome;
  workflow("long", [&](sl_execution* e) {
    std::vector<std::pair<int, std::string>> seen;
    int state = -1;
    char* payload = nullptr;
    int status = sl_execution_sleep(&state, e, "nap", 3, INT64_MAX);
    seen.emplace_back(status, last_message());
    status = sl_execution_wait_for_signal(&state, &payload, nullptr, e, "go", 2, INT64_MAX);
    seen.emplace_back(status, last_message());
    outcome.set_value(seen);
    complete(e);
  });
  start("long");
  auto seen = outcome.get_future().get();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0], std::make_pair(int(SL_EINVALID),
                                    std::string("duration of sleep 'nap' is 9223372036854775807 ms; "
                                                "the limit is 3155760000000 ms (100 years)")));
  EXPECT_EQ(seen[1], std::make_pair(int(SL_EINVALID),
                                    std::string("timeout of wait_for_signal 'go' is "
                                                "9223372036854775807 ms; the limit is "
                                                "3155760000000 ms (100 years)")));
  EXPECT_EQ(SL_MAX_DURATION_MS, INT64_C(3155760000000));
}

TEST_F(CapiExecution, CloseFromInsideACallbackFailsWithTheDocumentedCode) {
  std::promise<std::pair<int, std::string>> outcome;
  workflow("rude", [&](sl_execution* e) {
    sl_engine_close(engine_);  // against the contract: it joins the thread it runs on
    outcome.set_value({sl_last_error_code(), last_message()});
    complete(e);
  });
  start("rude");
  auto [code, message] = outcome.get_future().get();
  EXPECT_EQ(code, SL_EINVALIDSTATE);  // as storyloom.h documents for sl_engine_close
  EXPECT_NE(message.find("close() was called from one of the engine's own threads"),
            std::string::npos)
      << message;
}

TEST_F(CapiExecution, JsonDeeperThanTheLimitIsRefusedNamingIt) {
  std::string deep(33, '[');
  deep += std::string(33, ']');
  std::string input = "{\"a\":" + deep + "}";
  workflow("w", [&](sl_execution* e) { complete(e); });
  char* out = nullptr;
  EXPECT_EQ(sl_engine_start(&out, nullptr, engine_, "w", 1, input.data(), input.size(), nullptr),
            SL_EINVALID);
  EXPECT_EQ(last_message(),
            "run input is nested deeper than the JSON depth limit of 32 levels (max_json_depth)");
  // The limit is configurable through config_json.
  close();
  sl_engine_options opts = options();
  const std::string config = R"({"max_json_depth": 40})";
  opts.config_json = config.data();
  opts.config_json_len = config.size();
  open(opts);
  workflow("w", [&](sl_execution* e) { complete(e); });
  ASSERT_EQ(sl_engine_start(&out, nullptr, engine_, "w", 1, input.data(), input.size(), nullptr),
            SL_OK)
      << last_message();
  // The run's JSON nests deeper than the test helpers parse: take its id by hand.
  std::string run = take(out);
  size_t at = run.find("\"id\":\"") + 6;
  std::string id = run.substr(at, run.find('"', at) - at);
  bool completed = false;
  for (int i = 0; i < 2000 && !completed; ++i) {
    char* got = nullptr;
    ASSERT_EQ(sl_engine_get_run(&got, nullptr, engine_, id.data(), id.size()), SL_OK);
    completed = take(got).find("\"status\":\"completed\"") != std::string::npos;
    if (!completed) std::this_thread::sleep_for(5ms);
  }
  EXPECT_TRUE(completed);
}

