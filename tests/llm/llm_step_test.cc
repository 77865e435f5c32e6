// The built-in llm step end to end: the engine, its LLM client and libcurl
// against the fake LLM server on 127.0.0.1, one scenario per behaviour.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "fake_llm_server.h"
#include "support/test_support.h"

namespace storyloom::testing {
namespace {

// Obviously fake; the tests check that it never leaves the request headers.
constexpr const char* kKey = "test-key-not-a-secret-41x7";

class LlmStep : public ::testing::Test {
 protected:
  // An engine whose providers are "fake" (OpenAI-compatible), "fake-anthropic"
  // and "offline", each at the fake server under `scenario`.
  std::unique_ptr<Engine> open(const std::string& scenario, RetryPolicy retry = {},
                               std::map<std::string, ResourceLimits> resources = {},
                               std::string store = ":memory:") {
    EngineOptions o = fast_options(std::move(store));
    o.llm.use_environment = false;
    LlmProviderConfig openai;
    openai.name = "fake";
    openai.kind = LlmProviderKind::openai;
    openai.base_url = server.base_url(scenario) + "/v1";
    openai.api_key = kKey;
    openai.model = "fake-model";
    openai.idle_timeout = std::chrono::milliseconds(1500);
    LlmProviderConfig anthropic = openai;
    anthropic.name = "fake-anthropic";
    anthropic.kind = LlmProviderKind::anthropic;
    anthropic.base_url = server.base_url(scenario);
    o.llm.providers = {openai, anthropic};
    o.llm.default_provider = "fake";
    o.resources = std::move(resources);
    auto engine = Engine::open(o);
    engine->launch();
    engine->register_workflow(
        "write",
        [this](Context& ctx, const Json& input) -> Json {
          LlmRequest r;
          r.provider = std::string(input.at("provider").as_string());
          r.messages = {{"system", "You write stories."}, {"user", "Tell me about a brave owl."}};
          r.max_tokens = 200;
          calls_started++;
          LlmResult result = ctx.llm("page/1", r);
          return to_json(result);
        },
        WorkflowOptions{.retry = retry});
    return engine;
  }

  RunInfo run_to_end(Engine& engine, const std::string& provider = "fake") {
    auto run = engine.start("write", boost::json::object{{"provider", provider}});
    return wait_finished(engine, run.id, std::chrono::seconds(20));
  }

  static std::vector<Event> events_of(Engine& engine, const std::string& run_id,
                                      const std::string& type) {
    std::vector<Event> out;
    for (auto& e : engine.events(run_id, 0, 10000)) {
      if (e.type == type) out.push_back(e);
    }
    return out;
  }

  static std::string streamed_text(Engine& engine, const std::string& run_id) {
    std::string text;
    for (auto& e : events_of(engine, run_id, "chunk")) {
      text += std::string(e.data.at("text").as_string());
    }
    return text;
  }

  // Nothing the engine stored for the run mentions the key.
  static void expect_no_key(Engine& engine, const std::string& run_id) {
    for (auto& e : engine.events(run_id, 0, 10000)) {
      EXPECT_EQ(boost::json::serialize(e.data).find("not-a-secret"), std::string::npos) << e.type;
    }
    auto run = engine.get(run_id);
    EXPECT_EQ(boost::json::serialize(run.error).find("not-a-secret"), std::string::npos);
    EXPECT_EQ(boost::json::serialize(run.output).find("not-a-secret"), std::string::npos);
  }

  static RetryPolicy retries(int attempts) {
    RetryPolicy p;
    p.max_attempts = attempts;
    p.initial_backoff = std::chrono::milliseconds(10);
    p.max_backoff = std::chrono::milliseconds(50);
    return p;
  }

