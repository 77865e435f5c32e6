#include "llm/protocol.h"

#include <gtest/gtest.h>

namespace storyloom::detail {
namespace {

SseEvent data(std::string text, std::string type = "") {
  SseEvent e;
  e.event = std::move(type);
  e.data = std::move(text);
  return e;
}

LlmRequest request() {
  LlmRequest r;
  r.messages = {{"system", "Be brief."}, {"user", "Tell a story."}};
  r.max_tokens = 50;
  r.temperature = 0.5;
  return r;
}

std::string header(const HttpRequest& r, const std::string& name) {
  for (const auto& [n, v] : r.headers) {
    if (n == name) return v;
  }
  return "<absent>";
}

TEST(OpenAiProtocol, BuildsAStreamedChatCompletion) {
  LlmProviderConfig p;
  p.name = "local";
  p.base_url = "http://127.0.0.1:9/v1/";
  p.api_key = "test-key-not-a-secret";
  HttpRequest r = openai_protocol().build(p, request(), "m1", "run:3");
  EXPECT_EQ(r.url, "http://127.0.0.1:9/v1/chat/completions");
  EXPECT_EQ(header(r, "Authorization"), "Bearer test-key-not-a-secret");
  EXPECT_EQ(header(r, "Idempotency-Key"), "run:3");
  auto body = boost::json::parse(r.body).as_object();
  EXPECT_EQ(body.at("model"), "m1");
  EXPECT_EQ(body.at("stream"), true);
  EXPECT_EQ(body.at("stream_options").at("include_usage"), true);
  EXPECT_EQ(body.at("messages").as_array().size(), 2u);
  EXPECT_EQ(body.at("max_tokens"), 50);
  // No key (a local server): no Authorization header at all.
  p.api_key.clear();
  EXPECT_EQ(header(openai_protocol().build(p, request(), "m1", "k"), "Authorization"), "<absent>");
}

TEST(OpenAiProtocol, DecodesDeltasFinishReasonUsageAndDone) {
  auto decoder = openai_protocol().decoder();
  LlmProgress progress;
  EXPECT_EQ(decoder->on_event(
                data(R"({"model":"m-2024","choices":[{"delta":{"role":"assistant"}}]})"), progress),
            "");
  EXPECT_EQ(decoder->on_event(data(R"({"choices":[{"delta":{"content":"Once"}}]})"), progress),
            "Once");
  EXPECT_EQ(decoder->on_event(data(R"({"choices":[{"delta":{"content":" café"}}]})"), progress),
            " café");
  decoder->on_event(data(R"({"choices":[{"delta":{},"finish_reason":"stop"}]})"), progress);
  decoder->on_event(data(R"({"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":2}})"),
                    progress);
  EXPECT_FALSE(progress.done);
  decoder->on_event(data("[DONE]"), progress);
  EXPECT_TRUE(progress.done);
  EXPECT_EQ(progress.text, "Once café");
  EXPECT_EQ(progress.finish_reason, "stop");
  EXPECT_EQ(progress.usage.input_tokens, 7);
  EXPECT_EQ(progress.usage.output_tokens, 2);
  EXPECT_EQ(progress.model, "m-2024");
}

TEST(OpenAiProtocol, AnErrorInTheStreamAndMalformedJsonAreErrors) {
  auto decoder = openai_protocol().decoder();
  LlmProgress progress;
  try {
    decoder->on_event(
        data(R"({"error":{"message":"The server is overloaded","type":"server_error"}})"),
        progress);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.error_class(), ErrorClass::retryable);
    EXPECT_NE(std::string(e.what()).find("The server is overloaded"), std::string::npos);
  }
  try {
    decoder->on_event(data("{not json"), progress);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::provider);
    EXPECT_EQ(e.error_class(), ErrorClass::retryable);
    EXPECT_NE(std::string(e.what()).find("{not json"), std::string::npos) << e.what();
  }
}

