// Bad input inside a batch: start_many, signal_many and start_async judge each
// request alone. A refused one gets its own error naming what was wrong and
// leaves nothing in the store (no run, no event, no signal); its neighbours in
// the same call start or are delivered as if it were not there.
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <set>

#include "support/test_support.h"

using namespace storyloom;
using namespace storyloom::testing;
using namespace std::chrono_literals;

namespace {

// {"a":{"a":...{"a":1}}}: `levels` nested objects.
Json nested(int levels) {
  Json value = 1;
  for (int i = 0; i < levels; ++i) value = boost::json::object{{"a", std::move(value)}};
  return value;
}

StartOptions keyed(const std::string& key) {
  StartOptions o;
  o.idempotency_key = key;
  return o;
}

std::vector<RunInfo> all_runs(Engine& engine) {
  RunFilter filter;
  filter.limit = 1000;
  std::vector<RunInfo> runs;
  for (;;) {
    auto page = engine.list(filter);
    runs.insert(runs.end(), page.runs.begin(), page.runs.end());
    if (page.next_cursor.empty()) return runs;
    filter.after_run_id = page.next_cursor;
  }
}

int count_events(Engine& engine, const std::string& run_id, const std::string& type) {
  int n = 0;
  for (const auto& e : engine.events(run_id, 0, 1000)) n += e.type == type;
  return n;
}

void expect_error(const StartResult& result, ErrorCode code, const std::string& message,
                  const std::string& which) {
  ASSERT_TRUE(result.error) << which << " was accepted";
  EXPECT_FALSE(result.run) << which;
  EXPECT_EQ(result.error->code(), code) << which << ": " << result.error->what();
  EXPECT_EQ(std::string(result.error->what()), message) << which;
}

void expect_error(const std::optional<Error>& error, ErrorCode code, const std::string& message,
                  const std::string& which) {
  ASSERT_TRUE(error) << which << " was accepted";
  EXPECT_EQ(error->code(), code) << which << ": " << error->what();
  EXPECT_EQ(std::string(error->what()), message) << which;
}

EngineOptions small_payloads() {
  EngineOptions o = fast_options();
  o.max_payload_bytes = 2000;
  return o;
}

void register_echo(Engine& engine, const std::string& name) {
  engine.register_workflow(name, [](Context&, const Json& input) -> Json { return input; });
}

}  // namespace

