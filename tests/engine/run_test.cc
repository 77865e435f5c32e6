// Starting, reading, listing and deleting runs, and the errors callers can reach.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>

#include "storyloom/config.h"
#include "support/test_support.h"

using namespace storyloom;
using namespace storyloom::testing;
using namespace std::chrono_literals;

namespace {

void register_adder(Engine& engine, std::atomic<int>* calls = nullptr) {
  engine.register_workflow("add", [calls](Context& ctx, const Json& input) -> Json {
    auto a = ctx.step("a", [&] {
      if (calls) ++*calls;
      return Json(input.at("x").as_int64() + 1);
    });
    auto b = ctx.step("b", [&] {
      if (calls) ++*calls;
      return Json(a.as_int64() * 2);
    });
    return boost::json::object{{"b", b}};
  });
}

}  // namespace

TEST(Run, CompletesWithStepResults) {
  auto engine = Engine::open(fast_options());
  engine->launch();
  std::atomic<int> calls{0};
  register_adder(*engine, &calls);
  auto run = engine->start("add", boost::json::object{{"x", 1}}, {"", "user-1", 3});
  // An idle engine starts it in the same commit; a busy one queues it.
  EXPECT_TRUE(run.status == RunStatus::running || run.status == RunStatus::queued);
  EXPECT_EQ(run.owner, "user-1");
  EXPECT_EQ(run.priority, 3);
  auto done = wait_finished(*engine, run.id);
  ASSERT_EQ(done.status, RunStatus::completed) << boost::json::serialize(done.error);
  EXPECT_EQ(done.output.at("b").as_int64(), 4);
  EXPECT_EQ(calls.load(), 2);
  EXPECT_GT(done.finished_at_ms, 0);
  auto snap = engine->snapshot(run.id);
  ASSERT_EQ(snap.steps.size(), 2u);
  EXPECT_EQ(snap.steps[0].name, "a");
  EXPECT_EQ(snap.steps[1].result.as_int64(), 4);
  EXPECT_GT(snap.last_event_id, 0);
}

TEST(Run, IdempotencyKeyReturnsTheSameRun) {
  auto engine = Engine::open(fast_options());
  engine->launch();
  register_adder(*engine);
  StartOptions o;
  o.idempotency_key = "order-17";
  auto a = engine->start("add", boost::json::object{{"x", 1}}, o);
  auto b = engine->start("add", boost::json::object{{"x", 2}}, o);
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(b.input.at("x").as_int64(), 1);
  engine->register_workflow("other", [](Context&, const Json&) -> Json { return nullptr; });
  auto e = error_of([&] { engine->start("other", boost::json::object{}, o); });
  EXPECT_EQ(e.code(), ErrorCode::invalid_argument);
  EXPECT_STREQ(e.what(), "idempotency key 'order-17' belongs to a run of workflow 'add'");
}

TEST(Run, ListFiltersAndPages) {
  auto engine = Engine::open(fast_options());
  engine->launch();
  register_adder(*engine);
  engine->register_workflow("wait", [](Context& ctx, const Json&) -> Json {
    ctx.wait_for_signal("go");
    return nullptr;
  });
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    StartOptions o;
    o.owner = i % 2 ? "odd" : "even";
    ids.push_back(engine->start("add", boost::json::object{{"x", i}}, o).id);
  }
  auto waiting = engine->start("wait", boost::json::object{});
  for (auto& id : ids) wait_finished(*engine, id);
  wait_status(*engine, waiting.id, RunStatus::waiting);

  RunFilter f;
  f.limit = 2;
  auto p1 = engine->list(f);
  ASSERT_EQ(p1.runs.size(), 2u);
  EXPECT_EQ(p1.runs[0].id, ids[0]);
  EXPECT_EQ(p1.next_cursor, ids[1]);
  f.after_run_id = p1.next_cursor;
  auto p2 = engine->list(f);
  EXPECT_EQ(p2.runs[0].id, ids[2]);

  RunFilter by_owner;
  by_owner.owner = "odd";
  EXPECT_EQ(engine->list(by_owner).runs.size(), 2u);
  RunFilter by_status;
  by_status.status = RunStatus::waiting;
  auto w = engine->list(by_status);
  ASSERT_EQ(w.runs.size(), 1u);
  EXPECT_EQ(w.runs[0].id, waiting.id);
  RunFilter by_workflow;
  by_workflow.workflow = "add";
  EXPECT_EQ(engine->list(by_workflow).runs.size(), 5u);
  EXPECT_TRUE(engine->list(by_workflow).next_cursor.empty());
}

