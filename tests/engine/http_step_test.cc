// The built-in http step end to end: the engine and libcurl against the fake
// server's /h/ echo on 127.0.0.1.
#include <gtest/gtest.h>

#include <atomic>

#include "fake_llm_server.h"
#include "storyloom/context.h"
#include "support/lifecycle_recorder.h"
#include "support/test_support.h"

namespace storyloom::testing {
namespace {

// Obviously fake; the tests check that none is stored.
constexpr const char* kToken = "tok-not-a-secret-5521";
constexpr const char* kPassword = "pw-not-a-secret-8812";

class HttpStep : public ::testing::Test {
 protected:
  std::unique_ptr<Engine> open(RetryPolicy retry = {}, std::string store = ":memory:") {
    auto engine = Engine::open(fast_options(std::move(store)));
    engine->launch();
    // input {"request": {...}, "auth": bool, "wait": bool}: one http step
    // (with credentials the workflow adds itself, as a real one would from
    // its configuration, never from the run's stored input), then (when
    // asked) a signal, so the run can be left unfinished after the step.
    engine->register_workflow(
        "fetch",
        [](Context& ctx, const Json& input) -> Json {
          HttpStepRequest request = http_request_from_json(input.at("request"));
          if (const auto* auth = input.as_object().if_contains("auth"); auth && auth->as_bool()) {
            request.headers.push_back({"Authorization", std::string("Bearer ") + kToken});
            request.headers.push_back({"X-Password", kPassword, true});
          }
          HttpStepResult result = ctx.http("call", std::move(request));
          if (const auto* wait = input.as_object().if_contains("wait"); wait && wait->as_bool()) {
            ctx.wait_for_signal("go");
          }
          return to_json(result);
        },
        WorkflowOptions{.retry = retry});
    return engine;
  }

  std::string url(const std::string& scenario, const std::string& rest = "/things?page=2") {
    return "http://127.0.0.1:" + std::to_string(server.port()) + "/h/" + scenario + rest;
  }

  static std::vector<Event> events_of(Engine& engine, const std::string& run_id,
                                      const std::string& type) {
    std::vector<Event> out;
    for (auto& e : engine.events(run_id, 0, 10000)) {
      if (e.type == type) out.push_back(e);
    }
    return out;
  }

  // Nothing the engine stored for the run holds a secret.
  static void expect_no_secret(Engine& engine, const std::string& run_id) {
    for (auto& e : engine.events(run_id, 0, 10000)) {
      std::string text = boost::json::serialize(e.data);
      EXPECT_EQ(text.find("not-a-secret"), std::string::npos) << e.type << ": " << text;
      EXPECT_EQ(text.find("fake-session-cookie"), std::string::npos) << e.type;
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

  // Request headers the server saw, per request under /h/.
  std::vector<RecordedRequest> step_requests() {
    std::vector<RecordedRequest> out;
    for (auto& r : server.recorded()) {
      if (r.path.rfind("/h/", 0) == 0) out.push_back(r);
    }
    return out;
  }

  FakeLlmServer server;
};

TEST_F(HttpStep, SendsTheRequestAndStoresTheResponseWithoutSecrets) {
  auto engine = open();
  boost::json::object request{
      {"method", "POST"},
      {"url", url("normal")},
      {"headers", boost::json::array{boost::json::object{{"name", "X-Plain"}, {"value", "visible"}}}},
      {"json", boost::json::object{{"title", "The lighthouse"}}}};
  auto run = engine->start("fetch", boost::json::object{{"request", request}, {"auth", true}});
  auto done = wait_finished(*engine, run.id);
  ASSERT_EQ(done.status, RunStatus::completed) << boost::json::serialize(done.error);

  HttpStepResult result = http_result_from_json(done.output);
  EXPECT_EQ(result.status, 200);
  ASSERT_TRUE(result.json.is_object()) << result.body;
  EXPECT_EQ(result.json.at("method").as_string(), "POST");
  EXPECT_EQ(result.json.at("body").as_string(), R"({"title":"The lighthouse"})");
  const auto& seen = result.json.at("headers").as_object();
  EXPECT_EQ(seen.at("content-type").as_string(), "application/json");
  EXPECT_EQ(seen.at("x-plain").as_string(), "visible");
  // The echo of the secrets was redacted before it was stored.
  EXPECT_EQ(seen.at("authorization").as_string(), "[redacted]");
  EXPECT_EQ(seen.at("x-password").as_string(), "[redacted]");
  EXPECT_EQ(result.header("set-cookie"), "[redacted]");
  EXPECT_EQ(result.header("x-echo"), "yes");

  // The server got the real values and the idempotency key.
  auto sent = step_requests();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].header("authorization"), std::string("Bearer ") + kToken);
  EXPECT_EQ(sent[0].header("x-password"), kPassword);
  EXPECT_EQ(sent[0].header("idempotency-key"), run.id + ":0");
  EXPECT_EQ(sent[0].path, "/h/normal/things?page=2");

