// The built-in llm step end to end: the engine, its LLM client and libcurl
// against the fake LLM server on 127.0.0.1, one scenario per behaviour.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "fake_llm_server.h"
#include "storyloom/config.h"
#include "support/lifecycle_recorder.h"
#include "support/test_support.h"

namespace storyloom::testing {
namespace {

// Obviously fake; the tests check that it never leaves the request headers.
constexpr const char* kKey = "test-key-not-a-secret-41x7";

class LlmStep : public ::testing::Test {
 protected:
  // An engine whose providers are "fake" (OpenAI-compatible), "fake-anthropic"
  // and "offline", each at the fake server under `scenario`.
  // `retry`: the workflow's policy; nullopt leaves it unset (llm steps' default).
  std::unique_ptr<Engine> open(const std::string& scenario,
                               std::optional<RetryPolicy> retry = std::nullopt,
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
    LlmProviderConfig gemini = openai;
    gemini.name = "fake-gemini";
    gemini.kind = LlmProviderKind::gemini;
    gemini.base_url = server.base_url(scenario);
    o.llm.providers = {openai, anthropic, gemini};
    o.llm.default_provider = "fake";
    o.resources = std::move(resources);
    auto engine = Engine::open(o);
    engine->launch();
    engine->register_workflow(
        "write",
        [this](Context& ctx, const Json& input) -> Json {
          LlmRequest r;
          if (const auto* request = input.as_object().if_contains("request")) {
            r = llm_request_from_json(*request);  // per-request options
          } else {
            r.messages = {{"system", "You write stories."}, {"user", "Tell me about a brave owl."}};
            r.max_tokens = 200;
          }
          r.provider = std::string(input.at("provider").as_string());
          calls_started++;
          LlmResult result = ctx.llm("page/1", r);
          return to_json(result);
        },
        WorkflowOptions{.retry = retry});
    return engine;
  }

  RunInfo run_to_end(Engine& engine, const std::string& provider = "fake", Json request = nullptr) {
    boost::json::object input{{"provider", provider}};
    if (!request.is_null()) input["request"] = request;
    auto run = engine.start("write", input);
    return wait_finished(engine, run.id, std::chrono::seconds(20));
  }