TEST(Run, ListRejectsBadLimitsAndCursors) {
  auto engine = Engine::open(fast_options());
  engine->launch();
  RunFilter f;
  f.limit = 0;
  auto e = error_of([&] { engine->list(f); });
  EXPECT_EQ(e.code(), ErrorCode::invalid_argument);
  EXPECT_STREQ(e.what(), "limit must be between 1 and 1000, got 0");
  f.limit = 10;
  f.after_run_id = "nope";
  e = error_of([&] { engine->list(f); });
  EXPECT_EQ(e.code(), ErrorCode::invalid_argument);
  EXPECT_STREQ(e.what(), "paging cursor 'nope' is not the id of an existing run");
}

TEST(Run, RemoveDeletesAFinishedRunAndRefusesAnUnfinishedOne) {
  auto engine = Engine::open(fast_options());
  engine->launch();
  register_adder(*engine);
  engine->register_workflow("wait", [](Context& ctx, const Json&) -> Json {
    ctx.wait_for_signal("go");
    return nullptr;
  });
  auto done = engine->start("add", boost::json::object{{"x", 1}});
  wait_finished(*engine, done.id);
  engine->remove(done.id);
  auto e = error_of([&] { engine->get(done.id); });
  EXPECT_EQ(e.code(), ErrorCode::not_found);
  EXPECT_EQ(std::string(e.what()), "no run with id '" + done.id + "'");
  EXPECT_EQ(error_of([&] { engine->events(done.id, 0); }).code(), ErrorCode::not_found);

  auto waiting = engine->start("wait", boost::json::object{});
  wait_status(*engine, waiting.id, RunStatus::waiting);
  e = error_of([&] { engine->remove(waiting.id); });
  EXPECT_EQ(e.code(), ErrorCode::invalid_state);
  EXPECT_EQ(std::string(e.what()), "run '" + waiting.id +
                                       "' is waiting; only finished runs can be deleted (cancel it first)");
}

TEST(Run, BadInputGetsSpecificErrors) {
  EngineOptions options = fast_options();
  options.max_payload_bytes = 2048;
  auto engine = Engine::open(options);
  engine->launch();
  register_adder(*engine);

  auto e = error_of([&] { engine->start("nope", boost::json::object{}); });
  EXPECT_EQ(e.code(), ErrorCode::not_found);
  EXPECT_STREQ(e.what(), "workflow 'nope' is not registered by any engine on this store");

  e = error_of([&] { engine->start("add", Json(boost::json::array{1, 2})); });
  EXPECT_EQ(e.code(), ErrorCode::invalid_argument);
  EXPECT_STREQ(e.what(), "run input must be a JSON object, not an array");

  e = error_of([&] { engine->start("add", boost::json::object{{"big", std::string(5000, 'x')}}); });
  EXPECT_EQ(e.code(), ErrorCode::payload_too_large);
  EXPECT_STREQ(e.what(), "run input is 5010 bytes of JSON; the limit is 2048");

  e = error_of([&] { engine->start("", boost::json::object{}); });
  EXPECT_EQ(e.code(), ErrorCode::invalid_argument);
  EXPECT_STREQ(e.what(), "workflow name is empty");

  e = error_of([&] { engine->register_workflow(std::string(200, 'w'), [](Context&, const Json&) -> Json { return nullptr; }); });
  EXPECT_EQ(e.code(), ErrorCode::invalid_argument);
  EXPECT_NE(std::string(e.what()).find("is 200 bytes; the limit is 128"), std::string::npos) << e.what();

  e = error_of([&] { engine->register_workflow("add", [](Context&, const Json&) -> Json { return nullptr; }); });
  EXPECT_STREQ(e.what(), "workflow 'add' is already registered");

  StartOptions o;
  o.idempotency_key = std::string(300, 'k');
  e = error_of([&] { engine->start("add", boost::json::object{}, o); });
  EXPECT_STREQ(e.what(), "idempotency key is 300 bytes; the limit is 256");

  e = error_of([&] { parse_json("{\"a\":", "run input"); });
  EXPECT_EQ(e.code(), ErrorCode::invalid_argument);
  EXPECT_NE(std::string(e.what()).find("run input is not valid JSON"), std::string::npos) << e.what();

  e = error_of([&] { engine->get("does-not-exist"); });
  EXPECT_EQ(e.code(), ErrorCode::not_found);
  EXPECT_STREQ(e.what(), "no run with id 'does-not-exist'");
  e = error_of([&] { engine->get(""); });
  EXPECT_STREQ(e.what(), "run id is empty");
}