  auto attempts = events_of(*engine, run.id, "http.attempt");
  ASSERT_EQ(attempts.size(), 1u);
  EXPECT_EQ(attempts[0].data.at("method").as_string(), "POST");
  EXPECT_EQ(attempts[0].data.at("host").as_string(), "127.0.0.1:" + std::to_string(server.port()));
  expect_no_secret(*engine, run.id);
}

TEST_F(HttpStep, BytesTravelBothWaysAndTheIdempotencyHeaderCanBeRenamed) {
  auto engine = open();
  // Not UTF-8: sent as base64 and echoed back inside the JSON as \u escapes.
  boost::json::object request{{"method", "PUT"},
                              {"url", url("normal")},
                              {"body_base64", "aGk="},  // "hi"
                              {"idempotency_header", "X-Request-Key"}};
  auto run = engine->start("fetch", boost::json::object{{"request", request}});
  auto done = wait_finished(*engine, run.id);
  ASSERT_EQ(done.status, RunStatus::completed) << boost::json::serialize(done.error);
  auto sent = step_requests();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].method, "PUT");
  EXPECT_EQ(sent[0].body, "hi");
  EXPECT_EQ(sent[0].header("x-request-key"), run.id + ":0");
  EXPECT_EQ(sent[0].header("idempotency-key"), "");
}

TEST_F(HttpStep, AStoredResponseIsNotAskedForAgainAfterARestart) {
  TempDir dir;
  std::string db = "sqlite:" + dir.file("http.db");
  std::string id;
  boost::json::object input{{"request", boost::json::object{{"url", url("normal~restart")}}},
                            {"wait", true}};
  {
    auto engine = open({}, db);
    id = engine->start("fetch", input).id;
    // The response is committed; the run waits for its signal, unfinished.
    ASSERT_EQ(wait_status(*engine, id, RunStatus::waiting).status, RunStatus::waiting);
    ASSERT_EQ(events_of(*engine, id, "step.completed").size(), 1u);
  }  // closed with the run unfinished
  auto engine = open({}, db);
  engine->signal(id, "go", nullptr);
  auto done = wait_finished(*engine, id);
  ASSERT_EQ(done.status, RunStatus::completed) << boost::json::serialize(done.error);
  EXPECT_EQ(server.requests("normal~restart"), 1u);
  EXPECT_EQ(events_of(*engine, id, "http.attempt").size(), 1u);
  EXPECT_EQ(http_result_from_json(done.output).status, 200);
}

TEST_F(HttpStep, A503IsRetriedWithTheSameIdempotencyKey) {
  auto engine = open(retries(3));
  boost::json::object request{{"method", "POST"},
                              {"url", url("server_error_then_ok~r;times=2;status=503")},
                              {"body", "ping"}};
  auto run = engine->start("fetch", boost::json::object{{"request", request}});
  auto done = wait_finished(*engine, run.id);
  ASSERT_EQ(done.status, RunStatus::completed) << boost::json::serialize(done.error);
  auto sent = step_requests();
  ASSERT_EQ(sent.size(), 3u);
  for (const auto& r : sent) EXPECT_EQ(r.header("idempotency-key"), run.id + ":0");
  auto retrying = events_of(*engine, run.id, "step.retrying");
  ASSERT_EQ(retrying.size(), 2u);
  std::string message(retrying[0].data.at("error").at("message").as_string());
  EXPECT_NE(message.find("http step 'call': POST 127.0.0.1:"), std::string::npos) << message;
  EXPECT_NE(message.find("answered HTTP 503: {\"error\":\"fake server error\"}"),
            std::string::npos)
      << message;
  EXPECT_EQ(message.find("/h/"), std::string::npos) << "the path stays out: " << message;
}

