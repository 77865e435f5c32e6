// The prompt, the reply text and the two provider wire formats. See fake_formats.h.
#include "fake_formats.h"

#include <boost/json.hpp>
#include <chrono>
#include <utility>

namespace storyloom::testing::fake {

namespace {

namespace json = boost::json;

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'; }

std::vector<std::string> split_words(std::string_view text) {
  std::vector<std::string> words;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && is_space(text[i])) ++i;
    size_t start = i;
    while (i < text.size() && !is_space(text[i])) ++i;
    if (i > start) words.emplace_back(text.substr(start, i - start));
  }
  return words;
}

// The first `count` code points of valid UTF-8 text.
std::string_view first_code_points(std::string_view text, size_t count) {
  size_t i = 0;
  for (size_t seen = 0; i < text.size(); ++i) {
    bool starts_code_point = (static_cast<unsigned char>(text[i]) & 0xC0) != 0x80;
    if (starts_code_point && seen++ == count) break;
  }
  return text.substr(0, i);
}

// The text of a message's (or a system prompt's) content: a string, or the
// "text" fields of an array of parts.
std::string content_text(const json::value& content) {
  if (const auto* s = content.if_string()) return std::string(*s);
  std::string text;
  if (const auto* parts = content.if_array()) {
    for (const auto& part : *parts) {
      const auto* object = part.if_object();
      const json::value* part_text = object ? object->if_contains("text") : nullptr;
      if (part_text && part_text->is_string()) {
        text += (text.empty() ? "" : " ") + std::string(part_text->get_string());
      }
    }
  }
  return text;
}

std::string parse_json(std::string_view body, json::value& out) {
  json::stream_parser parser;
  boost::system::error_code ec;
  size_t used = parser.write(body.data(), body.size(), ec);
  if (!ec) parser.finish(ec);
  if (ec) {
    return "We could not parse the JSON body of your request: " + ec.message() + " (at byte " +
           std::to_string(used) + ")";
  }
  out = parser.release();
  return "";
}

// Gemini: the model and stream come from the URL (set by the caller); the
// body has contents[{role, parts[{text}]}] and maybe systemInstruction.
std::string read_gemini_prompt(const json::object& request, Prompt& prompt) {
  const json::value* contents = request.if_contains("contents");
  if (!contents) return "* GenerateContentRequest.contents: contents is not specified";
  if (!contents->is_array()) return "Invalid value at 'contents'";
  if (const json::value* system = request.if_contains("systemInstruction")) {
    if (const auto* o = system->if_object(); o && o->if_contains("parts")) {
      prompt.prompt_words +=
          static_cast<long long>(split_words(content_text(o->at("parts"))).size());
    }
  }
  if (const json::value* config = request.if_contains("generationConfig");
      config && config->is_object() && config->get_object().if_contains("responseSchema")) {
    prompt.schema = json::serialize(config->get_object().at("responseSchema"));
  }
  size_t index = 0;
  for (const auto& content : contents->get_array()) {
    std::string where = "contents[" + std::to_string(index++) + "]";
    const json::object* object = content.if_object();
    if (!object) return "Invalid value at '" + where + "'";
    const json::value* parts = object->if_contains("parts");
    std::string text = parts ? content_text(*parts) : "";
    prompt.prompt_words += static_cast<long long>(split_words(text).size());
    const json::value* role = object->if_contains("role");
    if (!role || (role->is_string() && role->get_string() == "user")) prompt.last_user_text = text;
  }
  return "";
}

}  // namespace