TEST(Run, EngineOptionsAreChecked) {
  EngineOptions o;
  o.workers = 0;
  auto e = error_of([&] { Engine::open(o); });
  EXPECT_EQ(e.code(), ErrorCode::invalid_argument);
  EXPECT_STREQ(e.what(), "workers must be at least 1, got 0");
}

TEST(Run, OutputTooLargeFailsTheRun) {
  EngineOptions options = fast_options();
  options.max_payload_bytes = 2048;
  auto engine = Engine::open(options);
  engine->launch();
  engine->register_workflow("big", [](Context&, const Json&) -> Json {
    return boost::json::object{{"s", std::string(4000, 'x')}};
  });
  auto run = engine->start("big", boost::json::object{});
  auto done = wait_finished(*engine, run.id);
  ASSERT_EQ(done.status, RunStatus::failed);
  EXPECT_EQ(done.error.at("code").as_string(), "payload_too_large");
}

TEST(Run, SeveralEnginesLiveInOneProcess) {
  TempDir dir;
  auto a = Engine::open(fast_options(dir.file("a.db")));
  a->launch();
  auto b = Engine::open(fast_options(dir.file("b.db")));
  b->launch();
  register_adder(*a);
  register_adder(*b);
  auto ra = a->start("add", boost::json::object{{"x", 1}});
  auto rb = b->start("add", boost::json::object{{"x", 2}});
  EXPECT_EQ(wait_finished(*a, ra.id).output.at("b").as_int64(), 4);
  EXPECT_EQ(wait_finished(*b, rb.id).output.at("b").as_int64(), 6);
  EXPECT_EQ(error_of([&] { a->get(rb.id); }).code(), ErrorCode::not_found);
}

TEST(Run, ExactlyFullLastPageHasNoCursor) {
  auto engine = Engine::open(fast_options());
  engine->launch();
  register_adder(*engine);
  for (int i = 0; i < 3; ++i) engine->start("add", boost::json::object{{"x", i}});
  RunFilter f;
  f.limit = 3;
  auto page = engine->list(f);
  EXPECT_EQ(page.runs.size(), 3u);
  EXPECT_TRUE(page.next_cursor.empty());
}

TEST(Run, NamesMustBeValidUtf8) {
  auto engine = Engine::open(fast_options());
  engine->launch();
  auto e = error_of([&] {
    engine->register_workflow("story\xff", [](Context&, const Json&) -> Json { return nullptr; });
  });
  EXPECT_EQ(e.code(), ErrorCode::invalid_argument);
  EXPECT_STREQ(e.what(), "workflow name is not valid UTF-8");
  engine->register_workflow("histoire \xc3\xa9t\xc3\xa9", [](Context&, const Json&) -> Json { return nullptr; });
  StartOptions o;
  o.owner = "\xc0\xaf";  // an overlong '/'
  e = error_of([&] { engine->start("histoire \xc3\xa9t\xc3\xa9", boost::json::object{}, o); });
  EXPECT_STREQ(e.what(), "owner is not valid UTF-8");
}

TEST(Run, DurationOptionsAreChecked) {
  EngineOptions o;
  o.poll_interval = std::chrono::milliseconds(-5);
  auto e = error_of([&] { Engine::open(o); });
  EXPECT_EQ(e.code(), ErrorCode::invalid_argument);
  EXPECT_STREQ(e.what(), "poll_interval must be at least 1 ms, got -5");
  o = EngineOptions{};
  o.lease_ttl = std::chrono::milliseconds(0);
  EXPECT_STREQ(error_of([&] { Engine::open(o); }).what(), "lease_ttl must be at least 1 ms, got 0");
}

TEST(Run, CloseFromInsideAWorkflowIsRefused) {
  auto engine = Engine::open(fast_options());
  engine->launch();
  std::string message;
  engine->register_workflow("rude", [&](Context&, const Json&) -> Json {
    try {
      engine->close();
    } catch (const Error& e) {
      message = e.what();
    }
    return nullptr;
  });
  auto run = engine->start("rude", boost::json::object{});
  EXPECT_EQ(wait_finished(*engine, run.id).status, RunStatus::completed);
  EXPECT_NE(message.find("close() was called from one of the engine's own threads"), std::string::npos)
      << message;
  engine->close();  // from the test thread: fine
}