  FakeLlmServer server;
  std::atomic<int> calls_started{0};
};

TEST_F(LlmStep, StreamsTheAnswerAndStoresTheResult) {
  auto engine = open("normal");
  auto run = run_to_end(*engine);
  ASSERT_EQ(run.status, RunStatus::completed) << boost::json::serialize(run.error);
  LlmResult result = llm_result_from_json(run.output);
  EXPECT_FALSE(result.text.empty());
  EXPECT_EQ(result.text, streamed_text(*engine, run.id));
  EXPECT_EQ(result.finish_reason, "stop");
  EXPECT_EQ(result.provider, "fake");
  EXPECT_GT(result.usage.input_tokens, 0);
  EXPECT_GT(result.usage.output_tokens, 0);
  auto attempts = events_of(*engine, run.id, "llm.attempt");
  ASSERT_EQ(attempts.size(), 1u);
  EXPECT_EQ(attempts[0].data.at("stream"), "page/1");
  EXPECT_EQ(attempts[0].data.at("model"), "fake-model");
  // What went over the wire: the key as a header, the idempotency key, the prompt.
  auto requests = server.recorded();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].header("authorization"), std::string("Bearer ") + kKey);
  EXPECT_EQ(requests[0].header("idempotency-key"), run.id + ":0");
  EXPECT_NE(requests[0].body.find("brave owl"), std::string::npos);
  expect_no_key(*engine, run.id);
}

TEST_F(LlmStep, AFinishedStepIsNotAskedAgain) {
  auto engine = open("normal");
  engine->register_workflow("twice", [](Context& ctx, const Json&) -> Json {
    LlmRequest r;
    r.messages = {{"user", "Once."}};
    auto first = ctx.llm("ask", r);
    ctx.wait_for_signal("go");
    return Json(first.text);
  });
  auto run = engine->start("twice", boost::json::object{});
  wait_status(*engine, run.id, RunStatus::waiting);
  engine->signal(run.id, "go", nullptr);
  auto done = wait_finished(*engine, run.id);
  ASSERT_EQ(done.status, RunStatus::completed) << boost::json::serialize(done.error);
  EXPECT_EQ(server.requests("normal"), 1u);
  EXPECT_EQ(events_of(*engine, run.id, "llm.attempt").size(), 1u);
}

TEST_F(LlmStep, AReplayNeedsNoProviderForAStoredAnswer) {
  TempDir dir;
  std::string db = "sqlite:" + dir.file("replay.db");
  auto asks_then_waits = [](Context& ctx, const Json&) -> Json {
    LlmRequest r;
    r.provider = "fake";
    r.messages = {{"user", "Once."}};
    auto answer = ctx.llm("ask", r);
    ctx.wait_for_signal("go");
    return Json(answer.provider);
  };
  std::string id;
  {
    auto engine = open("normal", {}, {}, db);
    engine->register_workflow("twice", asks_then_waits);
    id = engine->start("twice", boost::json::object{}).id;
    wait_status(*engine, id, RunStatus::waiting);
  }
  // Reopened with no "fake" provider at all: the stored answer is enough.
  EngineOptions o = fast_options(db);
  o.llm.use_environment = false;
  auto engine = Engine::open(o);
  engine->launch();
  engine->register_workflow("twice", asks_then_waits);
  engine->signal(id, "go", nullptr);
  auto done = wait_finished(*engine, id);
  ASSERT_EQ(done.status, RunStatus::completed) << boost::json::serialize(done.error);
  EXPECT_EQ(done.output, "fake");
  EXPECT_EQ(server.requests("normal"), 1u);
}

TEST_F(LlmStep, AnthropicMessagesStream) {
  auto engine = open("normal");
  auto run = run_to_end(*engine, "fake-anthropic");
  ASSERT_EQ(run.status, RunStatus::completed) << boost::json::serialize(run.error);
  LlmResult result = llm_result_from_json(run.output);
  EXPECT_EQ(result.text, streamed_text(*engine, run.id));
  EXPECT_EQ(result.finish_reason, "stop");
  EXPECT_GT(result.usage.input_tokens, 0);
  auto requests = server.recorded();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].header("x-api-key"), kKey);
  EXPECT_EQ(requests[0].path, "/s/normal/v1/messages");
  expect_no_key(*engine, run.id);
}

TEST_F(LlmStep, RateLimitedThenOkWaitsTheRetryAfterAndPausesTheResource) {
  auto engine = open("rate_limited_then_ok;retry_after_ms=300", retries(3));
  auto started = std::chrono::steady_clock::now();
  auto run = engine->start("write", boost::json::object{{"provider", "fake"}});
  ASSERT_TRUE(eventually([&] { return !events_of(*engine, run.id, "step.retrying").empty(); }));
  EXPECT_GT(engine->resource_status("llm:fake").paused_until_ms, 0);
  auto done = wait_finished(*engine, run.id);
  ASSERT_EQ(done.status, RunStatus::completed) << boost::json::serialize(done.error);
  EXPECT_GE(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(290));
  auto retrying = events_of(*engine, run.id, "step.retrying");
  ASSERT_EQ(retrying.size(), 1u);
  EXPECT_EQ(retrying[0].data.at("delay_ms"), 300);
  EXPECT_EQ(retrying[0].data.at("error").at("class"), "rate_limited");
  EXPECT_EQ(server.requests("rate_limited_then_ok;retry_after_ms=300"), 2u);
  EXPECT_EQ(events_of(*engine, run.id, "llm.attempt").size(), 2u);
}