  static Json request_with(boost::json::object options) {
    boost::json::object r{
        {"messages",
         boost::json::array{
             boost::json::object{{"role", "system"}, {"content", "You write stories."}},
             boost::json::object{{"role", "user"}, {"content", "Tell me about a brave owl."}}}},
        {"max_tokens", 200}};
    for (auto& [k, v] : options) r[k] = v;
    return r;
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

// An attempt stopped by a cancel has not failed (nothing is stored), but its
// lifecycle report ends it, before the run's end, so its span ends there.
TEST_F(LlmStep, ACancelledAttemptIsReportedAsFailedWithTheClassCancelled) {
  auto engine = open("slow_trickle;delay_ms=200;words=100");
  LifecycleRecorder recorder;
  engine->set_lifecycle_callback(recorder.callback());
  auto run = engine->start("write", boost::json::object{{"provider", "fake"}});
  ASSERT_TRUE(eventually([&] { return !events_of(*engine, run.id, "chunk").empty(); }));
  engine->cancel(run.id);
  ASSERT_EQ(wait_finished(*engine, run.id).status, RunStatus::cancelled);
  ASSERT_TRUE(eventually([&] { return recorder.has_run_end(); }));
  std::vector<std::string> expected = {"run.started", "step.started page/1#1",
                                       "step.failed page/1#1 cancelled", "run.finished cancelled"};
  EXPECT_EQ(recorder.lines(), expected);
  auto failed = recorder.events()[2];
  EXPECT_EQ(failed.step_kind, "llm");
  EXPECT_FALSE(failed.will_retry);
  EXPECT_GE(failed.ended_at_ms, failed.started_at_ms);
  EXPECT_EQ(to_json(failed).at("error_class"), "cancelled");
  EXPECT_TRUE(events_of(*engine, run.id, "step.failed").empty());  // still nothing stored
}

TEST_F(LlmStep, AnAttemptStoppedByCloseIsReportedAsFailedWithTheClassClosed) {
  LifecycleRecorder recorder;
  {
    auto engine = open("slow_trickle;delay_ms=200;words=100");
    engine->set_lifecycle_callback(recorder.callback());
    auto id = engine->start("write", boost::json::object{{"provider", "fake"}}).id;
    ASSERT_TRUE(eventually([&] { return !events_of(*engine, id, "llm.attempt").empty(); }));
    engine->close();  // delivers every report before it returns
  }
  std::vector<std::string> expected = {"run.started", "step.started page/1#1",
                                       "step.failed page/1#1 closed", "run.finished released"};
  EXPECT_EQ(recorder.lines(), expected);
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
  EXPECT_NE(message.find("fake, fake-anthropic, fake-gemini, offline"), std::string::npos)
      << message;
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

TEST_F(LlmStep, ANamelessProviderIsRefusedAtOpen) {
  EngineOptions o = fast_options();
  o.llm.use_environment = false;
  o.llm.providers = {LlmProviderConfig{}};
  Error e = error_of([&] { Engine::open(o); });
  EXPECT_EQ(e.code(), ErrorCode::invalid_argument);
  EXPECT_STREQ(e.what(), "an llm provider needs a name");
}

// ---------------------------------------------------------------------------
// Quota, default retries, results that say what happened, per-request
// options, redaction and Gemini (issue 15, issue 16's first point).

const char* const kProviders[] = {"fake", "fake-anthropic", "fake-gemini"};

TEST_F(LlmStep, QuotaAnswersFailAfterOneRequestWithTheProvidersMessage) {
  struct Case {
    const char* provider;
    const char* scenario;
    const char* says;  // a piece of the provider's own message
  };
  const Case cases[] = {
      {"fake", "quota~openai", "You exceeded your current quota"},
      {"fake", "quota~openrouter;variant=openrouter", "Insufficient credits"},
      {"fake-anthropic", "quota~credit", "Your credit balance is too low"},
      {"fake-anthropic", "quota~limit;variant=usage_limit", "specified API usage limits"},
      {"fake-anthropic", "quota~billing;variant=billing", "credit balance is too low"},
      {"fake-gemini", "quota~gemini", "You exceeded your current quota"},
  };
  for (const auto& c : cases) {
    auto engine = open(c.scenario, retries(5));
    auto run = run_to_end(*engine, c.provider);
    ASSERT_EQ(run.status, RunStatus::failed) << c.scenario;
    EXPECT_EQ(run.error.at("code"), "quota_exceeded") << c.scenario;
    EXPECT_EQ(run.error.at("class"), "fatal") << c.scenario;
    std::string message(run.error.at("message").as_string());
    EXPECT_NE(message.find("out of quota or credit"), std::string::npos) << message;
    EXPECT_NE(message.find(c.says), std::string::npos) << message;
    EXPECT_EQ(server.requests(c.scenario), 1u) << c.scenario;
    EXPECT_TRUE(events_of(*engine, run.id, "step.retrying").empty()) << c.scenario;
  }
}

TEST_F(LlmStep, GeminiPerMinuteLimitIsRateLimitedNotQuota) {
  auto engine = open("rate_limited_then_ok~gemini", retries(3));
  auto run = engine->start("write", boost::json::object{{"provider", "fake-gemini"}});
  ASSERT_TRUE(eventually([&] { return !events_of(*engine, run.id, "step.retrying").empty(); }));
  // The wait came from the body's RetryInfo (Gemini sends no Retry-After).
  EXPECT_GT(engine->resource_status("llm:fake-gemini").paused_until_ms, 0);
  auto done = wait_finished(*engine, run.id);
  ASSERT_EQ(done.status, RunStatus::completed) << boost::json::serialize(done.error);
  auto retrying = events_of(*engine, run.id, "step.retrying");
  ASSERT_EQ(retrying.size(), 1u);
  EXPECT_EQ(retrying[0].data.at("delay_ms"), 1000);
  EXPECT_EQ(retrying[0].data.at("error").at("class"), "rate_limited");
  EXPECT_EQ(retrying[0].data.at("error").at("code"), "provider");
  EXPECT_EQ(server.requests("rate_limited_then_ok~gemini"), 2u);
}

TEST_F(LlmStep, WithNoPolicySetA503ThenOkSucceeds) {
  auto engine = open("server_error_then_ok;status=503");  // neither step nor workflow policy
  auto run = run_to_end(*engine);
  ASSERT_EQ(run.status, RunStatus::completed) << boost::json::serialize(run.error);
  EXPECT_EQ(server.requests("server_error_then_ok;status=503"), 2u);
  auto retrying = events_of(*engine, run.id, "step.retrying");
  ASSERT_EQ(retrying.size(), 1u);
  // Full jitter under the default's first backoff of 1 s.
  EXPECT_LE(retrying[0].data.at("delay_ms").to_number<int64_t>(), 1000);
}

TEST_F(LlmStep, TheDefaultPolicyStopsAtThreeAttempts) {
  auto engine = open("server_error_then_ok~three;times=5;status=503");
  auto run = run_to_end(*engine);
  ASSERT_EQ(run.status, RunStatus::failed);
  EXPECT_EQ(run.error.at("class"), "retryable");
  std::string message(run.error.at("message").as_string());
  EXPECT_NE(message.find("HTTP 503"), std::string::npos) << message;
  EXPECT_EQ(server.requests("server_error_then_ok~three;times=5;status=503"), 3u);
}

TEST_F(LlmStep, AWorkflowPolicyReplacesTheDefault) {
  auto engine = open("server_error_then_ok~off;status=503", retries(1));  // retries off
  auto run = run_to_end(*engine);
  ASSERT_EQ(run.status, RunStatus::failed);
  EXPECT_EQ(server.requests("server_error_then_ok~off;status=503"), 1u);
}

// RetryPolicy{} used to look like "no policy" and left the default on; now a
// set policy, whatever its values, is the workflow's word for its llm steps.
TEST_F(LlmStep, AWorkflowPolicyOfOneAttemptAtItsDefaultsTurnsTheDefaultOff) {
  auto engine = open("server_error_then_ok~plain;status=503", RetryPolicy{});
  auto run = run_to_end(*engine);
  ASSERT_EQ(run.status, RunStatus::failed);
  EXPECT_EQ(server.requests("server_error_then_ok~plain;status=503"), 1u);
}

TEST(EngineConfigGemini, AGeminiProviderFromConfigJson) {
  EngineOptions o;
  apply_engine_config(
      o, boost::json::parse(R"({"llm":{"providers":[)"
                            R"({"name":"g","kind":"gemini","api_key":"k","model":"gemini-x"}]}})"));
  ASSERT_EQ(o.llm.providers.size(), 1u);
  EXPECT_EQ(o.llm.providers[0].kind, LlmProviderKind::gemini);
}

TEST(LlmDefaults, TheDefaultRetryPolicyIsDocumented) {
  RetryPolicy p = default_llm_retry_policy();
  EXPECT_EQ(p.max_attempts, 3);
  EXPECT_EQ(p.initial_backoff, std::chrono::milliseconds(1000));
  EXPECT_EQ(p.multiplier, 2.0);
  EXPECT_TRUE(p.jitter);
  EXPECT_NO_THROW(validate(p));
}

TEST_F(LlmStep, TruncatedAnswersAreFlaggedKeptAndNotRetried) {
  const std::pair<const char*, const char*> raw[] = {
      {"fake", "length"}, {"fake-anthropic", "max_tokens"}, {"fake-gemini", "MAX_TOKENS"}};
  for (auto [provider, stop_reason] : raw) {
    std::string scenario = std::string("truncated~") + provider;
    auto engine = open(scenario, retries(3));
    auto run = run_to_end(*engine, provider);
    ASSERT_EQ(run.status, RunStatus::completed) << boost::json::serialize(run.error);
    EXPECT_EQ(run.output.at("truncated"), true) << provider;
    LlmResult result = llm_result_from_json(run.output);
    EXPECT_TRUE(result.truncated) << provider;
    EXPECT_EQ(result.finish_reason, "length") << provider;
    EXPECT_EQ(result.stop_reason, stop_reason) << provider;
    EXPECT_FALSE(result.text.empty()) << provider;
    EXPECT_EQ(server.requests(scenario), 1u) << provider;
  }
}

TEST_F(LlmStep, ResultsCarryTheRawStopReasonAndUsage) {
  const std::pair<const char*, const char*> raw[] = {
      {"fake", "stop"}, {"fake-anthropic", "end_turn"}, {"fake-gemini", "STOP"}};
  for (auto [provider, stop_reason] : raw) {
    auto engine = open("normal");
    auto run = run_to_end(*engine, provider);
    ASSERT_EQ(run.status, RunStatus::completed) << boost::json::serialize(run.error);
    LlmResult result = llm_result_from_json(run.output);
    EXPECT_EQ(result.finish_reason, "stop") << provider;
    EXPECT_EQ(result.stop_reason, stop_reason) << provider;
    EXPECT_FALSE(result.truncated) << provider;
    EXPECT_EQ(result.usage.output_tokens, 20) << provider;  // one per word
    EXPECT_GT(result.usage.input_tokens, 0) << provider;
    EXPECT_EQ(result.usage.total_tokens, result.usage.input_tokens + result.usage.output_tokens)
        << provider;
    // The stored JSON says the same.
    EXPECT_EQ(run.output.at("usage").at("total_tokens"), result.usage.total_tokens) << provider;
    EXPECT_EQ(run.output.at("stop_reason"), stop_reason) << provider;
  }
}

TEST_F(LlmStep, AStreamEndingInsideAnEventIsReportedCutAndRetried) {
  for (const char* provider : kProviders) {
    std::string scenario = std::string("unterminated~") + provider;
    auto engine = open(scenario, retries(2));
    auto run = run_to_end(*engine, provider);
    ASSERT_EQ(run.status, RunStatus::failed) << provider;
    EXPECT_EQ(run.error.at("class"), "retryable") << provider;
    std::string message(run.error.at("message").as_string());
    EXPECT_NE(message.find("the stream was cut"), std::string::npos) << message;
    EXPECT_EQ(server.requests(scenario), 2u) << provider;
  }
}

TEST_F(LlmStep, PerRequestOptionsGoOnTheWireInEachProvidersWords) {
  auto engine = open("normal");
  Json request = request_with({{"stop", boost::json::array{"THE END", "###"}},
                               {"temperature", 0.25},
                               {"extra", {{"top_p", 0.5}}}});
  for (const char* provider : kProviders) {
    auto run = run_to_end(*engine, provider, request);
    ASSERT_EQ(run.status, RunStatus::completed) << boost::json::serialize(run.error);
  }
  auto recorded = server.recorded();
  ASSERT_EQ(recorded.size(), 3u);
  auto body = [&](size_t i) { return boost::json::parse(recorded[i].body).as_object(); };
  auto openai = body(0), anthropic = body(1), gemini = body(2);
  EXPECT_EQ(openai.at("stop"), (boost::json::array{"THE END", "###"}));
  EXPECT_EQ(openai.at("temperature"), 0.25);
  EXPECT_EQ(openai.at("top_p"), 0.5);
  EXPECT_EQ(anthropic.at("stop_sequences"), (boost::json::array{"THE END", "###"}));
  EXPECT_EQ(anthropic.at("top_p"), 0.5);
  EXPECT_EQ(anthropic.at("system"), "You write stories.");
  EXPECT_EQ(gemini.at("generationConfig").at("stopSequences"),
            (boost::json::array{"THE END", "###"}));
  EXPECT_EQ(gemini.at("generationConfig").at("maxOutputTokens"), 200);
  EXPECT_EQ(gemini.at("generationConfig").at("temperature"), 0.25);
  EXPECT_EQ(gemini.at("top_p"), 0.5);
}

TEST_F(LlmStep, ProviderExtrasMergeIntoNestedObjects) {
  auto engine = open("normal");
  auto run = run_to_end(*engine, "fake-gemini",
                        request_with({{"extra", {{"generationConfig", {{"topK", 3}}}}}}));
  ASSERT_EQ(run.status, RunStatus::completed) << boost::json::serialize(run.error);
  auto body = boost::json::parse(server.recorded().at(0).body).as_object();
  EXPECT_EQ(body.at("generationConfig").at("topK"), 3);
  EXPECT_EQ(body.at("generationConfig").at("maxOutputTokens"), 200);  // kept
}

TEST_F(LlmStep, APerRequestIdleTimeoutReplacesTheProviders) {
  auto engine = open("stall;stall_ms=3000", retries(1));
  auto started = std::chrono::steady_clock::now();
  auto run = run_to_end(*engine, "fake", request_with({{"idle_timeout_ms", 200}}));
  ASSERT_EQ(run.status, RunStatus::failed);
  EXPECT_EQ(run.error.at("code"), "timeout");
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(1400));
}

TEST_F(LlmStep, APerRequestTotalTimeoutEndsATrickle) {
  auto engine = open("slow_trickle;delay_ms=100", retries(1));
  auto run = run_to_end(*engine, "fake", request_with({{"total_timeout_ms", 300}}));
  ASSERT_EQ(run.status, RunStatus::failed);
  EXPECT_EQ(run.error.at("code"), "timeout");
  EXPECT_EQ(run.error.at("class"), "timeout");
}

// The key as a provider or proxy may echo it; each must come back redacted.
std::string base64_of(std::string_view bytes) {
  static const char* a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  unsigned bits = 0;
  int n = 0;
  for (unsigned char c : bytes) {
    bits = (bits << 8) | c;
    n += 8;
    while (n >= 6) out.push_back(a[(bits >> (n -= 6)) & 0x3F]);
  }
  if (n > 0) out.push_back(a[(bits << (6 - n)) & 0x3F]);
  return out;
}

TEST_F(LlmStep, AKeyEchoedInAnySpellingIsRedacted) {
  std::string key = kKey;
  std::string upper, lower;
  for (char c : key) {
    upper.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
    lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  std::string url_all;
  for (unsigned char c : key) {
    char hex[4];
    std::snprintf(hex, sizeof hex, "%%%02X", c);
    url_all += hex;
  }
  std::string url = key;  // '-' is unreserved: the same as raw unless fully encoded
  const std::vector<std::string> forbidden = {key,
                                              upper,
                                              lower,
                                              url_all,
                                              base64_of(key).substr(0, 20),
                                              base64_of("user:" + key).substr(8, 20),
                                              key.substr(0, 12)};
  for (const char* spelling :
       {"raw", "url", "url_all", "upper", "lower", "base64", "basic", "prefix", "masked"}) {
    for (const char* provider : kProviders) {
      std::string scenario = std::string("echo_key~") + provider + ";spelling=" + spelling;
      auto engine = open(scenario, retries(1));
      auto run = run_to_end(*engine, provider);
      ASSERT_EQ(run.status, RunStatus::failed) << scenario;
      std::string message(run.error.at("message").as_string());
      std::string expected = std::string("Incorrect API key provided: ") +
                             (std::string(spelling) == "basic" ? "Basic " : "") + "[redacted]";
      EXPECT_NE(message.find(expected), std::string::npos) << scenario << ": " << message;
      std::string everything = message;
      for (auto& e : engine->events(run.id, 0, 10000)) everything += boost::json::serialize(e.data);
      for (const auto& f : forbidden) {
        EXPECT_EQ(everything.find(f), std::string::npos) << scenario << " leaks " << f;
      }
      expect_no_key(*engine, run.id);
    }
  }
}

TEST_F(LlmStep, GeminiStreamsWithTheKeyInAHeaderOnly) {
  auto engine = open("normal");
  auto plain = run_to_end(*engine, "fake");
  auto run = run_to_end(*engine, "fake-gemini");
  ASSERT_EQ(run.status, RunStatus::completed) << boost::json::serialize(run.error);
  LlmResult result = llm_result_from_json(run.output);
  EXPECT_EQ(result.text, llm_result_from_json(plain.output).text);
  EXPECT_EQ(result.text, streamed_text(*engine, run.id));
  EXPECT_EQ(result.provider, "fake-gemini");
  EXPECT_EQ(result.model, "fake-model");  // the fake's modelVersion echoes it
  auto recorded = server.recorded();
  ASSERT_EQ(recorded.size(), 2u);
  EXPECT_EQ(recorded[1].path, "/s/normal/v1beta/models/fake-model:streamGenerateContent?alt=sse");
  EXPECT_EQ(recorded[1].header("x-goog-api-key"), kKey);
  EXPECT_EQ(recorded[1].header("authorization"), "");
  EXPECT_EQ(recorded[1].path.find("not-a-secret"), std::string::npos);
  auto body = boost::json::parse(recorded[1].body).as_object();
  EXPECT_EQ(body.at("systemInstruction").at("parts").at(0).at("text"), "You write stories.");
  EXPECT_EQ(body.at("contents").at(0).at("role"), "user");
  expect_no_key(*engine, run.id);
}

TEST_F(LlmStep, GeminiWithoutStreamingAndBytewise) {
  auto engine = open("crlf_bytewise");
  auto streamed = run_to_end(*engine, "fake-gemini");
  ASSERT_EQ(streamed.status, RunStatus::completed) << boost::json::serialize(streamed.error);
  auto whole = run_to_end(*engine, "fake-gemini", request_with({{"stream", false}}));
  ASSERT_EQ(whole.status, RunStatus::completed) << boost::json::serialize(whole.error);
  EXPECT_EQ(llm_result_from_json(whole.output).text, llm_result_from_json(streamed.output).text);
  EXPECT_NE(server.recorded().at(1).path.find(":generateContent"), std::string::npos);
}

TEST_F(LlmStep, GeminiErrorsAreClassified) {
  {
    auto engine = open("in_stream_error~g", retries(1));
    auto run = run_to_end(*engine, "fake-gemini");
    ASSERT_EQ(run.status, RunStatus::failed);
    EXPECT_EQ(run.error.at("class"), "retryable");
    std::string message(run.error.at("message").as_string());
    EXPECT_NE(message.find("UNAVAILABLE"), std::string::npos) << message;
    EXPECT_NE(message.find("The model is overloaded"), std::string::npos) << message;
  }
  {
    auto engine = open("unauthorized~g", retries(3));
    auto run = run_to_end(*engine, "fake-gemini");
    ASSERT_EQ(run.status, RunStatus::failed);
    EXPECT_EQ(run.error.at("class"), "fatal");
    std::string message(run.error.at("message").as_string());
    EXPECT_NE(message.find("API key not valid"), std::string::npos) << message;
    EXPECT_EQ(server.requests("unauthorized~g"), 1u);
  }
}

Json outline_schema() {
  return boost::json::parse(R"({"type":"object",
      "properties":{"title":{"type":"string"},
                    "chapters":{"type":"array","items":{"type":"string"},"minItems":3},
                    "mood":{"type":"string","enum":["dark","bright"]}},
      "required":["title","chapters","mood"],"additionalProperties":false})");
}

TEST_F(LlmStep, StructuredOutputIsAskedForParsedAndValidated) {
  auto engine = open("normal");
  Json request = request_with({{"json_schema", outline_schema()}});
  for (const char* provider : {"fake", "fake-anthropic", "fake-gemini", "offline"}) {
    auto run = run_to_end(*engine, provider, request);
    ASSERT_EQ(run.status, RunStatus::completed) << provider << boost::json::serialize(run.error);
    LlmResult result = llm_result_from_json(run.output);
    ASSERT_TRUE(result.json.is_object()) << provider << ": " << result.text;
    EXPECT_TRUE(result.json.at("title").is_string()) << provider;
    EXPECT_EQ(result.json.at("chapters").as_array().size(), 3u) << provider;
    EXPECT_EQ(result.json.at("mood"), "dark") << provider;
    EXPECT_EQ(boost::json::parse(result.text), result.json) << provider;
    EXPECT_EQ(result.finish_reason, "stop") << provider;
    EXPECT_EQ(streamed_text(*engine, run.id), result.text) << provider;
  }
  auto recorded = server.recorded();
  ASSERT_EQ(recorded.size(), 3u);
  auto openai = boost::json::parse(recorded[0].body).as_object();
  EXPECT_EQ(openai.at("response_format").at("type"), "json_schema");
  EXPECT_EQ(openai.at("response_format").at("json_schema").at("schema"), outline_schema());
  auto anthropic = boost::json::parse(recorded[1].body).as_object();
  EXPECT_EQ(anthropic.at("tools").at(0).at("input_schema"), outline_schema());
  EXPECT_EQ(anthropic.at("tool_choice").at("name"), anthropic.at("tools").at(0).at("name"));
  auto gemini = boost::json::parse(recorded[2].body).as_object();
  EXPECT_EQ(gemini.at("generationConfig").at("responseMimeType"), "application/json");
  EXPECT_EQ(gemini.at("generationConfig").at("responseSchema"), outline_schema());
}

TEST_F(LlmStep, TheOfflineProviderFillsASchemaTheSameEveryTime) {
  auto engine = open("normal");
  Json request = request_with({{"json_schema", outline_schema()}});
  auto a = run_to_end(*engine, "offline", request);
  auto b = run_to_end(*engine, "offline", request);
  ASSERT_EQ(a.status, RunStatus::completed) << boost::json::serialize(a.error);
  EXPECT_EQ(a.output.at("json"), b.output.at("json"));
}

TEST_F(LlmStep, AnAnswerNotMatchingTheSchemaIsARetryableErrorNamingTheMismatch) {
  for (const char* provider : kProviders) {
    std::string scenario = std::string("wrong_json~") + provider;
    auto engine = open(scenario, retries(2));
    auto run = run_to_end(*engine, provider, request_with({{"json_schema", outline_schema()}}));
    ASSERT_EQ(run.status, RunStatus::failed) << provider;
    EXPECT_EQ(run.error.at("class"), "retryable") << provider;
    std::string message(run.error.at("message").as_string());
    EXPECT_NE(message.find("the answer does not match the request's json_schema: $.title: "
                           "expected a string, got 7"),
              std::string::npos)
        << message;
    EXPECT_EQ(server.requests(scenario), 2u) << provider;
  }
}

}  // namespace
}  // namespace storyloom::testing
