#include <gtest/gtest.h>

#include "storyloom/config.h"
#include "storyloom/llm.h"
#include "support/test_support.h"

namespace storyloom {
namespace {

using testing::error_of;

std::string refusal(const char* json) {
  try {
    llm_request_from_json(boost::json::parse(json));
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::invalid_argument);
    return e.what();
  }
  return "<accepted>";
}

TEST(LlmJson, RequestRoundTrips) {
  LlmRequest r;
  r.provider = "openai";
  r.model = "gpt-4o-mini";
  r.messages = {{"system", "s"}, {"user", "u"}};
  r.max_tokens = 77;
  r.temperature = 0.25;
  r.stream = false;
  r.stream_name = "page/1";
  LlmRequest back = llm_request_from_json(to_json(r));
  EXPECT_EQ(back.provider, "openai");
  EXPECT_EQ(back.messages.size(), 2u);
  EXPECT_EQ(back.messages[1].content, "u");
  EXPECT_EQ(back.max_tokens, 77);
  EXPECT_EQ(back.temperature, 0.25);
  EXPECT_FALSE(back.stream);
  EXPECT_EQ(back.stream_name, "page/1");
}

TEST(LlmJson, ResultRoundTrips) {
  LlmResult r{"text", "stop", {3, 4}, "offline", "offline-placeholder"};
  LlmResult back = llm_result_from_json(to_json(r));
  EXPECT_EQ(back.text, "text");
  EXPECT_EQ(back.usage.output_tokens, 4);
  EXPECT_EQ(back.model, "offline-placeholder");
}

TEST(LlmJson, AMalformedStoredResultIsRefusedNamingTheField) {
  auto refused = [](const char* json) {
    return std::string(error_of([&] { llm_result_from_json(boost::json::parse(json)); }).what());
  };
  EXPECT_EQ(refused("[]"), "llm result: must be a JSON object");
  EXPECT_EQ(refused(R"({"finish_reason":"stop"})"), "llm result: text must be a string");
  EXPECT_EQ(refused(R"({"text":"t","finish_reason":"stop","provider":"p","model":"m"})"),
            "llm result: usage must be an object");
  EXPECT_EQ(refused(R"({"text":"t","finish_reason":"stop","provider":"p","model":"m",)"
                    R"("usage":{"input_tokens":1,"output_tokens":"2"}})"),
            "llm result: usage.output_tokens must be an integer");
}

TEST(LlmJson, BadRequestsAreRefusedNamingTheField) {
  EXPECT_NE(refusal(R"({})").find("messages is missing"), std::string::npos);
  EXPECT_NE(refusal(R"({"messages":[]})").find("messages must not be empty"), std::string::npos);
  EXPECT_NE(refusal(R"({"messages":[{"role":"robot","content":"x"}]})").find("messages[0].role"),
            std::string::npos);
  EXPECT_NE(refusal(R"({"messages":[{"role":"system","content":"x"}]})").find("user message"),
            std::string::npos);
  EXPECT_NE(refusal(R"({"messages":[{"role":"user"}]})").find("messages[0].content"),
            std::string::npos);
  EXPECT_NE(refusal(R"({"messages":[{"role":"user","content":"x"}],"max_tokens":0})")
                .find("max_tokens must be between 1 and 1000000, got 0"),
            std::string::npos);
  EXPECT_NE(refusal(R"({"messages":[{"role":"user","content":"x"}],"max_tokens":"9"})")
                .find("max_tokens must be an integer"),
            std::string::npos);
  EXPECT_NE(refusal(R"({"messages":[{"role":"user","content":"x"}],"temperature":7})")
                .find("temperature must be between 0 and 2, got 7"),
            std::string::npos);
  EXPECT_NE(
      refusal("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"model\":\"bad\\u0001\"}")
          .find("model must not contain control characters"),
      std::string::npos);
  EXPECT_NE(refusal(R"({"messages":[{"role":"user","content":"x"}],"stream":"yes"})")
                .find("stream must be true or false"),
            std::string::npos);
  EXPECT_NE(refusal(R"({"messages":[{"role":"user","content":"x"}],"tools":[]})")
                .find("unknown field 'tools'"),
            std::string::npos);
  EXPECT_NE(refusal(R"([1,2])").find("must be a JSON object"), std::string::npos);
}

TEST(EngineConfig, ProvidersAndResourcesFromJson) {
  EngineOptions o;
  apply_engine_config(
      o,
      boost::json::parse(
          R"({"llm":{"default_provider":"local","use_environment":false,"providers":[)"
          R"({"name":"local","kind":"openai","base_url":"http://127.0.0.1:1/v1","model":"m",)"
          R"("idle_timeout_ms":2500}]},"resources":{"llm:local":{"requests":5,"max_in_flight":2}}})"));
  EXPECT_EQ(o.llm.default_provider, "local");
  EXPECT_FALSE(o.llm.use_environment);
  ASSERT_EQ(o.llm.providers.size(), 1u);
  EXPECT_EQ(o.llm.providers[0].idle_timeout.count(), 2500);
  EXPECT_EQ(o.resources.at("llm:local").max_in_flight, 2);
  EXPECT_EQ(o.resources.at("llm:local").requests, 5.0);
}

TEST(EngineConfig, WrongTypesAreRefusedNamingThePath) {
  auto refused = [](const char* json) {
    EngineOptions o;
    return std::string(error_of([&] { apply_engine_config(o, boost::json::parse(json)); }).what());
  };
  EXPECT_EQ(refused(R"({"llm":{"use_environment":"no"}})"),
            "config.llm.use_environment must be true or false");
  EXPECT_EQ(refused(R"({"llm":{"providers":[{"name":"x","model":7}]}})"),
            "config.llm.providers[0].model must be a string");
  EXPECT_EQ(refused(R"({"llm":{"providers":[{"name":"x","idle_timeout_ms":1.5}]}})"),
            "config.llm.providers[0].idle_timeout_ms must be a whole number, got 1.5");
  EXPECT_EQ(refused(R"({"resources":{"r":{"burst":"big"}}})"),
            "config.resources.r.burst must be a number, got \"big\"");
  EXPECT_EQ(refused(R"({"llm":{"providers":{}}})"), "config.llm.providers must be an array");
}

TEST(LlmJson, ProvidersFromTheEnvironment) {
  std::map<std::string, std::string> env = {{"OPENAI_API_KEY", "test-key-not-a-secret"},
                                            {"ANTHROPIC_BASE_URL", "http://127.0.0.1:1"}};
  auto providers = llm_providers_from_environment([&](const char* name) -> const char* {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  });
  ASSERT_EQ(providers.size(), 3u);
  EXPECT_EQ(providers[0].name, "openai");
  EXPECT_EQ(providers[0].model, "gpt-4o-mini");
  EXPECT_EQ(providers[1].name, "anthropic");
  EXPECT_EQ(providers[1].base_url, "http://127.0.0.1:1");
  EXPECT_EQ(providers[2].name, "offline");
}

}  // namespace
}  // namespace storyloom
