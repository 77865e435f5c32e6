// sl_engine_configure_webhooks, sl_engine_webhook_log, sl_engine_receive_webhook,
// sl_webhook_sign, sl_webhook_verify and sl_email_send: results as JSON, bad
// input refused with a message naming the parameter or field.
#include <cstring>
#include <string>
#include <thread>

#include "capi_test_util.h"

namespace capi_test {
namespace {

constexpr const char* kSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

std::string sign(const std::string& id, int64_t timestamp, const std::string& body) {
  char* out = nullptr;
  size_t len = 0;
  EXPECT_EQ(sl_webhook_sign(&out, &len, kSecret, strlen(kSecret), id.data(), id.size(), timestamp,
                            body.data(), body.size()),
            SL_OK)
      << last_message();
  return take(out);
}

TEST(CapiWebhooks, SignAndVerify) {
  std::string body = R"({"test": 2432232314})";
  std::string signature = sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body);
  EXPECT_EQ(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
  std::string headers = R"({"Webhook-Id":"msg_p5jXN8AQM9LWM0D4loKWxJek","webhook-timestamp":"1614265330",)"
                        R"("webhook-signature":")" + signature + "\"}";
  char* out = nullptr;
  Json verdict = take_json(sl_webhook_verify(&out, nullptr, kSecret, strlen(kSecret), headers.data(),
                                             headers.size(), body.data(), body.size(), 1614265330, 0),
                           out);
  EXPECT_EQ(verdict.at("status"), 200);
  verdict = take_json(sl_webhook_verify(&out, nullptr, kSecret, strlen(kSecret), headers.data(),
                                        headers.size(), "{}", 2, 1614265330, 0),
                      out);
  EXPECT_EQ(verdict.at("status"), 401);
  verdict = take_json(sl_webhook_verify(&out, nullptr, kSecret, strlen(kSecret), headers.data(),
                                        headers.size(), body.data(), body.size(), 1614265330 + 61, 60),
                      out);
  EXPECT_EQ(verdict.at("status"), 400);

  EXPECT_EQ(sl_webhook_verify(&out, nullptr, kSecret, strlen(kSecret), "[]", 2, "", 0, 0, 0), SL_EINVALID);
  EXPECT_NE(last_message().find("headers_json must be a JSON object"), std::string::npos) << last_message();
  EXPECT_EQ(sl_webhook_sign(&out, nullptr, "short", 5, "id", 2, 1, "", 0), SL_EINVALID);
  EXPECT_NE(last_message().find("shorter than 16 bytes"), std::string::npos) << last_message();
  EXPECT_EQ(last_message().find("short\""), std::string::npos);
}

class CapiWebhooksEngine : public EngineTest {};

TEST_F(CapiWebhooksEngine, ConfigureLogAndReceive) {
  std::string bad = R"({"subscriptions":[{"id":"o","url":"ftp://x/","secret":"0123456789abcdef"}]})";
  EXPECT_EQ(sl_engine_configure_webhooks(engine_, bad.data(), bad.size()), SL_EINVALID);
  EXPECT_EQ(last_message(), "webhook subscription 'o' url must start with http:// or https://");
  std::string unknown = R"({"subscriptions":[],"retries":3})";
  EXPECT_EQ(sl_engine_configure_webhooks(engine_, unknown.data(), unknown.size()), SL_EINVALID);
  EXPECT_EQ(last_message(), "webhooks has an unknown key 'retries'");
  // Nothing listens on port 9: every attempt fails, the delivery ends dead.
  std::string good = R"({"subscriptions":[{"id":"o","url":"http://127.0.0.1:9/","secret":"0123456789abcdef",)"
                     R"("events":["run.completed"]}],"max_attempts":1,"attempt_timeout_ms":2000})";
  ASSERT_EQ(sl_engine_configure_webhooks(engine_, good.data(), good.size()), SL_OK) << last_message();
  workflow("done", [](sl_execution* e) { complete(e, "1"); });
  ASSERT_EQ(sl_engine_launch(engine_), SL_OK);
  std::string run = start("done").at("id").as_string().c_str();
  Json log;
  for (int i = 0; i < 500; ++i) {
    char* out = nullptr;
    log = take_json(sl_engine_webhook_log(&out, nullptr, engine_, "o", 1, 0), out);
    if (!log.as_array().empty() && log.at(0).at("state") == "dead") break;
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_EQ(log.as_array().size(), 1u) << log;
  EXPECT_EQ(log.at(0).at("state"), "dead");
  EXPECT_EQ(log.at(0).at("source_run_id"), run.c_str());
  EXPECT_EQ(log.at(0).at("attempts").as_array().size(), 1u);
  EXPECT_EQ(boost::json::serialize(log).find("0123456789abcdef"), std::string::npos);

  // Inbound: a run started once per webhook id.
  int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  std::string body = "{}";
  std::string headers = R"({"webhook-id":"m1","webhook-timestamp":")" + std::to_string(now) +
                        R"(","webhook-signature":")" + sign("m1", now, body) + "\"}";
  std::string hook = std::string(R"({"secret":")") + kSecret + R"(","workflow":"done"})";
  char* out = nullptr;
  Json first = take_json(sl_engine_receive_webhook(&out, nullptr, engine_, hook.data(), hook.size(),
                                                   headers.data(), headers.size(), body.data(), body.size()),
                         out);
  EXPECT_EQ(first.at("status"), 200);
  EXPECT_EQ(first.at("duplicate"), false);
  Json again = take_json(sl_engine_receive_webhook(&out, nullptr, engine_, hook.data(), hook.size(),
                                                   headers.data(), headers.size(), body.data(), body.size()),
                         out);
  EXPECT_EQ(again.at("duplicate"), true);
  EXPECT_EQ(again.at("run").at("id"), first.at("run").at("id"));
  std::string forged = R"({"webhook-id":"m2","webhook-timestamp":")" + std::to_string(now) +
                       R"(","webhook-signature":"v1,AAAA"})";
  Json refused = take_json(sl_engine_receive_webhook(&out, nullptr, engine_, hook.data(), hook.size(),
                                                     forged.data(), forged.size(), body.data(), body.size()),
                           out);
  EXPECT_EQ(refused.at("status"), 401);
  EXPECT_TRUE(refused.at("run").is_null());
}

TEST(CapiEmail, BadInputIsNamed) {
  char* out = nullptr;
  std::string config = R"({"url":"http://x","from":"a@b.c"})";
  std::string message = R"({"to":"r@b.c","subject":"s","text":"t"})";
  EXPECT_EQ(sl_email_send(&out, nullptr, config.data(), config.size(), message.data(), message.size(), "id", 2),
            SL_EINVALID);
  EXPECT_EQ(last_message(), "SMTP_URL must start with smtp:// or smtps://");
  std::string colour = R"({"colour":"red"})";
  EXPECT_EQ(sl_email_send(&out, nullptr, colour.data(), colour.size(), message.data(), message.size(), "id", 2),
            SL_EINVALID);
  EXPECT_NE(last_message().find("config_json has an unknown key 'colour'"), std::string::npos) << last_message();
  std::string smtp = R"({"url":"smtp://127.0.0.1:9","from":"a@b.c"})";
  EXPECT_EQ(sl_email_send(&out, nullptr, smtp.data(), smtp.size(), message.data(), message.size(), "", 0),
            SL_EINVALID);
  EXPECT_NE(last_message().find("message_id is empty"), std::string::npos) << last_message();
}

}  // namespace
}  // namespace capi_test