TEST(BatchInput, StartManyJudgesEachRequestAloneAndRefusedOnesLeaveNothing) {
  auto engine = Engine::open(small_payloads());  // not launched: runs stay queued
  register_echo(*engine, "echo");
  register_echo(*engine, "other");
  std::vector<StartRequest> requests;
  requests.push_back({"echo", boost::json::object{{"x", 1}}, keyed("a")});
  requests.push_back({"echo", Json(7), keyed("number")});
  requests.push_back({"echo", nested(33), keyed("deep")});
  requests.push_back({"ghost", boost::json::object{}, keyed("ghost")});
  requests.push_back({"echo", boost::json::object{{"x", 2}}, keyed("a")});  // same key, same batch
  requests.push_back({"", boost::json::object{}, keyed("nameless")});
  requests.push_back({"echo", boost::json::object{}, keyed("bad\nkey")});
  requests.push_back({"other", boost::json::object{}, keyed("a")});  // key of an echo run
  requests.push_back({"echo", boost::json::object{{"x", 3}}, keyed("b")});
  requests.push_back({"echo", boost::json::object{{"big", std::string(3000, 'x')}}, keyed("big")});
  requests.push_back({"echo", boost::json::object{{"x", 4}}, {}});
  auto results = engine->start_many(requests);
  ASSERT_EQ(results.size(), requests.size());

  ASSERT_TRUE(results[0].run && !results[0].error);
  std::string a = results[0].run->id;
  expect_error(results[1], ErrorCode::invalid_argument,
               "run input must be a JSON object, not a number", "a number as input");
  expect_error(results[2], ErrorCode::invalid_argument,
               "run input is nested deeper than the JSON depth limit of 32 levels (max_json_depth)",
               "input 33 levels deep");
  expect_error(results[3], ErrorCode::not_found,
               "workflow 'ghost' is not registered by any engine on this store", "unknown workflow");
  ASSERT_TRUE(results[4].run) << "the same key twice in one batch";
  EXPECT_EQ(results[4].run->id, a);
  EXPECT_EQ(results[4].run->input.at("x").as_int64(), 1) << "the first request's input wins";
  ASSERT_TRUE(results[5].error) << "an empty workflow name";
  EXPECT_EQ(results[5].error->code(), ErrorCode::invalid_argument);
  EXPECT_NE(std::string(results[5].error->what()).find("workflow name"), std::string::npos)
      << results[5].error->what();
  expect_error(results[6], ErrorCode::invalid_argument,
               "idempotency key contains a control character", "a key with a newline");
  expect_error(results[7], ErrorCode::invalid_argument,
               "idempotency key 'a' belongs to a run of workflow 'echo'",
               "a key taken by another workflow in the same batch");
  ASSERT_TRUE(results[8].run);
  std::string b = results[8].run->id;
  ASSERT_TRUE(results[9].error) << "input over max_payload_bytes";
  EXPECT_EQ(results[9].error->code(), ErrorCode::payload_too_large);
  EXPECT_NE(std::string(results[9].error->what()).find("the limit is 2000"), std::string::npos)
      << results[9].error->what();
  ASSERT_TRUE(results[10].run);
  std::string unkeyed = results[10].run->id;

  // Only the three accepted runs exist, each created once.
  auto runs = all_runs(*engine);
  std::set<std::string> ids;
  for (const auto& run : runs) ids.insert(run.id);
  EXPECT_EQ(ids, (std::set<std::string>{a, b, unkeyed}));
  for (const auto& id : ids) EXPECT_EQ(count_events(*engine, id, "run.created"), 1) << id;

  // Across batches: a seen key answers its run; refusals still stand alone.
  std::vector<StartRequest> again;
  again.push_back({"echo", boost::json::object{{"x", 9}}, keyed("a")});
  again.push_back({"other", boost::json::object{}, keyed("b")});
  again.push_back({"echo", boost::json::object{{"x", 5}}, keyed("ghost")});  // refused before: free
  again.push_back({"ghost", boost::json::object{}, keyed("c")});
  results = engine->start_many(again);
  ASSERT_EQ(results.size(), 4u);
  ASSERT_TRUE(results[0].run);
  EXPECT_EQ(results[0].run->id, a);
  EXPECT_EQ(results[0].run->input.at("x").as_int64(), 1);
  expect_error(results[1], ErrorCode::invalid_argument,
               "idempotency key 'b' belongs to a run of workflow 'echo'",
               "a key taken in an earlier batch by another workflow");
  ASSERT_TRUE(results[2].run) << "a key whose earlier request was refused is unused";
  EXPECT_EQ(results[2].run->input.at("x").as_int64(), 5);
  expect_error(results[3], ErrorCode::not_found,
               "workflow 'ghost' is not registered by any engine on this store", "unknown workflow");
  EXPECT_EQ(all_runs(*engine).size(), 4u);

  engine->launch();
  for (const auto& id : {a, b, unkeyed, results[2].run->id}) {
    EXPECT_EQ(wait_finished(*engine, id).status, RunStatus::completed) << id;
  }
  EXPECT_EQ(engine->get(a).output.at("x").as_int64(), 1);
  EXPECT_EQ(engine->get(b).output.at("x").as_int64(), 3);
}

TEST(BatchInput, AnEmptyBatchIsAnEmptyAnswer) {
  auto engine = Engine::open(fast_options());
  EXPECT_TRUE(engine->start_many({}).empty());
  EXPECT_TRUE(engine->signal_many({}).empty());
  EXPECT_TRUE(all_runs(*engine).empty());
}