TEST(OpenAiProtocol, ParsesAWholeBodyAndErrorBodies) {
  auto progress = openai_protocol().parse_body(
      R"({"model":"m","choices":[{"message":{"content":"Hi"},"finish_reason":"length"}],)"
      R"("usage":{"prompt_tokens":3,"completion_tokens":1}})");
  EXPECT_EQ(progress.text, "Hi");
  EXPECT_EQ(progress.finish_reason, "length");
  EXPECT_EQ(progress.usage.input_tokens, 3);
  EXPECT_EQ(openai_protocol().error_message(R"({"error":{"message":"bad max_tokens"}})"),
            "bad max_tokens");
  EXPECT_EQ(openai_protocol().error_message("<html>Bad Gateway</html>"),
            "<html>Bad Gateway</html>");
  EXPECT_EQ(openai_protocol().error_message(""), "");
}

TEST(OpenAiProtocol, ReadsRateLimitHeaders) {
  HttpResponseHead head;
  head.headers = {{"x-ratelimit-remaining-requests", "0"},
                  {"x-ratelimit-reset-requests", "1s"},
                  {"x-ratelimit-remaining-tokens", "1500"},
                  {"x-ratelimit-reset-tokens", "6m0s"}};
  ProviderLimits limits = openai_protocol().limits(head, 1000);
  EXPECT_EQ(limits.requests_left, 0.0);
  EXPECT_EQ(limits.requests_reset_ms, 2000);
  EXPECT_EQ(limits.tokens_left, 1500.0);
  EXPECT_EQ(limits.tokens_reset_ms, 361000);
}

TEST(AnthropicProtocol, BuildsAMessagesRequestWithTheSystemPromptApart) {
  LlmProviderConfig p;
  p.name = "anthropic";
  p.kind = LlmProviderKind::anthropic;
  p.api_key = "test-anthropic-key-not-a-secret";
  HttpRequest r = anthropic_protocol().build(p, request(), "claude-x", "run:1");
  EXPECT_EQ(r.url, "https://api.anthropic.com/v1/messages");
  EXPECT_EQ(header(r, "x-api-key"), "test-anthropic-key-not-a-secret");
  EXPECT_EQ(header(r, "anthropic-version"), "2023-06-01");
  auto body = boost::json::parse(r.body).as_object();
  EXPECT_EQ(body.at("system"), "Be brief.");
  EXPECT_EQ(body.at("messages").as_array().size(), 1u);
  EXPECT_EQ(body.at("messages").as_array()[0].at("role"), "user");
}

TEST(AnthropicProtocol, DecodesItsEventTypesIncludingPing) {
  auto decoder = anthropic_protocol().decoder();
  LlmProgress progress;
  decoder->on_event(
      data(
          R"({"type":"message_start","message":{"model":"claude-x","usage":{"input_tokens":12,"output_tokens":1}}})",
          "message_start"),
      progress);
  decoder->on_event(
      data(R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})"),
      progress);
  decoder->on_event(data(R"({"type": "ping"})", "ping"), progress);
  EXPECT_EQ(
      decoder->on_event(
          data(
              R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}})"),
          progress),
      "Hello");
  decoder->on_event(data(R"({"type":"content_block_stop","index":0})"), progress);
  decoder->on_event(
      data(
          R"({"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":5}})"),
      progress);
  decoder->on_event(data(R"({"type":"message_stop"})"), progress);
  EXPECT_TRUE(progress.done);
  EXPECT_EQ(progress.text, "Hello");
  EXPECT_EQ(progress.finish_reason, "end_turn");  // normalized in the result
  EXPECT_EQ(progress.usage.input_tokens, 12);
  EXPECT_EQ(progress.usage.output_tokens, 5);
  EXPECT_EQ(progress.model, "claude-x");
}

TEST(AnthropicProtocol, ErrorEventsAreClassifiedByType) {
  auto decoder = anthropic_protocol().decoder();
  LlmProgress progress;
  auto class_of = [&](const char* type) {
    try {
      decoder->on_event(
          data(std::string(R"({"type":"error","error":{"type":")") + type + R"(","message":"m"}})",
               "error"),
          progress);
    } catch (const Error& e) {
      return e.error_class();
    }
    ADD_FAILURE() << "no error for " << type;
    return ErrorClass::retryable;
  };
  EXPECT_EQ(class_of("overloaded_error"), ErrorClass::retryable);
  EXPECT_EQ(class_of("rate_limit_error"), ErrorClass::rate_limited);
  EXPECT_EQ(class_of("invalid_request_error"), ErrorClass::fatal);
  EXPECT_EQ(
      anthropic_protocol().error_message(
          R"({"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}})"),
      "invalid x-api-key");
}

