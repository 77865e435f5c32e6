// Inbound webhooks: signature and timestamp checks, then a run started (or a
// signal sent) once per webhook id.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "storyloom/engine.h"
#include "storyloom/webhooks.h"

namespace storyloom {
namespace {

using std::chrono::milliseconds;

constexpr const char* kSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

WebhookHeaders signed_headers(const std::string& id, int64_t timestamp, const std::string& body,
                              const std::string& secret = kSecret) {
  return {id, std::to_string(timestamp), webhook_signature(secret, id, timestamp, body)};
}

TEST(InboundWebhooks, SignatureMatchesTheStandardWebhooksExample) {
  // The example of the Standard Webhooks specification's reference libraries.
  std::string body = R"({"test": 2432232314})";
  EXPECT_EQ(webhook_signature(kSecret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
}

TEST(InboundWebhooks, VerdictsNameWhatIsWrong) {
  std::string body = R"({"a":1})";
  int64_t now = now_s();
  EXPECT_TRUE(verify_webhook(kSecret, signed_headers("msg_1", now, body), body, now).ok());
  // Key rotation: any of several signatures may match.
  auto headers = signed_headers("msg_1", now, body);
  headers.signature = "v1,bm90IGl0 " + headers.signature;
  EXPECT_TRUE(verify_webhook(kSecret, headers, body, now).ok());

  auto verdict = verify_webhook(kSecret, signed_headers("msg_1", now, body), R"({"a":2})", now);
  EXPECT_EQ(verdict.http_status, 401);
  EXPECT_EQ(verdict.message, "no webhook signature matches");
  verdict = verify_webhook(kSecret, signed_headers("msg_1", now, body, "another-secret-of-16+"), body, now);
  EXPECT_EQ(verdict.http_status, 401);

  verdict = verify_webhook(kSecret, signed_headers("msg_1", now - 301, body), body, now);
  EXPECT_EQ(verdict.http_status, 400);
  EXPECT_EQ(verdict.message, "the webhook-timestamp is outside the accepted window of 300 seconds");
  verdict = verify_webhook(kSecret, signed_headers("msg_1", now + 301, body), body, now);
  EXPECT_EQ(verdict.http_status, 400);
  EXPECT_TRUE(verify_webhook(kSecret, signed_headers("msg_1", now - 299, body), body, now).ok());

  headers = signed_headers("msg_1", now, body);
  headers.timestamp = "soon";
  verdict = verify_webhook(kSecret, headers, body, now);
  EXPECT_EQ(verdict.http_status, 400);
  EXPECT_EQ(verdict.message, "the webhook-timestamp header is not a number of seconds");
  headers = signed_headers("", now, body);
  EXPECT_EQ(verify_webhook(kSecret, headers, body, now).message, "the webhook-id header is missing");
  headers = signed_headers("msg_1", now, body);
  headers.signature.clear();
  EXPECT_EQ(verify_webhook(kSecret, headers, body, now).message,
            "the webhook-signature header is missing");
}

std::unique_ptr<Engine> open_engine() {
  EngineOptions options;
  options.poll_interval = milliseconds(10);
  auto engine = Engine::open(options);
  engine->register_workflow("import", [](Context&, const Json& input) { return input; });
  engine->register_workflow("review", [](Context& ctx, const Json&) {
    auto reply = ctx.wait_for_signal("approval");
    return reply ? *reply : Json(nullptr);
  });
  engine->launch();
  return engine;
}

TEST(InboundWebhooks, ReplayStartsNoSecondRun) {
  auto engine = open_engine();
  InboundWebhook hook;
  hook.secret = kSecret;
  hook.workflow = "import";
  hook.owner = "user-7";
  std::string body = R"({"book":"moby"})";
  auto headers = signed_headers("msg_42", now_s(), body);
  auto first = engine->receive_webhook(hook, headers, body);
  ASSERT_TRUE(first.verdict.ok()) << first.verdict.message;
  EXPECT_FALSE(first.duplicate);
  EXPECT_EQ(first.run->owner, "user-7");
  EXPECT_EQ(first.run->input.at("book"), "moby");
  auto again = engine->receive_webhook(hook, headers, body);
  ASSERT_TRUE(again.verdict.ok());
  EXPECT_TRUE(again.duplicate);
  EXPECT_EQ(again.run->id, first.run->id);
  RunFilter f;
  f.workflow = "import";
  EXPECT_EQ(engine->list(f).runs.size(), 1u);

  // Refused webhooks start nothing.
  auto forged = engine->receive_webhook(hook, signed_headers("msg_43", now_s(), body, "not-our-secret-at-all"), body);
  EXPECT_EQ(forged.verdict.http_status, 401);
  EXPECT_FALSE(forged.run);
  auto stale = engine->receive_webhook(hook, signed_headers("msg_44", now_s() - 3600, body), body);
  EXPECT_EQ(stale.verdict.http_status, 400);
  std::string list = "[1,2]";
  auto not_object = engine->receive_webhook(hook, signed_headers("msg_45", now_s(), list), list);
  EXPECT_EQ(not_object.verdict.http_status, 400);
  EXPECT_EQ(not_object.verdict.message, "the webhook body must be a JSON object to start a run");
  EXPECT_EQ(engine->list(f).runs.size(), 1u);
}

TEST(InboundWebhooks, SignalIsSentOncePerWebhookId) {
  auto engine = open_engine();
  RunInfo run = engine->start("review", boost::json::object{});
  InboundWebhook hook;
  hook.secret = kSecret;
  hook.signal_run_id = run.id;
  hook.signal_name = "approval";
  std::string body = R"({"approved":true})";
  auto headers = signed_headers("msg_approve", now_s(), body);
  auto first = engine->receive_webhook(hook, headers, body);
  ASSERT_TRUE(first.verdict.ok()) << first.verdict.message;
  EXPECT_EQ(first.run->id, run.id);
  EXPECT_TRUE(engine->receive_webhook(hook, headers, body).duplicate);
  for (int i = 0; i < 500 && engine->get(run.id).status != RunStatus::completed; ++i) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_EQ(engine->get(run.id).output.at("approved"), true);
  auto snapshot_events = engine->events(run.id, 0);
  int received = 0;
  for (const auto& e : snapshot_events) received += e.type == "signal.received";
  EXPECT_EQ(received, 1);

  hook.signal_run_id = "no-such-run";
  try {
    engine->receive_webhook(hook, signed_headers("msg_x", now_s(), body), body);
    ADD_FAILURE() << "an unknown run was signalled";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::not_found);
  }
}

TEST(InboundWebhooks, BadHookOptionsAreRefused) {
  auto engine = open_engine();
  InboundWebhook hook;
  hook.workflow = "import";
  std::string body = "{}";
  try {
    engine->receive_webhook(hook, signed_headers("m", now_s(), body), body);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "inbound webhook secret is empty");
  }
  hook.secret = kSecret;
  hook.signal_run_id = "r";
  try {
    engine->receive_webhook(hook, signed_headers("m", now_s(), body), body);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "inbound webhook needs either a workflow to start or a run to signal, not both");
  }
}

}  // namespace
}  // namespace storyloom
