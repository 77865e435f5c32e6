// Outbound webhooks: deliveries are runs, retried with backoff and
// Retry-After, signed per Standard Webhooks, logged per subscription, and
// dead-lettered after their attempts.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "storyloom/engine.h"
#include "storyloom/webhooks.h"
#include "webhook_receiver.h"

namespace storyloom {
namespace {

using std::chrono::milliseconds;
using testing::WebhookReceiver;

constexpr const char* kSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

WebhookOptions quick_options(const std::string& url, int attempts = 5) {
  WebhookOptions options;
  options.subscriptions.push_back({"orders", url, kSecret, {}, {"run.completed", "run.failed"}});
  options.retry.max_attempts = attempts;
  options.retry.initial_backoff = milliseconds(20);
  options.retry.max_backoff = milliseconds(20);
  options.retry.jitter = false;
  options.attempt_timeout = milliseconds(2000);
  return options;
}

std::unique_ptr<Engine> open_engine(const std::string& store = ":memory:") {
  EngineOptions options;
  options.store = store;
  options.poll_interval = milliseconds(10);
  auto engine = Engine::open(options);
  engine->register_workflow("story", [](Context& ctx, const Json&) {
    ctx.progress(Json(50));
    return Json("the end");
  });
  return engine;
}

// Waits until the subscription's log has `count` deliveries in `state`.
std::vector<WebhookDelivery> wait_log(Engine& engine, const std::string& sub, const std::string& state,
                                      size_t count = 1) {
  for (int i = 0; i < 1000; ++i) {
    auto log = webhook_log(engine, sub);
    size_t n = 0;
    for (const auto& d : log) n += d.state == state;
    if (n >= count) return log;
    std::this_thread::sleep_for(milliseconds(10));
  }
  ADD_FAILURE() << "no " << count << " '" << state << "' deliveries of " << sub;
  return webhook_log(engine, sub);
}

TEST(Webhooks, TwoFailuresThenAcknowledgedMakeThreeSignedDeliveries) {
  WebhookReceiver receiver({500, 500}, 200);
  auto engine = open_engine();
  engine->configure_webhooks(quick_options(receiver.url()));
  engine->launch();
  RunInfo run = engine->start("story", boost::json::object{});

  auto log = wait_log(*engine, "orders", "delivered");
  ASSERT_EQ(log.size(), 1u);
  const auto& d = log[0];
  EXPECT_EQ(d.event_type, "run.completed");
  EXPECT_EQ(d.source_run_id, run.id);
  ASSERT_EQ(d.attempts.size(), 3u);
  EXPECT_EQ(d.attempts[0].status, 500);
  EXPECT_EQ(d.attempts[0].error, "the receiver answered HTTP 500");
  EXPECT_EQ(d.attempts[1].status, 500);
  EXPECT_EQ(d.attempts[2].status, 200);
  EXPECT_EQ(d.attempts[2].error, "");

  auto requests = receiver.requests();
  ASSERT_EQ(requests.size(), 3u);
  for (const auto& r : requests) {
    // The same message each time, each attempt signed afresh.
    EXPECT_EQ(r.header("webhook-id"), d.webhook_id);
    WebhookHeaders headers{r.header("webhook-id"), r.header("webhook-timestamp"),
                           r.header("webhook-signature")};
    int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
    EXPECT_TRUE(verify_webhook(kSecret, headers, r.body, now).ok()) << r.body;
    auto body = parse_json(r.body, "body").as_object();
    EXPECT_EQ(body.at("type"), "run.completed");
    EXPECT_EQ(body.at("data").at("run_id"), run.id.c_str());
    EXPECT_EQ(body.at("data").at("event").at("output"), "the end") << r.body;
  }
  EXPECT_EQ(requests[0].body, requests[2].body);
  // The re-delivered message is refused by the receiver's idempotency: one run.
  engine->register_workflow("on_hook", [](Context&, const Json&) { return Json(nullptr); });
  InboundWebhook hook;
  hook.secret = kSecret;
  hook.workflow = "on_hook";
  std::string first_run;
  for (const auto& r : requests) {
    auto result = engine->receive_webhook(
        hook, {r.header("webhook-id"), r.header("webhook-timestamp"), r.header("webhook-signature")},
        r.body);
    ASSERT_TRUE(result.verdict.ok()) << result.verdict.message;
    if (first_run.empty()) first_run = result.run->id;
    EXPECT_EQ(result.run->id, first_run);
  }
  RunFilter hooks;
  hooks.workflow = "on_hook";
  EXPECT_EQ(engine->list(hooks).runs.size(), 1u);
}

TEST(Webhooks, RetryAfterReplacesTheBackoff) {
  WebhookReceiver receiver({503}, 200, "1");
  auto engine = open_engine();
  engine->configure_webhooks(quick_options(receiver.url()));
  engine->launch();
  engine->start("story", boost::json::object{});
  auto log = wait_log(*engine, "orders", "delivered");
  ASSERT_EQ(log.at(0).attempts.size(), 2u);
  // The backoff is 20 ms; the receiver asked for one second.
  EXPECT_GE(log[0].attempts[1].at_ms - log[0].attempts[0].at_ms, 900);
}

TEST(Webhooks, ReceiverThatNeverAnswersEndsInTheDeadLetterViewAndIsResent) {
  WebhookReceiver receiver({WebhookReceiver::kHang, WebhookReceiver::kHang}, 200);
  auto engine = open_engine();
  auto options = quick_options(receiver.url(), 2);
  options.attempt_timeout = milliseconds(300);
  engine->configure_webhooks(options);
  engine->launch();
  engine->start("story", boost::json::object{});

  auto log = wait_log(*engine, "orders", "dead");
  ASSERT_EQ(log.size(), 1u);
  ASSERT_EQ(log[0].attempts.size(), 2u);
  EXPECT_EQ(log[0].attempts[0].status, 0);
  EXPECT_NE(log[0].attempts[0].error, "");
  RunFilter dead;
  dead.workflow = kWebhookWorkflow;
  dead.status = RunStatus::failed;
  auto failed = engine->list(dead).runs;
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0].id, log[0].run_id);
  EXPECT_NE(failed[0].error.at("message").as_string().find("subscription 'orders'"), std::string::npos);