TEST(AnthropicProtocol, ReadsRateLimitHeadersAsDates) {
  HttpResponseHead head;
  head.headers = {{"anthropic-ratelimit-requests-remaining", "3"},
                  {"anthropic-ratelimit-requests-reset", "1970-01-01T00:00:05Z"}};
  ProviderLimits limits = anthropic_protocol().limits(head, 0);
  EXPECT_EQ(limits.requests_left, 3.0);
  EXPECT_EQ(limits.requests_reset_ms, 5000);
  EXPECT_FALSE(limits.tokens_left.has_value());
}

TEST(GeminiProtocol, QuotaAndRateLimitAreToldApart) {
  auto daily = gemini_protocol().error_of(
      R"({"error":{"code":429,"message":"You exceeded your current quota","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaId":"GenerateRequestsPerDayPerProjectPerModel-FreeTier"}]}]}})");
  EXPECT_TRUE(daily.quota);
  EXPECT_EQ(daily.code, "RESOURCE_EXHAUSTED");
  EXPECT_EQ(daily.message, "You exceeded your current quota");
  auto minute = gemini_protocol().error_of(
      R"({"error":{"code":429,"message":"You exceeded your current quota","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaId":"GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}]},{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"37s"}]}})");
  EXPECT_FALSE(minute.quota);
  EXPECT_EQ(minute.retry_after_ms, 37000);
  auto listed = gemini_protocol().error_of(
      R"([{"error":{"code":500,"message":"boom","status":"INTERNAL"}}])");
  EXPECT_EQ(listed.message, "boom");
  EXPECT_EQ(gemini_protocol().error_message("<html>Bad Gateway</html>"),
            "<html>Bad Gateway</html>");
}

TEST(GeminiProtocol, DecodesResponsesAndTheFinishReason) {
  auto decoder = gemini_protocol().decoder();
  LlmProgress progress;
  auto data = [](const char* d) { return SseEvent{"", d, ""}; };
  EXPECT_EQ(
      decoder->on_event(
          data(
              R"({"candidates":[{"content":{"parts":[{"text":"Hel"},{"text":"lo"}],"role":"model"}}],"modelVersion":"gemini-x"})"),
          progress),
      "Hello");
  EXPECT_FALSE(progress.done);
  EXPECT_EQ(
      decoder->on_event(
          data(
              R"({"candidates":[{"content":{"parts":[{"text":"!"}]},"finishReason":"MAX_TOKENS"}],"usageMetadata":{"promptTokenCount":4,"candidatesTokenCount":2,"totalTokenCount":9}})"),
          progress),
      "!");
  EXPECT_TRUE(progress.done);
  EXPECT_EQ(progress.text, "Hello!");
  EXPECT_EQ(progress.finish_reason, "MAX_TOKENS");
  EXPECT_EQ(progress.usage.total_tokens, 9);  // thinking tokens count in the total
  EXPECT_EQ(progress.model, "gemini-x");
  try {
    decoder->on_event(
        data(
            R"({"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}})"),
        progress);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.error_class(), ErrorClass::retryable);
    EXPECT_STREQ(
        e.what(),
        "the provider sent an error in the stream (UNAVAILABLE): The model is overloaded.");
  }
}

TEST(GeminiProtocol, TheKeyGoesInAHeaderNeverTheUrl) {
  LlmProviderConfig p;
  p.name = "gemini";
  p.kind = LlmProviderKind::gemini;
  p.api_key = "test-key-not-a-secret-0123456789";
  LlmRequest r;
  r.messages = {{"user", "hi"}};
  HttpRequest http = gemini_protocol().build(p, r, "gemini-2.0-flash", "run:1");
  EXPECT_EQ(http.url,
            "https://generativelanguage.googleapis.com/v1beta/models/"
            "gemini-2.0-flash:streamGenerateContent?alt=sse");
  bool header = false;
  for (const auto& [name, value] : http.headers) {
    header = header || (name == "x-goog-api-key" && value == p.api_key);
  }
  EXPECT_TRUE(header);
}

}  // namespace
}  // namespace storyloom::detail