TEST(Run, StartManyStartsEachInOneCallAndReportsEachRefusal) {
  auto engine = Engine::open(fast_options());
  engine->launch();
  register_adder(*engine);
  engine->launch();
  std::vector<StartRequest> requests;
  for (int i = 0; i < 3; ++i) requests.push_back({"add", boost::json::object{{"x", i}}, {}});
  requests.push_back({"nobody-runs-this", boost::json::object{}, {}});
  requests.push_back({"add", Json(7), {}});
  requests.push_back({"add", boost::json::object{{"x", 10}}, {"key-a", "", 0}});
  requests.push_back({"add", boost::json::object{{"x", 11}}, {"key-a", "", 0}});
  auto results = engine->start_many(std::move(requests));
  ASSERT_EQ(results.size(), 7u);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(results[i].run) << i;
    EXPECT_FALSE(results[i].error);
    auto done = wait_finished(*engine, results[i].run->id);
    ASSERT_EQ(done.status, RunStatus::completed);
    EXPECT_EQ(done.output.at("b").as_int64(), (i + 1) * 2);
  }
  ASSERT_TRUE(results[3].error);
  EXPECT_EQ(results[3].error->code(), ErrorCode::not_found);
  EXPECT_STREQ(results[3].error->what(),
               "workflow 'nobody-runs-this' is not registered by any engine on this store");
  ASSERT_TRUE(results[4].error);
  EXPECT_EQ(results[4].error->code(), ErrorCode::invalid_argument);
  EXPECT_STREQ(results[4].error->what(), "run input must be a JSON object, not a number");
  ASSERT_TRUE(results[5].run && results[6].run);
  EXPECT_EQ(results[5].run->id, results[6].run->id) << "the same idempotency key";
  EXPECT_EQ(results[6].run->input.at("x").as_int64(), 10);
}

TEST(Run, StartAsyncAnswersOnceDurableAndRefusesBadInputAtOnce) {
  auto engine = Engine::open(fast_options());
  register_adder(*engine);
  engine->launch();
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<StartResult> answers;
  auto record = [&](StartResult r) {
    std::lock_guard lock(mutex);
    answers.push_back(std::move(r));
    changed.notify_all();
  };
  for (int i = 0; i < 20; ++i) {
    engine->start_async("add", boost::json::object{{"x", i}}, {}, record);
  }
  engine->start_async("nobody-runs-this", boost::json::object{}, {}, record);
  // Checked before queueing: thrown here, and the callback never runs for it.
  EXPECT_THROW(engine->start_async("add", Json(7), {}, record), Error);
  EXPECT_THROW(engine->start_async("add", boost::json::object{}, {}, nullptr), Error);
  {
    std::unique_lock lock(mutex);
    ASSERT_TRUE(changed.wait_for(lock, std::chrono::seconds(10), [&] { return answers.size() >= 21; }));
  }
  size_t started = 0;
  for (const auto& a : answers) {
    if (a.error) {
      EXPECT_EQ(a.error->code(), ErrorCode::not_found);
      continue;
    }
    ++started;
    // Durable when answered: the store has it, and it completes.
    EXPECT_EQ(wait_finished(*engine, a.run->id).status, RunStatus::completed);
  }
  EXPECT_EQ(started, 20u);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  std::lock_guard lock(mutex);
  EXPECT_EQ(answers.size(), 21u);
}

