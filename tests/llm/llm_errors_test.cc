#include "llm/llm_errors.h"

#include <gtest/gtest.h>

#include <cctype>
#include <cstdio>

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

TEST(LlmErrors, QuotaAnswersAreFatalQuotaExceededWithTheProvidersMessage) {
  auto p = openai_with_key("test-key-not-a-secret-0123456789");
  ProviderErrorBody openai{"You exceeded your current quota, please check your plan.",
                           "insufficient_quota", "insufficient_quota", false, std::nullopt};
  Error e = status_error(p, "gpt-4o-mini", 429, openai, 20000);
  EXPECT_EQ(e.code(), ErrorCode::quota_exceeded);
  EXPECT_EQ(e.error_class(), ErrorClass::fatal);
  EXPECT_EQ(e.retry_after_ms(), 0);
  EXPECT_STREQ(e.what(),
               "openai (gpt-4o-mini): the provider account is out of quota or credit (HTTP 429, "
               "insufficient_quota); retrying will not help until its plan or credit is raised: "
               "You exceeded your current quota, please check your plan.");
  ProviderErrorBody credits{"Insufficient credits", "", "", false, std::nullopt};
  EXPECT_EQ(status_error(p, "m", 402, credits, {}).code(), ErrorCode::quota_exceeded);
  ProviderErrorBody anthropic{"Your credit balance is too low to access the Anthropic API.",
                              "invalid_request_error", "", false, std::nullopt};
  EXPECT_EQ(status_error(p, "m", 400, anthropic, {}).code(), ErrorCode::quota_exceeded);
  ProviderErrorBody limits{"You have reached your specified API usage limits.",
                           "invalid_request_error", "", false, std::nullopt};
  EXPECT_EQ(status_error(p, "m", 400, limits, {}).code(), ErrorCode::quota_exceeded);
  ProviderErrorBody billing{"x", "billing_error", "", false, std::nullopt};
  EXPECT_EQ(status_error(p, "m", 403, billing, {}).code(), ErrorCode::quota_exceeded);
  EXPECT_STREQ(to_string(ErrorCode::quota_exceeded), "quota_exceeded");
}

TEST(LlmErrors, APlainRateLimitStaysRateLimited) {
  auto p = openai_with_key("k");
  ProviderErrorBody body{"Rate limit reached for requests", "requests", "rate_limit_exceeded",
                         false, std::nullopt};
  Error e = status_error(p, "m", 429, body, 1500);
  EXPECT_EQ(e.code(), ErrorCode::provider);
  EXPECT_EQ(e.error_class(), ErrorClass::rate_limited);
  EXPECT_EQ(e.retry_after_ms(), 1500);
  // A 400 that is not about money stays an ordinary rejection.
  ProviderErrorBody bad{"max_tokens: too large", "invalid_request_error", "", false, std::nullopt};
  EXPECT_EQ(status_error(p, "m", 400, bad, {}).code(), ErrorCode::provider);
}

constexpr const char* kFakeKey = "test-key-not-a-secret-0123456789";

std::string b64(std::string_view bytes) {
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
  while (out.size() % 4) out.push_back('=');
  return out;
}

TEST(LlmErrors, RedactsEverySpellingOfTheKey) {
  const std::string key = kFakeKey;
  std::string upper, all_encoded;
  for (unsigned char c : key) {
    upper.push_back(static_cast<char>(std::toupper(c)));
    char hex[4];
    std::snprintf(hex, sizeof hex, "%%%02x", c);
    all_encoded += hex;
  }
  const std::vector<std::pair<const char*, std::string>> spellings = {
      {"raw", key},
      {"upper", upper},
      {"percent-encoded", all_encoded},
      {"base64", b64(key)},
      {"base64 user:key", b64("user:" + key)},
      {"base64 key:", b64(key + ":")},
      {"base64 ab:key", b64("ab:" + key)},
      {"prefix of 12", key.substr(0, 12)},
      {"prefix of 20 then mask", key.substr(0, 20) + "****6789"},
  };
  for (const auto& [name, spelled] : spellings) {
    EXPECT_EQ(redact("key " + spelled + " was refused", key), "key [redacted] was refused") << name;
  }
  // Eleven characters do not identify a key.
  EXPECT_EQ(redact("test-key-no", key), "test-key-no");
  // A key with characters that URL-encoding changes.
  EXPECT_EQ(redact("got abc%2Fdef%2Bghijklmnop", std::string("abc/def+ghijklmnop")),
            "got [redacted]");
}

TEST(LlmErrors, RedactsEveryConfiguredSecretAndProviderKeyShapes) {
  std::vector<std::string> secrets = {kFakeKey, "other-test-key-0000-not-secret"};
  EXPECT_EQ(redact("a other-test-key-0000-not-secret b", secrets), "a [redacted] b");
  // Built from pieces so no string here looks like a real key to a secret scanner.
  const std::string anthropic = std::string("sk-ant-") + "api03-" + "FAKEFAKE";
  for (const std::string& shape : {std::string("sk-proj-FAKEFAKEFAKE"), anthropic,
                                   std::string("sk-or-v1-FAKEFAKEFAKE"),
                                   std::string("AIzaFAKEFAKEFAKEFAKEFAKE")}) {
    EXPECT_EQ(redact(std::string("bad key ") + shape + ".", std::string()), "bad key [redacted].")
        << shape;
  }
  EXPECT_EQ(redact("AIza is a prefix, not a key", std::string()), "AIza is a prefix, not a key");
}

}  // namespace
}  // namespace storyloom::detail