TEST_F(LlmStep, ServerErrorThenOkIsRetried) {
  auto engine = open("server_error_then_ok", retries(3));
  auto run = run_to_end(*engine);
  ASSERT_EQ(run.status, RunStatus::completed) << boost::json::serialize(run.error);
  EXPECT_EQ(events_of(*engine, run.id, "step.retrying").size(), 1u);
  // The text of the run is the second attempt's: the stream restarted.
  auto attempts = events_of(*engine, run.id, "llm.attempt");
  ASSERT_EQ(attempts.size(), 2u);
  EXPECT_EQ(attempts[1].data.at("attempt"), 2);
}

TEST_F(LlmStep, UnauthorizedFailsAtOnceWithoutTheKey) {
  auto engine = open("unauthorized", retries(5));
  auto run = run_to_end(*engine);
  ASSERT_EQ(run.status, RunStatus::failed);
  EXPECT_EQ(run.error.at("code"), "provider");
  EXPECT_EQ(run.error.at("class"), "fatal");
  EXPECT_EQ(run.error.at("step"), "page/1");
  std::string message(run.error.at("message").as_string());
  EXPECT_NE(message.find("HTTP 401"), std::string::npos) << message;
  EXPECT_NE(message.find("Incorrect API key provided"), std::string::npos) << message;
  EXPECT_EQ(server.requests("unauthorized"), 1u);
  expect_no_key(*engine, run.id);
}

TEST_F(LlmStep, BadRequestFailsWithTheProvidersMessage) {
  auto engine = open("bad_request", retries(5));
  auto run = run_to_end(*engine);
  ASSERT_EQ(run.status, RunStatus::failed);
  std::string message(run.error.at("message").as_string());
  EXPECT_NE(message.find("HTTP 400"), std::string::npos) << message;
  EXPECT_NE(message.find("max_tokens"), std::string::npos) << message;
  EXPECT_EQ(server.requests("bad_request"), 1u);
}

TEST_F(LlmStep, AStreamThatBreaksIsRetriedThenFails) {
  auto engine = open("break_midway", retries(2));
  auto run = run_to_end(*engine);
  ASSERT_EQ(run.status, RunStatus::failed);
  EXPECT_EQ(run.error.at("class"), "retryable");
  std::string message(run.error.at("message").as_string());
  EXPECT_NE(message.find("connection broke"), std::string::npos) << message;
  EXPECT_EQ(server.requests("break_midway"), 2u);
  // Text streamed before each break was shown live and stays in the stream.
  EXPECT_FALSE(streamed_text(*engine, run.id).empty());
}

// A retried attempt's text starts where the stream ended: readers (live
// subscribers and the snapshot) show only the current attempt's text.
TEST_F(LlmStep, ARetriedAttemptsTextReplacesTheEarlierOne) {
  auto engine = open("break_midway~attempts", retries(2));
  auto run = run_to_end(*engine);
  ASSERT_EQ(run.status, RunStatus::failed);
  auto attempts = events_of(*engine, run.id, "llm.attempt");
  ASSERT_EQ(attempts.size(), 2u);
  EXPECT_EQ(attempts[0].data.at("offset").as_int64(), 0);
  int64_t second_start = attempts[1].data.at("offset").as_int64();
  EXPECT_GT(second_start, 0) << "the first attempt streamed text before it broke";
  std::string first_text, second_text;
  for (const auto& chunk : events_of(*engine, run.id, "chunk")) {
    int64_t start = chunk.data.at("attempt_start").as_int64();
    int64_t offset = chunk.data.at("offset").as_int64();
    std::string text(chunk.data.at("text").as_string());
    if (start == 0) {
      EXPECT_LT(offset, second_start);
      first_text += text;
    } else {
      EXPECT_EQ(start, second_start);
      EXPECT_GE(offset, second_start);
      second_text += text;
    }
  }
  EXPECT_EQ(static_cast<int64_t>(first_text.size()), second_start);
  EXPECT_FALSE(second_text.empty());
  auto snap = engine->snapshot(run.id);
  ASSERT_EQ(snap.streams.size(), 1u);
  EXPECT_EQ(snap.streams[0].name, "page/1");
  EXPECT_EQ(snap.streams[0].attempt_start, second_start);
  EXPECT_EQ(snap.streams[0].end, second_start + static_cast<int64_t>(second_text.size()));
  auto json = to_json(snap);
  EXPECT_EQ(json.at("streams").at("page/1").at("attempt_start").as_int64(), second_start);
}