TEST_F(HttpStep, A429WaitsItsRetryAfterAndPausesTheStepsResource) {
  auto engine = open(retries(2));
  engine->configure_resource("api", ResourceLimits{});
  boost::json::object request{{"url", url("rate_limited_then_ok~r")}, {"resource", "api"}};
  auto run = engine->start("fetch", boost::json::object{{"request", request}});
  ASSERT_TRUE(eventually([&] { return !events_of(*engine, run.id, "step.retrying").empty(); }));
  // The provider said "not before": the resource is paused for its Retry-After.
  EXPECT_GT(engine->resource_status("api").paused_until_ms, 0);
  auto retrying = events_of(*engine, run.id, "step.retrying");
  EXPECT_EQ(retrying[0].data.at("delay_ms").as_int64(), 1000);
  EXPECT_EQ(retrying[0].data.at("error").at("class").as_string(), "rate_limited");
  auto done = wait_finished(*engine, run.id);
  ASSERT_EQ(done.status, RunStatus::completed) << boost::json::serialize(done.error);
  EXPECT_EQ(server.requests("rate_limited_then_ok~r"), 2u);
}

TEST_F(HttpStep, A400FailsAtOnceWithTheStatusAndTheServersWords) {
  auto engine = open(retries(3));
  auto run = engine->start(
      "fetch", boost::json::object{{"request", boost::json::object{{"url", url("bad_request~a")}}}});
  auto done = wait_finished(*engine, run.id);
  ASSERT_EQ(done.status, RunStatus::failed);
  std::string message(done.error.at("message").as_string());
  EXPECT_NE(message.find("answered HTTP 400"), std::string::npos) << message;
  EXPECT_NE(message.find("the field 'title' is missing"), std::string::npos) << message;
  EXPECT_EQ(server.requests("bad_request~a"), 1u);
}

TEST_F(HttpStep, CancellingTheRunStopsTheTransferMidway) {
  auto engine = open();
  auto run = engine->start(
      "fetch", boost::json::object{{"request", boost::json::object{{"url", url("stall~c")}}}});
  ASSERT_TRUE(eventually([&] { return server.requests("stall~c") == 1; }));
  ASSERT_TRUE(eventually([&] { return !events_of(*engine, run.id, "http.attempt").empty(); }));
  auto asked = std::chrono::steady_clock::now();
  engine->cancel(run.id);
  auto done = wait_finished(*engine, run.id, std::chrono::seconds(5));
  EXPECT_EQ(done.status, RunStatus::cancelled);
  EXPECT_LT(std::chrono::steady_clock::now() - asked, std::chrono::seconds(3));
  EXPECT_TRUE(events_of(*engine, run.id, "step.completed").empty());
  EXPECT_TRUE(events_of(*engine, run.id, "step.failed").empty());
}

TEST_F(HttpStep, ACancelledAttemptIsReportedAsFailedWithTheClassCancelled) {
  auto engine = open();
  LifecycleRecorder recorder;
  engine->set_lifecycle_callback(recorder.callback());
  auto run = engine->start(
      "fetch", boost::json::object{{"request", boost::json::object{{"url", url("stall~l")}}}});
  ASSERT_TRUE(eventually([&] { return !events_of(*engine, run.id, "http.attempt").empty(); }));
  engine->cancel(run.id);
  ASSERT_EQ(wait_finished(*engine, run.id, std::chrono::seconds(5)).status, RunStatus::cancelled);
  ASSERT_TRUE(eventually([&] { return recorder.has_run_end(); }));
  auto lines = recorder.lines();
  ASSERT_EQ(lines.size(), 4u) << ::testing::PrintToString(lines);
  EXPECT_EQ(lines[0], "run.started");
  EXPECT_EQ(lines[1].rfind("step.started ", 0), 0u) << lines[1];
  EXPECT_EQ(lines[2], "step.failed" + lines[1].substr(12) + " cancelled");
  EXPECT_EQ(lines[3], "run.finished cancelled");
  EXPECT_EQ(recorder.events()[2].step_kind, "http");
}