std::string read_prompt(Provider provider, std::string_view body, Prompt& prompt) {
  json::value value;
  if (std::string problem = parse_json(body, value); !problem.empty()) return problem;
  const json::object* request = value.if_object();
  if (!request) return "The request body must be a JSON object";
  auto field = [&](std::string_view key) { return request->if_contains(key); };
  if (provider == Provider::gemini) return read_gemini_prompt(*request, prompt);
  const json::value* model = field("model");
  if (!model) return "model: Field required";
  if (!model->is_string()) return "model: Input should be a valid string";
  prompt.model = std::string(model->get_string());
  const json::value* messages = field("messages");
  if (!messages) return "messages: Field required";
  if (!messages->is_array()) return "messages: Input should be a valid list";
  if (provider == Provider::anthropic) {
    const json::value* max_tokens = field("max_tokens");
    if (!max_tokens) return "max_tokens: Field required";
    if (!max_tokens->is_int64() && !max_tokens->is_uint64()) {
      return "max_tokens: Input should be a valid integer";
    }
    if (const json::value* system = field("system")) {
      prompt.prompt_words += static_cast<long long>(split_words(content_text(*system)).size());
    }
  }
  if (const json::value* stream = field("stream"); stream && !stream->is_null()) {
    if (!stream->is_bool()) return "stream: Input should be a valid boolean";
    prompt.stream = stream->get_bool();
  }
  if (const json::value* options = field("stream_options"); options && options->is_object()) {
    const json::value* include = options->get_object().if_contains("include_usage");
    prompt.include_usage = include && include->is_bool() && include->get_bool();
  }
  if (provider == Provider::openai) {
    if (const json::value* format = field("response_format"); format && format->is_object()) {
      const json::value* spec = format->get_object().if_contains("json_schema");
      if (spec && spec->is_object() && spec->get_object().if_contains("schema")) {
        prompt.schema = json::serialize(spec->get_object().at("schema"));
      }
    }
  } else if (const json::value* choice = field("tool_choice"); choice && choice->is_object()) {
    const json::value* type = choice->get_object().if_contains("type");
    const json::value* tools = field("tools");
    if (type && type->is_string() && type->get_string() == "tool" && tools && tools->is_array() &&
        !tools->get_array().empty() && tools->get_array().front().is_object()) {
      if (const auto* schema =
              tools->get_array().front().get_object().if_contains("input_schema")) {
        prompt.schema = json::serialize(*schema);
      }
    }
  }
  size_t index = 0;
  for (const auto& message : messages->get_array()) {
    std::string where = "messages." + std::to_string(index++);
    const json::object* object = message.if_object();
    if (!object) return where + ": Input should be a valid dictionary";
    const json::value* role = object->if_contains("role");
    if (!role || !role->is_string()) return where + ".role: Field required";
    const json::value* content = object->if_contains("content");
    std::string text = content ? content_text(*content) : "";
    prompt.prompt_words += static_cast<long long>(split_words(text).size());
    if (role->get_string() == "user") prompt.last_user_text = std::move(text);
  }
  return "";
}

std::vector<std::string> reply_words(std::string_view last_user_text, size_t count) {
  static const std::vector<std::string_view> filler = {
      "café",   "—",    "once", "upon",  "a",  "time", "a",   "naïve", "lighthouse",
      "keeper", "told", "🌙",    "tales", "by", "the",  "sea", "until", "dawn."};
  std::vector<std::string> words = {"Fake", "reply", "to:"};
  std::vector<std::string> quoted = split_words(first_code_points(last_user_text, 40));
  if (quoted.empty()) quoted.emplace_back();
  quoted.front() = "«" + quoted.front();
  quoted.back() += "»";
  words.insert(words.end(), quoted.begin(), quoted.end());
  for (size_t i = 0; words.size() < count; ++i) words.emplace_back(filler[i % filler.size()]);
  words.resize(count);
  return words;
}

namespace {

json::value fill_schema(const json::value& schema, const std::string& name,
                        const std::string& about, bool wrong, int depth) {
  const json::object* o = schema.if_object();
  if (!o || depth > 16) return nullptr;
  if (const auto* values = o->if_contains("enum");
      values && values->is_array() && !values->get_array().empty()) {
    return values->get_array().front();
  }
  std::string type;
  if (const auto* t = o->if_contains("type")) {
    if (t->is_string()) type = std::string(t->get_string());
    if (t->is_array() && !t->get_array().empty() && t->get_array().front().is_string()) {
      type = std::string(t->get_array().front().get_string());
    }
  }
  if (type.empty()) type = o->if_contains("properties") ? "object" : "string";
  auto number = [&](const char* key, double fallback) {
    const auto* v = o->if_contains(key);
    return v && v->is_number() ? v->to_number<double>() : fallback;
  };
  if (type == "object") {
    json::object out;
    if (const auto* props = o->if_contains("properties"); props && props->is_object()) {
      for (const auto& [key, sub] : props->get_object()) {
        out[key] = fill_schema(sub, std::string(key), about, wrong, depth + 1);
      }
    }
    return out;
  }
  if (type == "array") {
    json::array out;
    size_t n = static_cast<size_t>(number("minItems", 2));
    const json::value* items = o->if_contains("items");
    for (size_t i = 0; i < n; ++i) {
      out.push_back(items ? fill_schema(*items, name, about, wrong, depth + 1)
                          : json::value("item"));
    }
    return out;
  }
  if (type == "integer") return static_cast<long long>(number("minimum", 1));
  if (type == "number") return number("minimum", 1);
  if (type == "boolean") return true;
  if (type == "null") return nullptr;
  if (wrong) return 7;
  return json::value((name.empty() ? std::string("text") : name) + " of «" + about + "»");
}

}  // namespace

