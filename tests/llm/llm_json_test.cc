#include <gtest/gtest.h>

#include <map>

#include "llm/json_schema.h"
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

TEST(LlmJson, PerRequestOptionsRoundTrip) {
  Json in = boost::json::parse(R"({"messages":[{"role":"user","content":"hi"}],
      "stop":["THE END"],"idle_timeout_ms":500,"total_timeout_ms":9000,
      "extra":{"top_p":0.5}})");
  LlmRequest r = llm_request_from_json(in);
  EXPECT_EQ(r.stop, std::vector<std::string>{"THE END"});
  EXPECT_EQ(r.idle_timeout, std::chrono::milliseconds(500));
  EXPECT_EQ(r.total_timeout, std::chrono::milliseconds(9000));
  EXPECT_EQ(r.extra.at("top_p"), 0.5);
  LlmRequest again = llm_request_from_json(to_json(r));
  EXPECT_EQ(again.stop, r.stop);
  EXPECT_EQ(again.total_timeout, r.total_timeout);
  EXPECT_EQ(again.extra, r.extra);
  // A single stop string is accepted too.
  EXPECT_EQ(llm_request_from_json(
                boost::json::parse(R"({"messages":[{"role":"user","content":"hi"}],"stop":"X"})"))
                .stop,
            std::vector<std::string>{"X"});
}

TEST(LlmJson, BadPerRequestOptionsAreRefusedNamingTheField) {
  auto refuse = [](const char* extra_fields) {
    std::string text =
        std::string(R"({"messages":[{"role":"user","content":"hi"}],)") + extra_fields + "}";
    try {
      llm_request_from_json(boost::json::parse(text));
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::invalid_argument);
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(refuse(R"("extra":{"model":"x"})"),
            "llm request: extra must not set 'model' (the request sets it; use the request's own "
            "field)");
  EXPECT_EQ(refuse(R"("extra":[1])"), "llm request: extra must be a JSON object, got [1]");
  EXPECT_EQ(refuse(R"("stop":[""])"), "llm request: stop[0] must be 1 to 256 bytes, got 0");
  EXPECT_EQ(refuse(R"("stop":[1])"), "llm request: stop[0] must be a string, got 1");
  EXPECT_EQ(refuse(R"("idle_timeout_ms":0)"),
            "llm request: idle_timeout_ms must be between 1 and 86400000 (24 h), got 0");
  EXPECT_EQ(refuse(R"("total_timeout_ms":86400001)"),
            "llm request: total_timeout_ms must be between 1 and 86400000 (24 h), got 86400001");
}

TEST(LlmJson, ResultsSayWhatHappenedAndOldStoredResultsStillRead) {
  LlmResult r{"text", "length", {3, 4, 7}, "fake", "m", "max_tokens", true};
  Json j = to_json(r);
  EXPECT_EQ(j.at("truncated"), true);
  EXPECT_EQ(j.at("stop_reason"), "max_tokens");
  EXPECT_EQ(j.at("usage").at("total_tokens"), 7);
  LlmResult back = llm_result_from_json(j);
  EXPECT_TRUE(back.truncated);
  EXPECT_EQ(back.stop_reason, "max_tokens");
  EXPECT_EQ(back.usage.total_tokens, 7);
  LlmResult old = llm_result_from_json(boost::json::parse(
      R"({"text":"t","finish_reason":"length","usage":{"input_tokens":2,"output_tokens":5},
          "provider":"p","model":"m"})"));
  EXPECT_TRUE(old.truncated);
  EXPECT_EQ(old.stop_reason, "");
  EXPECT_EQ(old.usage.total_tokens, 7);
}

TEST(LlmJson, FinishReasonsAreNormalized) {
  const std::pair<const char*, const char*> cases[] = {{"stop", "stop"},
                                                       {"end_turn", "stop"},
                                                       {"stop_sequence", "stop"},
                                                       {"STOP", "stop"},
                                                       {"", "stop"},
                                                       {"length", "length"},
                                                       {"max_tokens", "length"},
                                                       {"MAX_TOKENS", "length"},
                                                       {"content_filter", "content_filter"},
                                                       {"SAFETY", "content_filter"},
                                                       {"refusal", "content_filter"},
                                                       {"tool_calls", "tool_calls"},
                                                       {"tool_use", "tool_calls"},
                                                       {"error", "error"},
                                                       {"something_new", "error"}};
  for (auto [raw, normalized] : cases) EXPECT_EQ(normalized_finish_reason(raw), normalized) << raw;
}

TEST(LlmJson, GeminiFromTheEnvironment) {
  auto env = [](std::map<std::string, std::string> vars) {
    return [vars](const char* name) -> const char* {
      auto it = vars.find(name);
      return it == vars.end() ? nullptr : it->second.c_str();
    };
  };
  auto find = [](const std::vector<LlmProviderConfig>& ps) -> const LlmProviderConfig* {
    for (const auto& p : ps) {
      if (p.name == "gemini") return &p;
    }
    return nullptr;
  };
  auto a = llm_providers_from_environment(env({{"GEMINI_API_KEY", "gem-test-key-not-secret"},
                                               {"GOOGLE_API_KEY", "goo-test-key-not-secret"}}));
  ASSERT_NE(find(a), nullptr);
  EXPECT_EQ(find(a)->api_key, "gem-test-key-not-secret");
  EXPECT_EQ(find(a)->kind, LlmProviderKind::gemini);
  EXPECT_EQ(find(a)->model, "gemini-2.0-flash");
  auto b = llm_providers_from_environment(
      env({{"GOOGLE_API_KEY", "goo-test-key-not-secret"}, {"GEMINI_MODEL", "gemini-x"}}));
  ASSERT_NE(find(b), nullptr);
  EXPECT_EQ(find(b)->api_key, "goo-test-key-not-secret");
  EXPECT_EQ(find(b)->model, "gemini-x");
  EXPECT_EQ(find(llm_providers_from_environment(env({}))), nullptr);
}

TEST(JsonSchema, MismatchesNameThePathAndTheProblem) {
  using detail::schema_mismatch;
  Json schema = boost::json::parse(R"({"type":"object",
      "properties":{"title":{"type":"string","minLength":2},
                    "n":{"type":"integer","minimum":1,"maximum":9},
                    "tags":{"type":"array","items":{"type":"string"},"maxItems":2},
                    "kind":{"enum":["a","b"]}},
      "required":["title"],"additionalProperties":false})");
  auto why = [&](const char* value) { return schema_mismatch(schema, boost::json::parse(value)); };
  EXPECT_EQ(why(R"({"title":"ok","n":3,"tags":["x"],"kind":"a"})"), "");
  EXPECT_EQ(why(R"([])"), "$: expected an object, got []");
  EXPECT_EQ(why(R"({})"), "$: the required property 'title' is missing");
  EXPECT_EQ(why(R"({"title":"x"})"), "$.title: a string of 1 characters, at least 2 expected");
  EXPECT_EQ(why(R"({"title":"ok","n":1.5})"), "$.n: expected an integer, got 1.5");
  EXPECT_EQ(why(R"({"title":"ok","n":10})"), "$.n: 10 is above the maximum 9");
  EXPECT_EQ(why(R"({"title":"ok","tags":["a",2]})"), "$.tags[1]: expected a string, got 2");
  EXPECT_EQ(why(R"({"title":"ok","tags":["a","b","c"]})"), "$.tags: 3 items, at most 2 expected");
  EXPECT_EQ(why(R"({"title":"ok","kind":"c"})"), "$.kind: \"c\" is not one of [\"a\",\"b\"]");
  EXPECT_EQ(why(R"({"title":"ok","extra":1})"), "$: the property 'extra' is not in the schema");
}