TEST_F(LlmStep, KeepAliveCommentsAndBytewiseCrlfStreamsGiveTheSameText) {
  auto engine = open("normal");
  std::string plain = llm_result_from_json(run_to_end(*engine).output).text;
  engine.reset();
  for (const char* scenario : {"keepalive", "crlf_bytewise"}) {
    auto e = open(scenario);
    auto run = run_to_end(*e);
    ASSERT_EQ(run.status, RunStatus::completed) << scenario << boost::json::serialize(run.error);
    EXPECT_EQ(llm_result_from_json(run.output).text, plain) << scenario;
    EXPECT_EQ(streamed_text(*e, run.id), plain) << scenario;
  }
}

TEST_F(LlmStep, ASlowTrickleArrivesLiveChunkByChunk) {
  auto engine = open("slow_trickle;delay_ms=20;words=10");
  auto run = engine->start("write", boost::json::object{{"provider", "fake"}});
  std::mutex mutex;
  int transient = 0;
  auto sub = engine->subscribe(run.id, 0, [&](const Event& e) {
    std::lock_guard lock(mutex);
    if (e.kind == EventKind::transient) ++transient;
  });
  auto done = wait_finished(*engine, run.id);
  ASSERT_EQ(done.status, RunStatus::completed) << boost::json::serialize(done.error);
  sub.close();
  std::lock_guard lock(mutex);
  EXPECT_GE(transient, 5);  // word by word, not one block at the end
}

TEST_F(LlmStep, MalformedJsonInTheStreamIsARetryableError) {
  auto engine = open("malformed_chunk", retries(1));
  auto run = run_to_end(*engine);
  ASSERT_EQ(run.status, RunStatus::failed);
  EXPECT_EQ(run.error.at("class"), "retryable");
  std::string message(run.error.at("message").as_string());
  EXPECT_NE(message.find("not a JSON object"), std::string::npos) << message;
}

TEST_F(LlmStep, AnErrorInsideTheStreamFailsTheAttempt) {
  for (const char* provider : {"fake", "fake-anthropic"}) {
    auto engine = open("in_stream_error", retries(1));
    auto run = run_to_end(*engine, provider);
    ASSERT_EQ(run.status, RunStatus::failed) << provider;
    std::string message(run.error.at("message").as_string());
    EXPECT_NE(message.find("error in the stream"), std::string::npos) << message;
  }
}

TEST_F(LlmStep, AStalledStreamTimesOut) {
  auto engine = open("stall;stall_ms=5000", retries(1));
  auto run = run_to_end(*engine);
  ASSERT_EQ(run.status, RunStatus::failed);
  EXPECT_EQ(run.error.at("code"), "timeout");
  EXPECT_EQ(run.error.at("class"), "timeout");
}

TEST_F(LlmStep, CancellingTheRunStopsTheTransferAtOnce) {
  auto engine = open("slow_trickle;delay_ms=200;words=100");
  auto run = engine->start("write", boost::json::object{{"provider", "fake"}});
  std::atomic<bool> text_arrived{false};
  auto sub = engine->subscribe(run.id, 0, [&](const Event& e) {
    if (e.type == "chunk") text_arrived = true;
  });
  ASSERT_TRUE(eventually([&] { return text_arrived.load(); }));
  sub.close();
  auto asked = std::chrono::steady_clock::now();
  engine->cancel(run.id);
  // The workflow thread gets the cancellation right away, not after 100 words.
  ASSERT_TRUE(eventually([&] { return !engine->resource_status("llm:fake").in_flight; },
                         std::chrono::seconds(2)));
  EXPECT_LT(std::chrono::steady_clock::now() - asked, std::chrono::seconds(2));
  EXPECT_EQ(engine->get(run.id).status, RunStatus::cancelled);
  EXPECT_TRUE(events_of(*engine, run.id, "step.completed").empty());
  EXPECT_TRUE(events_of(*engine, run.id, "step.failed").empty());
  // Text streamed before the cancel is stored before run.cancelled, and
  // nothing after it: a late reader that stops at the run's end misses nothing.
  std::this_thread::sleep_for(std::chrono::milliseconds(150));  // past any chunk flush
  auto all = engine->events(run.id, 0, 10000);
  ASSERT_FALSE(all.empty());
  EXPECT_EQ(all.back().type, "run.cancelled");
  EXPECT_FALSE(streamed_text(*engine, run.id).empty());
}