std::vector<std::string> schema_reply_pieces(const Prompt& prompt, bool wrong) {
  json::value schema;
  boost::system::error_code ec;
  schema = json::parse(prompt.schema, ec);
  std::string about(first_code_points(prompt.last_user_text, 20));
  std::string text = json::serialize(fill_schema(schema, "", about, wrong, 0));
  std::vector<std::string> pieces;
  for (size_t at = 0; at < text.size();) {
    size_t end = std::min(text.size(), at + 12);
    while (end < text.size() && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) ++end;
    pieces.push_back(text.substr(at, end - at));
    at = end;
  }
  return pieces;
}

std::string content_piece(const std::vector<std::string>& words, size_t i) {
  return (i == 0 ? "" : " ") + words[i];
}

std::string joined_text(const std::vector<std::string>& words) {
  std::string text;
  for (size_t i = 0; i < words.size(); ++i) text += content_piece(words, i);
  return text;
}

std::string timestamp_piece() {
  auto now = std::chrono::steady_clock::now().time_since_epoch();
  return "<t=" + std::to_string(std::chrono::nanoseconds(now).count()) + ">";
}

int quota_status(Provider provider, std::string_view variant) {
  if (provider == Provider::openai) return variant == "openrouter" ? 402 : 429;
  if (provider == Provider::anthropic) return variant == "billing" ? 402 : 400;
  return 429;
}