TEST(Run, SignalManyWakesEveryWaitingRunAndReportsEachRefusal) {
  auto engine = Engine::open(fast_options());
  engine->launch();
  engine->register_workflow("wait", [](Context& ctx, const Json&) -> Json {
    return *ctx.wait_for_signal("go");
  });
  engine->launch();
  std::vector<std::string> ids;
  for (int i = 0; i < 20; ++i) ids.push_back(engine->start("wait", boost::json::object{}).id);
  for (const auto& id : ids) wait_status(*engine, id, RunStatus::waiting);
  std::vector<SignalRequest> signals;
  for (size_t i = 0; i < ids.size(); ++i) {
    signals.push_back({ids[i], "go", boost::json::object{{"i", i}}});
  }
  signals.push_back({"no-such-run", "go", nullptr});
  signals.push_back({ids[0], "", nullptr});
  auto results = engine->signal_many(std::move(signals));
  ASSERT_EQ(results.size(), ids.size() + 2);
  for (size_t i = 0; i < ids.size(); ++i) {
    EXPECT_FALSE(results[i]) << results[i]->what();
    auto done = wait_finished(*engine, ids[i]);
    ASSERT_EQ(done.status, RunStatus::completed);
    EXPECT_EQ(done.output.at("i").as_int64(), static_cast<int64_t>(i));
  }
  ASSERT_TRUE(results[ids.size()]);
  EXPECT_EQ(results[ids.size()]->code(), ErrorCode::not_found);
  EXPECT_STREQ(results[ids.size()]->what(), "no run with id 'no-such-run'");
  ASSERT_TRUE(results[ids.size() + 1]);
  EXPECT_EQ(results[ids.size() + 1]->code(), ErrorCode::invalid_argument);
}

TEST(Run, OwnersAndKeysWithControlCharactersAreRefused) {
  auto engine = Engine::open(fast_options());
  engine->launch();
  register_adder(*engine);
  StartOptions o;
  o.owner = "mallory\x1b[2J";
  auto e = error_of([&] { engine->start("add", boost::json::object{{"x", 1}}, o); });
  EXPECT_EQ(e.code(), ErrorCode::invalid_argument);
  EXPECT_STREQ(e.what(), "owner contains a control character");
  o = StartOptions{};
  o.idempotency_key = "order\n17";
  e = error_of([&] { engine->start("add", boost::json::object{{"x", 1}}, o); });
  EXPECT_STREQ(e.what(), "idempotency key contains a control character");
  e = error_of([&] { engine->signal("no-run", "go\r", nullptr); });
  EXPECT_STREQ(e.what(), "signal name contains a control character");
  EXPECT_TRUE(engine->list().runs.empty());
}

namespace {

Json nested(int depth) {
  Json value = 1;
  for (int i = 0; i < depth; ++i) value = boost::json::array{value};
  return value;
}

}  // namespace

TEST(Run, JsonDepthLimitIsDocumentedConfigurableAndNamed) {
  EXPECT_EQ(json_depth(nested(0)), 0);
  EXPECT_EQ(json_depth(boost::json::object{{"a", nested(2)}}), 3);
  {
    auto engine = Engine::open(fast_options());
    engine->launch();
    register_adder(*engine);
    auto e = error_of([&] { engine->start("add", boost::json::object{{"x", nested(32)}}); });
    EXPECT_EQ(e.code(), ErrorCode::invalid_argument);
    EXPECT_STREQ(e.what(),
                 "run input is nested deeper than the JSON depth limit of 32 levels (max_json_depth)");
    e = error_of([&] { parse_json(std::string(40, '[') + std::string(40, ']'), "body"); });
    EXPECT_STREQ(e.what(), "body is nested deeper than the JSON depth limit of 32 levels (max_json_depth)");
  }
  EngineOptions o = fast_options();
  o.max_json_depth = 40;
  auto engine = Engine::open(o);
  engine->launch();
  engine->register_workflow("deep", [](Context& ctx, const Json& input) -> Json {
    return ctx.step("echo", [&] { return input.at("x"); });
  });
  auto run = engine->start("deep", boost::json::object{{"x", nested(38)}});
  auto done = wait_finished(*engine, run.id);
  ASSERT_EQ(done.status, RunStatus::completed) << boost::json::serialize(done.error);
  EXPECT_EQ(json_depth(done.output), 38);
  EXPECT_EQ(json_depth(engine->snapshot(run.id).steps.at(0).result), 38);

  o.max_json_depth = 0;
  EXPECT_STREQ(error_of([&] { Engine::open(o); }).what(), "max_json_depth must be from 1 to 1000, got 0");
  EngineOptions configured;
  apply_engine_config(configured, parse_json(R"({"max_json_depth": 64})", "config"));
  EXPECT_EQ(configured.max_json_depth, 64);
  EXPECT_STREQ(error_of([&] {
                 apply_engine_config(configured, parse_json(R"({"max_json_depth": "deep"})", "config"));
               }).what(),
               "config.max_json_depth must be an integer from 1 to 1000, got \"deep\"");
}