TEST_F(LlmStep, ClosingTheEngineStopsTheStepAndTheNextOpenFinishesIt) {
  TempDir dir;
  std::string db = "sqlite:" + dir.file("close.db");
  std::string id;
  {
    auto engine = open("slow_trickle;delay_ms=200;words=100", {}, {}, db);
    id = engine->start("write", boost::json::object{{"provider", "fake"}}).id;
    ASSERT_TRUE(eventually([&] { return !events_of(*engine, id, "llm.attempt").empty(); }));
    auto asked = std::chrono::steady_clock::now();
    engine->close();
    EXPECT_LT(std::chrono::steady_clock::now() - asked, std::chrono::seconds(2));
  }
  auto engine = open("normal", {}, {}, db);
  auto run = wait_finished(*engine, id);
  ASSERT_EQ(run.status, RunStatus::completed) << boost::json::serialize(run.error);
  EXPECT_TRUE(events_of(*engine, id, "step.failed").empty());
  EXPECT_EQ(events_of(*engine, id, "llm.attempt").size(), 2u);
}

TEST_F(LlmStep, MaxInFlightHoldsRequestsBackWithoutThreads) {
  ResourceLimits one;
  one.max_in_flight = 1;
  auto engine = open("slow_trickle;delay_ms=5;words=10", {}, {{"llm:fake", one}});
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    ids.push_back(engine->start("write", boost::json::object{{"provider", "fake"}}).id);
  }
  int peak = 0;
  ASSERT_TRUE(eventually(
      [&] {
        peak = std::max(peak, engine->resource_status("llm:fake").in_flight);
        for (const auto& id : ids) {
          if (!is_finished(engine->get(id).status)) return false;
        }
        return true;
      },
      std::chrono::seconds(20)));
  EXPECT_EQ(peak, 1);
  size_t waited = 0;
  for (const auto& id : ids) {
    EXPECT_EQ(engine->get(id).status, RunStatus::completed);
    waited += events_of(*engine, id, "llm.waiting").size();
  }
  EXPECT_GE(waited, 1u);
}

TEST_F(LlmStep, RateLimitHeadersWithNothingLeftPauseTheResource) {
  auto engine = open("ratelimit_headers;remaining_requests=0");
  auto run = run_to_end(*engine);
  ASSERT_EQ(run.status, RunStatus::completed);
  EXPECT_GT(engine->resource_status("llm:fake").paused_until_ms, 0);
}