TEST(BatchInput, SignalManyJudgesEachSignalAloneWhateverTheRunsState) {
  auto engine = Engine::open(small_payloads());
  std::mutex mutex;
  std::condition_variable released;
  bool release = false;
  engine->register_workflow("wait", [](Context& ctx, const Json&) -> Json {
    return boost::json::object{{"got", *ctx.wait_for_signal("go")}};
  });
  engine->register_workflow("wait_other", [](Context& ctx, const Json&) -> Json {
    return boost::json::object{{"got", *ctx.wait_for_signal("other")}};
  });
  // Busy in a step when signalled; reads the signal after.
  engine->register_workflow("busy", [&](Context& ctx, const Json&) -> Json {
    ctx.step("hold", [&] {
      std::unique_lock lock(mutex);
      released.wait_for(lock, 10s, [&] { return release; });
      return Json(nullptr);
    });
    return boost::json::object{{"got", *ctx.wait_for_signal("go")}};
  });
  register_echo(*engine, "echo");
  engine->launch();
  std::string w1 = engine->start("wait", boost::json::object{}).id;
  std::string w2 = engine->start("wait", boost::json::object{}).id;
  std::string o1 = engine->start("wait_other", boost::json::object{}).id;
  std::string busy = engine->start("busy", boost::json::object{}).id;
  std::string done = engine->start("echo", boost::json::object{}).id;
  std::string cancelled = engine->start("wait", boost::json::object{}).id;
  for (const auto& id : {w1, w2, o1, cancelled}) {
    ASSERT_EQ(wait_status(*engine, id, RunStatus::waiting).status, RunStatus::waiting) << id;
  }
  ASSERT_EQ(wait_status(*engine, busy, RunStatus::running).status, RunStatus::running);
  ASSERT_EQ(wait_finished(*engine, done).status, RunStatus::completed);
  engine->cancel(cancelled);

  std::vector<SignalRequest> signals;
  signals.push_back({w1, "go", boost::json::object{{"v", 0}}});
  signals.push_back({"missing", "go", boost::json::object{{"v", 1}}});
  signals.push_back({done, "go", boost::json::object{{"v", 2}}});
  signals.push_back({o1, "go", boost::json::object{{"v", 3}}});  // it waits for "other"
  signals.push_back({w2, "", boost::json::object{{"v", 4}}});
  signals.push_back({w2, "go", boost::json::object{{"big", std::string(3000, 'x')}}});
  signals.push_back({w2, "go", boost::json::object{{"v", 6}}, /*once=*/true});
  signals.push_back({w2, "go", boost::json::object{{"v", 7}}, /*once=*/true});
  signals.push_back({busy, "go", boost::json::object{{"v", 8}}});
  signals.push_back({cancelled, "go", boost::json::object{{"v", 9}}});
  auto results = engine->signal_many(signals);
  ASSERT_EQ(results.size(), signals.size());
  EXPECT_FALSE(results[0]) << results[0]->what();
  expect_error(results[1], ErrorCode::not_found, "no run with id 'missing'", "a missing run");
  expect_error(results[2], ErrorCode::invalid_state,
               "run '" + done + "' is already completed; signals can only be sent to unfinished runs",
               "a completed run");
  EXPECT_FALSE(results[3]) << "a run waiting for another name keeps the signal in its mailbox";
  ASSERT_TRUE(results[4]) << "an empty signal name";
  EXPECT_EQ(results[4]->code(), ErrorCode::invalid_argument);
  EXPECT_NE(std::string(results[4]->what()).find("signal name"), std::string::npos)
      << results[4]->what();
  ASSERT_TRUE(results[5]) << "a payload over max_payload_bytes";
  EXPECT_EQ(results[5]->code(), ErrorCode::payload_too_large);
  EXPECT_NE(std::string(results[5]->what()).find("signal payload is"), std::string::npos)
      << results[5]->what();
  EXPECT_FALSE(results[6]) << results[6]->what();
  expect_error(results[7], ErrorCode::invalid_state,
               "run '" + w2 + "' has already received signal 'go'; a signal sent once is "
               "delivered to the first sender only",
               "a second once-signal in the same batch");
  EXPECT_FALSE(results[8]) << "a running run keeps the signal in its mailbox";
  expect_error(results[9], ErrorCode::invalid_state,
               "run '" + cancelled +
                   "' is already cancelled; signals can only be sent to unfinished runs",
               "a cancelled run");

  // What was accepted arrives; what was refused left no trace.
  EXPECT_EQ(wait_finished(*engine, w1).output.at("got").at("v").as_int64(), 0);
  EXPECT_EQ(wait_finished(*engine, w2).output.at("got").at("v").as_int64(), 6);
  EXPECT_EQ(count_events(*engine, w2, "signal.received"), 1) << "only the once-signal reached w2";
  EXPECT_EQ(count_events(*engine, done, "signal.received"), 0);
  EXPECT_EQ(count_events(*engine, cancelled, "signal.received"), 0);
  EXPECT_EQ(error_of([&] { engine->events("missing", 0, 10); }).code(), ErrorCode::not_found)
      << "a refused signal created the run it named";
  std::this_thread::sleep_for(30ms);
  EXPECT_EQ(engine->get(o1).status, RunStatus::waiting) << "a signal of another name wakes nothing";
  EXPECT_EQ(count_events(*engine, o1, "signal.received"), 1);
  {
    std::lock_guard lock(mutex);
    release = true;
  }
  released.notify_all();
  EXPECT_EQ(wait_finished(*engine, busy).output.at("got").at("v").as_int64(), 8);
  engine->signal(o1, "other", boost::json::object{{"v", 10}});
  EXPECT_EQ(wait_finished(*engine, o1).output.at("got").at("v").as_int64(), 10);
}