namespace {

std::string gemini_error(int code, std::string_view status, std::string_view message,
                         json::array details = {}) {
  json::object error{{"code", code}, {"message", message}, {"status", status}};
  if (!details.empty()) error["details"] = std::move(details);
  return json::serialize(json::object{{"error", std::move(error)}});
}

std::string gemini_error_body(Failure failure, std::string_view message) {
  switch (failure) {
    case Failure::rate_limited:
      return gemini_error(
          429, "RESOURCE_EXHAUSTED",
          "You exceeded your current quota, please check your plan and billing details.",
          json::array{
              json::object{
                  {"@type", "type.googleapis.com/google.rpc.QuotaFailure"},
                  {"violations",
                   json::array{json::object{
                       {"quotaMetric",
                        "generativelanguage.googleapis.com/generate_content_free_tier_"
                        "requests"},
                       {"quotaId", "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}}}}},
              json::object{{"@type", "type.googleapis.com/google.rpc.RetryInfo"},
                           {"retryDelay", "1s"}}});
    case Failure::quota:
      return gemini_error(
          429, "RESOURCE_EXHAUSTED",
          "You exceeded your current quota, please check your plan and billing details.",
          json::array{json::object{
              {"@type", "type.googleapis.com/google.rpc.QuotaFailure"},
              {"violations",
               json::array{json::object{
                   {"quotaMetric",
                    "generativelanguage.googleapis.com/generate_content_free_tier_requests"},
                   {"quotaId", "GenerateRequestsPerDayPerProjectPerModel-FreeTier"}}}}}});
    case Failure::server_error:
      return gemini_error(500, "INTERNAL", "An internal error has occurred.");
    case Failure::unauthorized:
      return gemini_error(400, "INVALID_ARGUMENT",
                          "API key not valid. Please pass a valid API key.");
    case Failure::echo_key:
      return gemini_error(400, "INVALID_ARGUMENT", message);
    case Failure::bad_request:
      return gemini_error(
          400, "INVALID_ARGUMENT",
          "max_tokens: 999999 is out of range: the maximum is 65536 for this model");
    case Failure::invalid_request:
      return gemini_error(400, "INVALID_ARGUMENT", message);
    case Failure::not_found:
      return gemini_error(404, "NOT_FOUND", message);
    case Failure::overloaded:
      return gemini_error(503, "UNAVAILABLE", "The model is overloaded. Please try again later.");
  }
  return "";
}

}  // namespace

std::string error_body(Provider provider, Failure failure, std::string_view message) {
  std::string text(message);
  if (provider == Provider::gemini) return gemini_error_body(failure, message);
  if (provider == Provider::anthropic) {
    std::string type = "invalid_request_error";
    switch (failure) {
      case Failure::rate_limited:
        type = "rate_limit_error";
        text = "Number of requests has exceeded your per-minute rate limit";
        break;
      case Failure::server_error:
        type = "api_error";
        text = "Internal server error";
        break;
      case Failure::unauthorized:
        type = "authentication_error";
        text = "invalid x-api-key";
        break;
      case Failure::bad_request:
        text =
            "max_tokens: 999999 > 64000, which is the maximum allowed number of output tokens "
            "for this model";
        break;
      case Failure::invalid_request:
        break;
      case Failure::not_found:
        type = "not_found_error";
        break;
      case Failure::overloaded:
        type = "overloaded_error";
        text = "Overloaded";
        break;
      case Failure::quota:
        if (message == "billing") {
          type = "billing_error";
          text = "Your credit balance is too low to access the Anthropic API.";
        } else if (message == "usage_limit") {
          text =
              "You have reached your specified API usage limits. You will regain access on "
              "2030-01-01 at 00:00 UTC.";
        } else {
          text =
              "Your credit balance is too low to access the Anthropic API. Please go to Plans & "
              "Billing to upgrade or purchase credits.";
        }
        break;
      case Failure::echo_key:
        type = "authentication_error";
        break;
    }
    return json::serialize(
        json::object{{"type", "error"}, {"error", {{"type", type}, {"message", text}}}});
  }
  json::object error;
  switch (failure) {
    case Failure::rate_limited:
      error = {{"message",
                "Rate limit reached for requests per min (RPM): Limit 3, Used 3, Requested 1. "
                "Please try again in 1s."},
               {"type", "requests"},
               {"param", nullptr},
               {"code", "rate_limit_exceeded"}};
      break;
    case Failure::server_error:
      error = {
          {"message", "The server had an error while processing your request. Sorry about that!"},
          {"type", "server_error"},
          {"param", nullptr},
          {"code", nullptr}};
      break;
    case Failure::unauthorized:
      error = {{"message", "Incorrect API key provided"},
               {"type", "invalid_request_error"},
               {"param", nullptr},
               {"code", "invalid_api_key"}};
      break;
    case Failure::bad_request:
      error = {{"message",
                "max_tokens: 999999 is too large. This model supports at most 16384 completion "
                "tokens, whereas you provided 999999."},
               {"type", "invalid_request_error"},
               {"param", "max_tokens"},
               {"code", nullptr}};
      break;
    case Failure::invalid_request:
    case Failure::not_found:
      error = {{"message", text},
               {"type", "invalid_request_error"},
               {"param", nullptr},
               {"code", failure == Failure::not_found ? json::value("unknown_url") : nullptr}};
      break;
    case Failure::overloaded:
      error = {{"message", "The server is overloaded"}, {"type", "server_error"}};
      break;
    case Failure::quota:
      if (message == "openrouter") {
        error = {{"message",
                  "Insufficient credits. Add more using https://openrouter.ai/settings/credits"},
                 {"code", 402}};
      } else {
        error = {{"message",
                  "You exceeded your current quota, please check your plan and billing details."},
                 {"type", "insufficient_quota"},
                 {"param", nullptr},
                 {"code", "insufficient_quota"}};
      }
      break;
    case Failure::echo_key:
      error = {{"message", text},
               {"type", "invalid_request_error"},
               {"param", nullptr},
               {"code", "invalid_api_key"}};
      break;
  }
  return json::serialize(json::object{{"error", std::move(error)}});
}

namespace {

// Fixed so replies are byte-for-byte reproducible.
constexpr long long kCreated = 1700000000;

class OpenAiFormat final : public ProviderFormat {
 public:
  OpenAiFormat(std::string id, const Prompt& prompt)
      : id_(std::move(id)),
        model_(prompt.model),
        include_usage_(prompt.include_usage),
        finish_(prompt.truncated ? "length" : "stop") {}

  std::vector<std::string> stream_opening() const override {
    return {chunk(json::object{{"role", "assistant"}, {"content", ""}}, nullptr)};
  }
  std::string stream_content(std::string_view piece) const override {
    return chunk(json::object{{"content", piece}}, nullptr);
  }
  std::vector<std::string> stream_closing(const Usage& usage) const override {
    std::vector<std::string> events = {chunk(json::object{}, json::value(finish_))};
    if (include_usage_) {
      json::object last = base("chat.completion.chunk");
      last["choices"] = json::array{};
      last["usage"] = usage_json(usage);
      events.push_back(data(last));
    }
    events.emplace_back("data: [DONE]\n\n");
    return events;
  }
  std::string stream_error() const override {
    return "data: " + error_body(Provider::openai, Failure::overloaded) + "\n\n";
  }
  std::string stream_malformed() const override {
    return "data: {\"id\":\"" + id_ + "\",\"object\":\"chat.completion.chunk\",\"choices\":[{\n\n";
  }
  std::string whole(std::string_view text, const Usage& usage) const override {
    json::object completion = base("chat.completion");
    completion["choices"] = json::array{
        json::object{{"index", 0},
                     {"message", {{"role", "assistant"}, {"content", text}, {"refusal", nullptr}}},
                     {"logprobs", nullptr},
                     {"finish_reason", finish_}}};
    completion["usage"] = usage_json(usage);
    return json::serialize(completion);
  }

 private:
  json::object base(std::string_view object) const {
    return json::object{{"id", id_},
                        {"object", object},
                        {"created", kCreated},
                        {"model", model_},
                        {"system_fingerprint", "fp_fake"}};
  }
  std::string chunk(json::object delta, json::value finish_reason) const {
    json::object c = base("chat.completion.chunk");
    c["choices"] = json::array{json::object{{"index", 0},
                                            {"delta", std::move(delta)},
                                            {"logprobs", nullptr},
                                            {"finish_reason", std::move(finish_reason)}}};
    if (include_usage_) c["usage"] = nullptr;
    return data(c);
  }
  static std::string data(const json::object& o) { return "data: " + json::serialize(o) + "\n\n"; }
  static json::object usage_json(const Usage& u) {
    return json::object{{"prompt_tokens", u.prompt_tokens},
                        {"completion_tokens", u.completion_tokens},
                        {"total_tokens", u.prompt_tokens + u.completion_tokens}};
  }

  std::string id_;
  std::string model_;
  bool include_usage_;
  std::string finish_;
};

class AnthropicFormat final : public ProviderFormat {
 public:
  AnthropicFormat(std::string id, const Prompt& prompt, long long input_tokens)
      : id_(std::move(id)),
        model_(prompt.model),
        input_tokens_(input_tokens),
        stop_(prompt.truncated         ? "max_tokens"
              : !prompt.schema.empty() ? "tool_use"
                                       : "end_turn"),
        tool_(!prompt.schema.empty()) {}

  std::vector<std::string> stream_opening() const override {
    json::object message = message_base();
    message["content"] = json::array{};
    message["stop_reason"] = nullptr;
    message["usage"] = {{"input_tokens", input_tokens_}, {"output_tokens", 1}};
    return {
        event("message_start", {{"type", "message_start"}, {"message", std::move(message)}}),
        event(
            "content_block_start",
            {{"type", "content_block_start"},
             {"index", 0},
             {"content_block", tool_ ? json::value(json::object{{"type", "tool_use"},
                                                                {"id", "toolu_fake"},
                                                                {"name", "answer"},
                                                                {"input", json::object{}}})
                                     : json::value(json::object{{"type", "text"}, {"text", ""}})}}),
        event("ping", {{"type", "ping"}}),
    };
  }
  std::string stream_content(std::string_view piece) const override {
    if (tool_) {
      return event("content_block_delta",
                   {{"type", "content_block_delta"},
                    {"index", 0},
                    {"delta", {{"type", "input_json_delta"}, {"partial_json", piece}}}});
    }
    return event("content_block_delta", {{"type", "content_block_delta"},
                                         {"index", 0},
                                         {"delta", {{"type", "text_delta"}, {"text", piece}}}});
  }
  std::vector<std::string> stream_closing(const Usage& usage) const override {
    return {
        event("content_block_stop", {{"type", "content_block_stop"}, {"index", 0}}),
        event("message_delta", {{"type", "message_delta"},
                                {"delta", {{"stop_reason", stop_}, {"stop_sequence", nullptr}}},
                                {"usage", {{"output_tokens", usage.completion_tokens}}}}),
        event("message_stop", {{"type", "message_stop"}}),
    };
  }
  std::string stream_error() const override {
    return "event: error\ndata: " + error_body(Provider::anthropic, Failure::overloaded) + "\n\n";
  }
  std::string stream_malformed() const override {
    return "event: content_block_delta\n"
           "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_de\n\n";
  }
  std::string whole(std::string_view text, const Usage& usage) const override {
    json::object message = message_base();
    if (tool_) {
      boost::system::error_code ec;
      json::value input = json::parse(text, ec);
      message["content"] = json::array{json::object{
          {"type", "tool_use"}, {"id", "toolu_fake"}, {"name", "answer"}, {"input", input}}};
    } else {
      message["content"] = json::array{json::object{{"type", "text"}, {"text", text}}};
    }
    message["stop_reason"] = stop_;
    message["usage"] = {{"input_tokens", usage.prompt_tokens},
                        {"output_tokens", usage.completion_tokens}};
    return json::serialize(message);
  }

 private:
  json::object message_base() const {
    return json::object{{"id", id_},
                        {"type", "message"},
                        {"role", "assistant"},
                        {"model", model_},
                        {"stop_sequence", nullptr}};
  }
  static std::string event(std::string_view name, const json::object& data) {
    return "event: " + std::string(name) + "\ndata: " + json::serialize(data) + "\n\n";
  }

  std::string id_;
  std::string model_;
  long long input_tokens_;
  std::string stop_;
  bool tool_;
};

// Gemini: every SSE event a whole GenerateContentResponse; no opening, no end marker.
class GeminiFormat final : public ProviderFormat {
 public:
  explicit GeminiFormat(const Prompt& prompt)
      : model_(prompt.model), finish_(prompt.truncated ? "MAX_TOKENS" : "STOP") {}

  std::vector<std::string> stream_opening() const override { return {}; }
  std::string stream_content(std::string_view piece) const override {
    return data(response(piece, nullptr, nullptr));
  }
  std::vector<std::string> stream_closing(const Usage& usage) const override {
    return {data(response("", json::value(finish_), usage_json(usage)))};
  }
  std::string stream_error() const override {
    return "data: " + error_body(Provider::gemini, Failure::overloaded) + "\n\n";
  }
  std::string stream_malformed() const override {
    return "data: {\"candidates\": [{\"content\": {\"parts\": [{\"te\n\n";
  }
  std::string whole(std::string_view text, const Usage& usage) const override {
    return json::serialize(response(text, json::value(finish_), usage_json(usage)));
  }

 private:
  json::object response(std::string_view text, json::value finish, json::value usage) const {
    json::object candidate{
        {"content", {{"parts", json::array{json::object{{"text", text}}}}, {"role", "model"}}},
        {"index", 0}};
    if (!finish.is_null()) candidate["finishReason"] = finish;
    json::object o{{"candidates", json::array{std::move(candidate)}}, {"modelVersion", model_}};
    if (!usage.is_null()) o["usageMetadata"] = usage;
    return o;
  }
  static json::value usage_json(const Usage& u) {
    return json::object{{"promptTokenCount", u.prompt_tokens},
                        {"candidatesTokenCount", u.completion_tokens},
                        {"totalTokenCount", u.prompt_tokens + u.completion_tokens}};
  }
  static std::string data(const json::object& o) { return "data: " + json::serialize(o) + "\n\n"; }

  std::string model_;
  std::string finish_;
};

}  // namespace

std::unique_ptr<ProviderFormat> provider_format(Provider provider, std::string id,
                                                const Prompt& prompt) {
  if (provider == Provider::openai) return std::make_unique<OpenAiFormat>(std::move(id), prompt);
  if (provider == Provider::gemini) return std::make_unique<GeminiFormat>(prompt);
  return std::make_unique<AnthropicFormat>(std::move(id), prompt, prompt.prompt_words);
}

}  // namespace storyloom::testing::fake