TEST_F(LlmStep, TheTokenBudgetIsChargedTheReportedUsageNotTheEstimate) {
  ResourceLimits budget;
  budget.tokens_per_minute = 100'000;
  auto engine = open("normal", {}, {{"llm:fake", budget}});
  auto run = run_to_end(*engine);
  ASSERT_EQ(run.status, RunStatus::completed) << boost::json::serialize(run.error);
  LlmResult result = llm_result_from_json(run.output);
  double used = static_cast<double>(result.usage.input_tokens + result.usage.output_tokens);
  // The estimate was at least max_tokens (200); the usage is a few dozen. The
  // budget refills at 100,000 a minute, so allow a second's refill of slack.
  double available = engine->resource_status("llm:fake").available_tokens;
  EXPECT_LT(used, 100);
  EXPECT_NEAR(available, 100'000 - used, 1700) << "used " << used;
  EXPECT_GT(available, 100'000 - 200);
}

TEST_F(LlmStep, RemainingTokensInTheHeadersLowerTheBudget) {
  ResourceLimits budget;
  budget.tokens_per_minute = 100'000;
  auto engine = open("ratelimit_headers;remaining_tokens=500", {}, {{"llm:fake", budget}});
  ASSERT_EQ(run_to_end(*engine).status, RunStatus::completed);
  EXPECT_LE(engine->resource_status("llm:fake").available_tokens, 500 + 1700);
}

TEST_F(LlmStep, TheOfflineProviderNeedsNoServer) {
  auto engine = open("normal");
  auto run = run_to_end(*engine, "offline");
  ASSERT_EQ(run.status, RunStatus::completed) << boost::json::serialize(run.error);
  LlmResult result = llm_result_from_json(run.output);
  EXPECT_EQ(result.provider, "offline");
  EXPECT_EQ(result.model, "offline-placeholder");
  EXPECT_EQ(result.text, streamed_text(*engine, run.id));
  EXPECT_EQ(server.recorded().size(), 0u);
}

TEST_F(LlmStep, BadRequestsAndUnknownProvidersFailTheRunNamingThem) {
  auto engine = open("normal");
  auto run = run_to_end(*engine, "nowhere");
  ASSERT_EQ(run.status, RunStatus::failed);
  std::string message(run.error.at("message").as_string());
  EXPECT_NE(message.find("llm provider 'nowhere' is not configured"), std::string::npos) << message;
  EXPECT_NE(message.find("fake, fake-anthropic, offline"), std::string::npos) << message;
  engine->register_workflow("empty", [](Context& ctx, const Json&) -> Json {
    return to_json(ctx.llm("ask", LlmRequest{}));
  });
  auto empty = wait_finished(*engine, engine->start("empty", boost::json::object{}).id);
  ASSERT_EQ(empty.status, RunStatus::failed);
  EXPECT_NE(std::string(empty.error.at("message").as_string()).find("messages must not be empty"),
            std::string::npos);
}

TEST_F(LlmStep, AProviderWithoutAModelNeedsTheRequestToNameOne) {
  EngineOptions o = fast_options();
  o.llm.use_environment = false;
  LlmProviderConfig local;
  local.name = "local";
  local.base_url = server.base_url("normal") + "/v1";
  o.llm.providers = {local};
  auto engine = Engine::open(o);
  engine->launch();
  engine->register_workflow("ask", [](Context& ctx, const Json& input) -> Json {
    LlmRequest r;
    r.provider = "local";
    r.model = std::string(input.at("model").as_string());
    r.messages = {{"user", "hello"}};
    return Json(ctx.llm("ask", r).model);
  });
  auto nameless = wait_finished(*engine, engine->start("ask", {{"model", ""}}).id);
  ASSERT_EQ(nameless.status, RunStatus::failed);
  EXPECT_EQ(nameless.error.at("message"),
            "llm step 'ask': provider 'local' has no default model; name one");
  auto named = wait_finished(*engine, engine->start("ask", {{"model", "small"}}).id);
  EXPECT_EQ(named.status, RunStatus::completed) << boost::json::serialize(named.error);
}

TEST_F(LlmStep, MisconfiguredProvidersAreRefusedAtOpen) {
  EngineOptions o = fast_options();
  o.llm.use_environment = false;
  LlmProviderConfig keyless;
  keyless.name = "openai";
  o.llm.providers = {keyless};
  Error e = error_of([&] { Engine::open(o); });
  EXPECT_EQ(e.code(), ErrorCode::invalid_argument);
  EXPECT_NE(std::string(e.what()).find("'openai' has no api_key"), std::string::npos) << e.what();
  LlmProviderConfig bad_url;
  bad_url.name = "local";
  bad_url.base_url = "127.0.0.1:8080/v1";
  o.llm.providers = {bad_url};
  e = error_of([&] { Engine::open(o); });
  EXPECT_NE(std::string(e.what()).find("base_url '127.0.0.1:8080/v1' must start with http://"),
            std::string::npos)
      << e.what();
  LlmProviderConfig impatient;
  impatient.name = "local";
  impatient.base_url = "http://127.0.0.1:9/v1";
  impatient.connect_timeout = std::chrono::milliseconds(0);
  o.llm.providers = {impatient};
  e = error_of([&] { Engine::open(o); });
  EXPECT_STREQ(e.what(), "llm provider 'local': connect_timeout must be at least 1 ms, got 0");
  o.llm.providers.clear();
  o.llm.default_provider = "missing";
  e = error_of([&] { Engine::open(o); });
  EXPECT_EQ(e.code(), ErrorCode::not_found);
  EXPECT_NE(std::string(e.what()).find("'missing' is not configured"), std::string::npos);
}

}  // namespace
}  // namespace storyloom::testing