// signal() refuses a payload nested deeper than max_json_depth; signal_many
// must refuse it too, for that one signal, with the same message.
TEST(BatchInput, SignalManyRefusesAPayloadTooDeepLikeSignal) {
  auto engine = Engine::open(fast_options());
  engine->register_workflow("wait", [](Context& ctx, const Json&) -> Json {
    return boost::json::object{{"got", *ctx.wait_for_signal("go")}};
  });
  engine->launch();
  std::string deep = engine->start("wait", boost::json::object{}).id;
  std::string fine = engine->start("wait", boost::json::object{}).id;
  ASSERT_EQ(wait_status(*engine, deep, RunStatus::waiting).status, RunStatus::waiting);
  ASSERT_EQ(wait_status(*engine, fine, RunStatus::waiting).status, RunStatus::waiting);
  const std::string message =
      "signal payload is nested deeper than the JSON depth limit of 32 levels (max_json_depth)";
  EXPECT_EQ(std::string(error_of([&] { engine->signal(deep, "go", nested(40)); }).what()), message);
  auto results = engine->signal_many({{deep, "go", nested(40)}, {fine, "go", nested(3)}});
  ASSERT_EQ(results.size(), 2u);
  expect_error(results[0], ErrorCode::invalid_argument, message, "a payload 40 levels deep");
  EXPECT_FALSE(results[1]) << results[1]->what();
  EXPECT_EQ(wait_finished(*engine, fine).status, RunStatus::completed);
  EXPECT_EQ(count_events(*engine, deep, "signal.received"), 0);
  EXPECT_EQ(engine->get(deep).status, RunStatus::waiting);
}

TEST(BatchInput, StartAsyncAgreesWithTheBatchOnKeysAndReportsRefusalsOnce) {
  auto engine = Engine::open(fast_options());
  register_echo(*engine, "echo");
  register_echo(*engine, "other");
  engine->launch();
  auto batch = engine->start_many({{"echo", boost::json::object{{"x", 1}}, keyed("k")}});
  ASSERT_TRUE(batch[0].run);
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<std::pair<int, StartResult>> answers;
  auto record = [&](int which) {
    return [&, which](StartResult r) {
      std::lock_guard lock(mutex);
      answers.emplace_back(which, std::move(r));
      changed.notify_all();
    };
  };
  engine->start_async("echo", boost::json::object{{"x", 2}}, keyed("k"), record(0));
  engine->start_async("other", boost::json::object{}, keyed("k"), record(1));
  engine->start_async("ghost", boost::json::object{}, keyed("g"), record(2));
  engine->start_async("echo", boost::json::object{{"x", 3}}, keyed("fresh"), record(3));
  // Checked before queueing: thrown at once, no answer later.
  auto e = error_of([&] { engine->start_async("echo", nested(33), keyed("deep"), record(4)); });
  EXPECT_EQ(std::string(e.what()),
            "run input is nested deeper than the JSON depth limit of 32 levels (max_json_depth)");
  {
    std::unique_lock lock(mutex);
    ASSERT_TRUE(changed.wait_for(lock, 10s, [&] { return answers.size() >= 4; }));
  }
  std::this_thread::sleep_for(30ms);
  std::lock_guard lock(mutex);
  ASSERT_EQ(answers.size(), 4u) << "one answer per queued start, none for the refused one";
  std::map<int, StartResult> by;
  for (auto& [which, r] : answers) by[which] = r;
  ASSERT_TRUE(by[0].run);
  EXPECT_EQ(by[0].run->id, batch[0].run->id);
  expect_error(by[1], ErrorCode::invalid_argument,
               "idempotency key 'k' belongs to a run of workflow 'echo'", "async, key of another workflow");
  expect_error(by[2], ErrorCode::not_found,
               "workflow 'ghost' is not registered by any engine on this store", "async, unknown workflow");
  ASSERT_TRUE(by[3].run);
  EXPECT_EQ(wait_finished(*engine, by[3].run->id).output.at("x").as_int64(), 3);
  EXPECT_EQ(all_runs(*engine).size(), 2u);
}
