// The email step against a fake SMTP server of our own on 127.0.0.1: one
// message per finished story with its link, 4xx retried, 5xx not, and the
// password kept out of errors and results.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "fake_smtp_server.h"
#include "storyloom/email.h"
#include "storyloom/engine.h"

namespace storyloom {
namespace {

using std::chrono::milliseconds;
using testing::FakeSmtpServer;

constexpr const char* kPassword = "hunter2-smtp-password";

SmtpConfig config_for(const FakeSmtpServer& server) {
  SmtpConfig config;
  config.url = server.url();
  config.from = "Storyloom <stories@example.com>";
  config.username = "mailer";
  config.password = kPassword;
  config.timeout = milliseconds(5000);
  return config;
}

RetryPolicy quick_retry() {
  RetryPolicy retry;
  retry.max_attempts = 3;
  retry.initial_backoff = milliseconds(10);
  retry.max_backoff = milliseconds(10);
  retry.jitter = false;
  return retry;
}

// A story that, once written, emails "your story is ready" with a link to it.
std::unique_ptr<Engine> story_engine(const SmtpConfig& config) {
  EngineOptions options;
  options.poll_interval = milliseconds(10);
  auto engine = Engine::open(options);
  engine->register_workflow("story", [config](Context& ctx, const Json& input) {
    Json story = ctx.step("write", [] { return Json("Once upon a time."); });
    EmailMessage message;
    message.to = {std::string(input.at("email").as_string())};
    message.subject = "Your story is ready";
    message.text = "Your story about the sea is ready.";
    message.html = "<p>Your story about the <b>sea</b> is ready.</p>";
    message.link = "http://127.0.0.1:3000/story/" + ctx.run_id();
    email_step(ctx, "notify", config, message, quick_retry());
    return story;
  });
  engine->launch();
  return engine;
}

RunInfo wait_finished(Engine& engine, const std::string& id) {
  for (int i = 0; i < 1000; ++i) {
    RunInfo run = engine.get(id);
    if (is_finished(run.status)) return run;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return engine.get(id);
}

TEST(EmailStep, OneMessagePerFinishedStoryWithItsLink) {
  FakeSmtpServer server;
  auto engine = story_engine(config_for(server));
  std::vector<std::string> ids;
  for (const char* to : {"ada@example.com", "bob@example.com"}) {
    ids.push_back(engine->start("story", boost::json::object{{"email", to}}).id);
  }
  for (const auto& id : ids) EXPECT_EQ(wait_finished(*engine, id).status, RunStatus::completed);
  auto messages = server.messages();
  ASSERT_EQ(messages.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    const auto& m = messages[i];
    EXPECT_EQ(m.mail_from, "<stories@example.com>");
    EXPECT_EQ(m.auth, std::string("\0mailer\0", 8) + kPassword);
    EXPECT_NE(m.data.find("Subject: Your story is ready\r\n"), std::string::npos) << m.data;
    EXPECT_NE(m.data.find("Content-Type: multipart/alternative"), std::string::npos);
    EXPECT_NE(m.data.find("Content-Type: text/plain; charset=utf-8"), std::string::npos);
    EXPECT_NE(m.data.find("Content-Type: text/html; charset=utf-8"), std::string::npos);
    std::string link = "http://127.0.0.1:3000/story/";
    EXPECT_NE(m.data.find("Open your story: " + link), std::string::npos) << m.data;
    EXPECT_NE(m.data.find("<a href=\"" + link), std::string::npos) << m.data;
  }
  // Each message links to its own story.
  size_t linked = 0;
  for (const auto& id : ids) {
    for (const auto& m : messages) linked += m.data.find("/story/" + id + "\r\n") != std::string::npos;
  }
  EXPECT_EQ(linked, 2u);
  // The stored result says what happened, never the password.
  auto snapshot = engine->snapshot(ids[0]);
  for (const auto& step : snapshot.steps) {
    EXPECT_EQ(to_json_text(step.result).find(kPassword), std::string::npos);
  }
}

TEST(EmailStep, TemporaryFailureIsRetried) {
  FakeSmtpServer server(1, 451);
  auto engine = story_engine(config_for(server));
  RunInfo run = engine->start("story", boost::json::object{{"email", "ada@example.com"}});
  EXPECT_EQ(wait_finished(*engine, run.id).status, RunStatus::completed);
  EXPECT_EQ(server.mail_commands(), 2);
  EXPECT_EQ(server.messages().size(), 1u);
}

TEST(EmailStep, PermanentFailureIsNotRetried) {
  FakeSmtpServer server(5, 550);
  auto engine = story_engine(config_for(server));
  RunInfo run = wait_finished(*engine, engine->start("story", boost::json::object{{"email", "ada@example.com"}}).id);
  ASSERT_EQ(run.status, RunStatus::failed);
  EXPECT_EQ(server.mail_commands(), 1);
  std::string error = to_json_text(run.error);
  EXPECT_NE(error.find("reply 550, not retried"), std::string::npos) << error;
  EXPECT_NE(error.find("127.0.0.1"), std::string::npos) << error;
  EXPECT_EQ(error.find(kPassword), std::string::npos) << error;
}

TEST(EmailStep, BadConfigurationAndMessagesAreRefusedNamingWhat) {
  FakeSmtpServer server;
  SmtpConfig config = config_for(server);
  EmailMessage message{{"ada@example.com"}, "Hi", "text", "", ""};
  auto refused = [&](const SmtpConfig& c, const EmailMessage& m) {
    try {
      send_email(c, m, "id@test");
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::invalid_argument);
      return std::string(e.what());
    }
    return std::string("sent");
  };
  SmtpConfig http = config;
  http.url = "http://127.0.0.1:1";
  EXPECT_EQ(refused(http, message), "SMTP_URL must start with smtp:// or smtps://");
  SmtpConfig inline_user = config;
  inline_user.url = "smtp://user:pw@127.0.0.1:1";
  EXPECT_EQ(refused(inline_user, message),
            "SMTP_URL must not hold a user or password: set SMTP_USERNAME and SMTP_PASSWORD");
  EmailMessage injected = message;
  injected.subject = "Hi\r\nBcc: eve@example.com";
  EXPECT_EQ(refused(config, injected), "the email subject holds a line break");
  EmailMessage nobody = message;
  nobody.to.clear();
  EXPECT_EQ(refused(config, nobody), "the email has no recipient (to)");
  EmailMessage not_address = message;
  not_address.to = {"ada"};
  EXPECT_EQ(refused(config, not_address), "the email recipient 'ada' is not an address");
  EXPECT_EQ(server.mail_commands(), 0);
  EXPECT_EQ(refused(config, message), "sent");
  // A text-only message is not multipart.
  ASSERT_EQ(server.messages().size(), 1u);
  EXPECT_EQ(server.messages()[0].data.find("multipart"), std::string::npos);
}

TEST(EmailStep, RequiredStarttlsFailsForGoodAgainstAPlainServer) {
  FakeSmtpServer server;
  SmtpConfig config = config_for(server);
  config.require_starttls = true;
  try {
    send_email(config, {{"ada@example.com"}, "Hi", "text", "", ""}, "id@test");
    FAIL() << "sent without TLS";
  } catch (const Error& e) {
    EXPECT_EQ(e.error_class(), ErrorClass::fatal) << e.what();
    EXPECT_EQ(std::string(e.what()).find(kPassword), std::string::npos);
  }
  EXPECT_TRUE(server.messages().empty());
}

TEST(EmailStep, ConfigurationComesFromTheEnvironment) {
  auto config = smtp_config_from_environment([](const char* name) -> const char* {
    std::string n = name;
    if (n == "SMTP_URL") return "smtps://mail.example.com:465";
    if (n == "SMTP_FROM") return "stories@example.com";
    if (n == "SMTP_USERNAME") return "u";
    if (n == "SMTP_PASSWORD") return "p";
    if (n == "SMTP_REQUIRE_STARTTLS") return "true";
    return nullptr;
  });
  EXPECT_EQ(config.url, "smtps://mail.example.com:465");
  EXPECT_EQ(config.from, "stories@example.com");
  EXPECT_EQ(config.username, "u");
  EXPECT_EQ(config.password, "p");
  EXPECT_TRUE(config.require_starttls);
  EXPECT_TRUE(config.configured());
  EXPECT_FALSE(smtp_config_from_environment([](const char*) -> const char* { return nullptr; }).configured());
}

}  // namespace
}  // namespace storyloom
