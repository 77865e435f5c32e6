#include "llm/llm_errors.h"

#include <gtest/gtest.h>

namespace storyloom::detail {
namespace {

LlmProviderConfig openai_with_key(std::string key) {
  LlmProviderConfig p;
  p.name = "openai";
  p.api_key = std::move(key);
  return p;
}

HttpResponseHead head_with(std::vector<std::pair<std::string, std::string>> headers) {
  HttpResponseHead head;
  head.status = 429;
  head.headers = std::move(headers);
  return head;
}

TEST(LlmErrors, CredentialsRefusedIsFatalAndNamesTheVariableButNotTheKey) {
  auto p = openai_with_key("test-key-not-a-secret-0123456789");
  Error e = status_error(p, "gpt-4o-mini", 401,
                         "Incorrect API key provided: test-key-not-a-secret-0123456789.", {});
  EXPECT_EQ(e.code(), ErrorCode::provider);
  EXPECT_EQ(e.error_class(), ErrorClass::fatal);
  std::string m = e.what();
  EXPECT_NE(m.find("openai (gpt-4o-mini)"), std::string::npos) << m;
  EXPECT_NE(m.find("HTTP 401"), std::string::npos) << m;
  EXPECT_NE(m.find("OPENAI_API_KEY"), std::string::npos) << m;
  EXPECT_EQ(m.find("not-a-secret"), std::string::npos) << m;
  EXPECT_EQ(status_error(p, "m", 403, "", {}).error_class(), ErrorClass::fatal);
}

TEST(LlmErrors, StatusesAreClassifiedAsTheDesignSays) {
  auto p = openai_with_key("k");
  for (long status : {408L, 409L, 425L, 500L, 502L, 503L, 529L}) {
    EXPECT_EQ(status_error(p, "m", status, "", {}).error_class(), ErrorClass::retryable) << status;
  }
  for (long status : {400L, 404L, 413L, 422L}) {
    EXPECT_EQ(status_error(p, "m", status, "", {}).error_class(), ErrorClass::fatal) << status;
  }
  Error limited = status_error(p, "m", 429, "slow down", 1500);
  EXPECT_EQ(limited.error_class(), ErrorClass::rate_limited);
  EXPECT_EQ(limited.retry_after_ms(), 1500);
  EXPECT_NE(std::string(limited.what()).find("retry after 1500 ms"), std::string::npos);
}

TEST(LlmErrors, BadRequestKeepsTheProvidersMessage) {
  Error e = status_error(openai_with_key("k"), "m", 400, "max_tokens: 999999 is too large", {});
  EXPECT_EQ(e.error_class(), ErrorClass::fatal);
  EXPECT_NE(std::string(e.what()).find("max_tokens: 999999 is too large"), std::string::npos);
}

TEST(LlmErrors, TransferFailuresAreRetryableAndTimeoutsHaveTheirClass) {
  auto p = openai_with_key("k");
  HttpOutcome broke{HttpOutcome::Kind::network_error, 200, "transfer closed"};
  EXPECT_EQ(transfer_error(p, "m", broke).error_class(), ErrorClass::retryable);
  HttpOutcome refused{HttpOutcome::Kind::connect_failed, 0, "connection refused"};
  EXPECT_EQ(transfer_error(p, "m", refused).error_class(), ErrorClass::retryable);
  HttpOutcome idle{HttpOutcome::Kind::idle_timeout, 200, "no data for 300 ms"};
  Error e = transfer_error(p, "m", idle);
  EXPECT_EQ(e.code(), ErrorCode::timeout);
  EXPECT_EQ(e.error_class(), ErrorClass::timeout);
  HttpOutcome cancelled{HttpOutcome::Kind::cancelled, 0, ""};
  EXPECT_EQ(transfer_error(p, "m", cancelled).code(), ErrorCode::cancelled);
}

TEST(LlmErrors, RetryAfterAsMillisecondsSecondsOrAnHttpDate) {
  int64_t now = 784111777000;  // Sun, 06 Nov 1994 08:49:37 GMT
  EXPECT_EQ(retry_after_ms(head_with({{"retry-after-ms", "250"}, {"retry-after", "9"}}), now), 250);
  EXPECT_EQ(retry_after_ms(head_with({{"retry-after", "2"}}), now), 2000);
  EXPECT_EQ(retry_after_ms(head_with({{"retry-after", "1.5"}}), now), 1500);
  EXPECT_EQ(retry_after_ms(head_with({{"retry-after", "Sun, 06 Nov 1994 08:49:40 GMT"}}), now),
            3000);
  // A date in the past asks for no wait at all.
  EXPECT_EQ(retry_after_ms(head_with({{"retry-after", "Sun, 06 Nov 1994 08:00:00 GMT"}}), now), 0);
  EXPECT_EQ(retry_after_ms(head_with({{"retry-after", "soon"}}), now), std::nullopt);
  EXPECT_EQ(retry_after_ms(head_with({{"retry-after", "-3"}}), now), std::nullopt);
  EXPECT_EQ(retry_after_ms(head_with({}), now), std::nullopt);
}

TEST(LlmErrors, DurationsAndDatesOfRateLimitHeaders) {
  EXPECT_EQ(parse_go_duration_ms("1s"), 1000);
  EXPECT_EQ(parse_go_duration_ms("6m0s"), 360000);
  EXPECT_EQ(parse_go_duration_ms("20ms"), 20);
  EXPECT_EQ(parse_go_duration_ms("1.5s"), 1500);
  EXPECT_EQ(parse_go_duration_ms("2h3m"), 7380000);
  EXPECT_EQ(parse_go_duration_ms(""), std::nullopt);
  EXPECT_EQ(parse_go_duration_ms("5 parsecs"), std::nullopt);
  EXPECT_EQ(parse_rfc3339_ms("1970-01-01T00:00:01Z"), 1000);
  EXPECT_EQ(parse_rfc3339_ms("1970-01-01T00:00:01.250Z"), 1250);
  EXPECT_EQ(parse_rfc3339_ms("1970-01-01T01:00:00+01:00"), 0);
  EXPECT_EQ(parse_rfc3339_ms("yesterday"), std::nullopt);
  EXPECT_EQ(parse_http_date_ms("Thu, 01 Jan 1970 00:00:02 GMT"), 2000);
  EXPECT_EQ(parse_http_date_ms("Thu, 01 Jan 1970 00:00:02 PST"), std::nullopt);
}

TEST(LlmErrors, RedactRemovesTheKeyAndKeyShapedText) {
  std::string key = "abcd-not-a-secret-9876";
  EXPECT_EQ(redact("bad key abcd-not-a-secret-9876 here", key), "bad key [redacted] here");
  EXPECT_EQ(redact("Incorrect API key provided: sk-xxxx***xxxx.", ""),
            "Incorrect API key provided: [redacted].");
  EXPECT_EQ(redact("ask-me is fine, so is sk-1", ""), "ask-me is fine, so is sk-1");
}

}  // namespace
}  // namespace storyloom::detail