  engine->retry(log[0].run_id);  // re-sent by hand
  log = wait_log(*engine, "orders", "delivered");
  EXPECT_EQ(log[0].attempts.size(), 3u);
  EXPECT_EQ(log[0].attempts.back().status, 200);
}

TEST(Webhooks, SubscriptionsFilterByWorkflowAndEventType) {
  WebhookReceiver receiver;
  auto engine = open_engine();
  engine->register_workflow("chapter", [](Context& ctx, const Json&) {
    ctx.progress(Json(10));
    ctx.emit("chapter.drafted", boost::json::object{{"chapter", 1}});
    auto reply = ctx.wait_for_signal("approval");
    return reply ? *reply : Json(nullptr);
  });
  WebhookOptions options = quick_options(receiver.url());
  options.subscriptions[0] = {"milestones", receiver.url(), kSecret, {"chapter"},
                              {"progress", "chapter.drafted", "run.waiting", "run.completed"}};
  engine->configure_webhooks(options);
  engine->launch();
  engine->start("story", boost::json::object{});  // another workflow: not delivered
  RunInfo run = engine->start("chapter", boost::json::object{});
  wait_log(*engine, "milestones", "delivered", 3);
  engine->signal(run.id, "approval", Json("yes"));
  auto log = wait_log(*engine, "milestones", "delivered", 4);
  std::multiset<std::string> types;
  for (const auto& d : log) {
    types.insert(d.event_type);
    EXPECT_EQ(d.source_run_id, run.id);
  }
  EXPECT_EQ(types, (std::multiset<std::string>{"progress", "chapter.drafted", "run.waiting",
                                               "run.completed"}));
}

TEST(Webhooks, BadOptionsAreRefusedNamingTheField) {
  auto engine = open_engine();
  auto refused = [&](WebhookOptions options) {
    try {
      engine->configure_webhooks(options);
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::invalid_argument);
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  auto options = quick_options("ftp://example.invalid/");
  EXPECT_EQ(refused(options), "webhook subscription 'orders' url must start with http:// or https://");
  options = quick_options("http://127.0.0.1:1/");
  options.subscriptions[0].secret = "short";
  EXPECT_EQ(refused(options), "webhook subscription 'orders' webhook secret is shorter than 16 bytes");
  EXPECT_EQ(refused(options).find("short\""), std::string::npos);
  options = quick_options("http://127.0.0.1:1/");
  options.subscriptions[0].secret = "whsec_%%%%";
  EXPECT_EQ(refused(options),
            "webhook subscription 'orders' webhook secret starts with whsec_ but the rest is not base64");
  options = quick_options("http://127.0.0.1:1/");
  options.subscriptions.push_back(options.subscriptions[0]);
  EXPECT_EQ(refused(options), "webhook subscription 'orders' is given twice");
  options = quick_options("http://127.0.0.1:1/");
  options.subscriptions[0].id = "a b";
  EXPECT_EQ(refused(options),
            "webhook subscription 0 id 'a b' may hold only letters, digits, '_', '-' and '.'");
  options = quick_options("http://127.0.0.1:1/");
  options.subscriptions[0].events.clear();
  EXPECT_EQ(refused(options), "webhook subscription 'orders' events is empty (give event types or \"*\")");
  EXPECT_THROW(webhook_log(*engine, ""), Error);
}

TEST(Webhooks, SecretsAreNeverWrittenToTheStore) {
  auto dir = std::filesystem::temp_directory_path() / ("sl_webhooks_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::string secret_text = "a-very-secret-hmac-key-of-ours";
  {
    WebhookReceiver receiver({500}, 200);
    auto engine = open_engine("sqlite:" + (dir / "s.db").string());
    auto options = quick_options(receiver.url());
    options.subscriptions[0].secret = secret_text;
    engine->configure_webhooks(options);
    engine->launch();
    engine->start("story", boost::json::object{});
    wait_log(*engine, "orders", "delivered");
    engine->close();
  }
  for (const auto& file : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(file.path(), std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    EXPECT_EQ(bytes.str().find(secret_text), std::string::npos) << file.path();
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace storyloom