TEST_F(HttpStep, AnIdleTimeoutFailsTheAttemptAsATimeout) {
  auto engine = open();
  boost::json::object request{{"url", url("stall~t;stall_ms=3000")}, {"idle_timeout_ms", 200}};
  auto run = engine->start("fetch", boost::json::object{{"request", request}});
  auto done = wait_finished(*engine, run.id);
  ASSERT_EQ(done.status, RunStatus::failed);
  EXPECT_EQ(done.error.at("class").as_string(), "timeout") << boost::json::serialize(done.error);
}

TEST_F(HttpStep, BadRequestsAreRefusedNamingWhatIsWrong) {
  auto bad = [](boost::json::object request) {
    return error_of([&] { validate(http_request_from_json(request)); });
  };
  auto message = [&](boost::json::object request) { return std::string(bad(request).what()); };
  EXPECT_EQ(bad({{"url", "ftp://example.com/x"}}).code(), ErrorCode::invalid_argument);
  EXPECT_NE(message({{"url", "ftp://example.com/x"}}).find("must start with http:// or https://"),
            std::string::npos);
  EXPECT_NE(message({{"method", "get"}, {"url", "http://a"}}).find("method 'get' is not an HTTP method"),
            std::string::npos);
  EXPECT_NE(message({{"method", "GE T"}, {"url", "http://a"}}).find("'GE T'"), std::string::npos);
  EXPECT_NE(message({{"url", "http://user:pw@example.com/"}}).find("credentials"), std::string::npos);
  EXPECT_EQ(message({{"url", "http://user:pw@example.com/"}}).find("pw@"), std::string::npos);
  EXPECT_NE(message({{"url", "http:///path"}}).find("names no host"), std::string::npos);
  EXPECT_NE(message({{"url", "http://a/b c"}}).find("space or a control character"),
            std::string::npos);
  EXPECT_NE(message({{"url", "http://a"}, {"body", "x"}}).find("GET takes no body"),
            std::string::npos);
  EXPECT_NE(message({{"method", "POST"}, {"url", "http://a"}, {"body", "x"}, {"json", 1}})
                .find("more than one of json, body and body_base64"),
            std::string::npos);
  EXPECT_NE(message({{"url", "http://a"}, {"headers", boost::json::object{{"Bad Name", "v"}}}})
                .find("header name 'Bad Name' is not a token"),
            std::string::npos);
  EXPECT_NE(message({{"url", "http://a"}, {"headers", boost::json::object{{"X-A", "v\r\nX-B: w"}}}})
                .find("header 'X-A' holds a line break"),
            std::string::npos);
  EXPECT_NE(message({{"url", "http://a"}, {"idle_timeout_ms", 0}}).find("idle_timeout must be 1 ms to 24 h"),
            std::string::npos);
  EXPECT_NE(message({{"url", "http://a"}, {"methd", "GET"}}).find("unknown field 'methd'"),
            std::string::npos);
  EXPECT_NE(message({{"method", "POST"}, {"url", "http://a"}, {"body_base64", "a*b="}})
                .find("body_base64 is not base64"),
            std::string::npos);
  EXPECT_NE(message({}).find("needs a url"), std::string::npos);

  // Through a run: the run fails with the same words, nothing is sent.
  auto engine = open();
  auto run = engine->start(
      "fetch", boost::json::object{{"request", boost::json::object{{"method", "get"},
                                                                   {"url", url("normal~never")}}}});
  auto done = wait_finished(*engine, run.id);
  ASSERT_EQ(done.status, RunStatus::failed);
  EXPECT_NE(std::string(done.error.at("message").as_string()).find("method 'get'"),
            std::string::npos);
  EXPECT_EQ(server.requests("normal~never"), 0u);
}

TEST_F(HttpStep, AnUnreachableServerIsARetryableErrorNamingTheHost) {
  auto engine = open();
  // Port 1 on loopback: nothing listens there.
  boost::json::object request{{"url", "http://127.0.0.1:1/x?key=abc"}};
  auto run = engine->start("fetch", boost::json::object{{"request", request}});
  auto done = wait_finished(*engine, run.id);
  ASSERT_EQ(done.status, RunStatus::failed);
  std::string message(done.error.at("message").as_string());
  EXPECT_NE(message.find("GET 127.0.0.1:1"), std::string::npos) << message;
  EXPECT_EQ(message.find("key=abc"), std::string::npos) << message;
  EXPECT_EQ(done.error.at("class").as_string(), "retryable");
}

}  // namespace
}  // namespace storyloom::testing