TEST(JsonSchema, FilledValuesMatchTheirSchema) {
  Json schema = boost::json::parse(R"({"type":"object",
      "properties":{"title":{"type":"string","maxLength":12},
                    "n":{"type":"integer","minimum":3},
                    "ok":{"type":"boolean"},
                    "parts":{"type":"array","items":{"type":"object",
                        "properties":{"name":{"type":"string","minLength":30}}},"minItems":4},
                    "kind":{"enum":["x","y"]}},
      "required":["title","n","ok","parts","kind"],"additionalProperties":false})");
  Json value = detail::fill_schema(schema, "A story about a lighthouse keeper and the moon");
  EXPECT_EQ(detail::schema_mismatch(schema, value), "") << boost::json::serialize(value);
  EXPECT_EQ(value, detail::fill_schema(schema, "A story about a lighthouse keeper and the moon"));
  EXPECT_EQ(value.at("parts").as_array().size(), 4u);
}

TEST(LlmJson, ASchemaMustBeAnObject) {
  try {
    llm_request_from_json(boost::json::parse(
        R"({"messages":[{"role":"user","content":"hi"}],"json_schema":"outline"})"));
    FAIL() << "accepted";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(),
                 "llm request: json_schema must be a JSON object (a JSON Schema), got \"outline\"");
  }
}

}  // namespace
}  // namespace storyloom
