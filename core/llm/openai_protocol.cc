// OpenAI-compatible chat completions: OpenAI, OpenRouter, and local servers
// (vLLM, llama.cpp, Ollama) behind a base URL.
#include "llm/llm_errors.h"
#include "llm/protocol.h"
#include "llm/protocol_support.h"

namespace storyloom::detail {
namespace {

constexpr const char* kWhere = "the OpenAI-compatible stream";

// An error object sent instead of a chunk: {"error":{"message","type","code"}}.
Error stream_error(const boost::json::object& error) {
  std::string message = string_at(error, "message");
  std::string type = string_at(error, "type");
  std::string code = string_at(error, "code");
  if (message.empty()) message = boost::json::serialize(error);
  bool invalid = type == "invalid_request_error";
  bool quota = code == "insufficient_quota" || type == "insufficient_quota";
  return provider_sent_error(quota && !code.empty() ? code : type, message, quota,
                             invalid ? ErrorClass::fatal : ErrorClass::retryable);
}

void read_usage(const boost::json::object& o, LlmProgress& progress) {
  if (const auto* usage = object_at(o, "usage")) {
    if (auto n = integer_at(*usage, "prompt_tokens")) progress.usage.input_tokens = *n;
    if (auto n = integer_at(*usage, "completion_tokens")) progress.usage.output_tokens = *n;
    if (auto n = integer_at(*usage, "total_tokens")) progress.usage.total_tokens = *n;
  }
}

const boost::json::object* first_choice(const boost::json::object& o) {
  const auto* choices = o.if_contains("choices");
  if (!choices || !choices->is_array() || choices->as_array().empty()) return nullptr;
  const auto& first = choices->as_array().front();
  return first.is_object() ? &first.as_object() : nullptr;
}

class OpenAiDecoder final : public StreamDecoder {
 public:
  std::string on_event(const SseEvent& event, LlmProgress& progress) override {
    if (event.data == "[DONE]") {
      progress.done = true;
      return {};
    }
    auto o = parse_event_object(event.data, kWhere);
    if (const auto* error = object_at(o, "error")) throw stream_error(*error);
    if (std::string model = string_at(o, "model"); !model.empty()) progress.model = model;
    read_usage(o, progress);
    const auto* choice = first_choice(o);
    if (!choice) return {};
    if (std::string reason = string_at(*choice, "finish_reason"); !reason.empty()) {
      progress.finish_reason = reason;
    }
    const auto* delta = object_at(*choice, "delta");
    if (!delta) return {};
    std::string text = string_at(*delta, "content");
    progress.text += text;
    return text;
  }
};

class OpenAiProtocol final : public Protocol {
 public:
  HttpRequest build(const LlmProviderConfig& provider, const LlmRequest& request,
                    const std::string& model, const std::string& idempotency_key) const override {
    boost::json::array messages;
    for (const auto& m : request.messages) {
      messages.push_back(boost::json::object{{"role", m.role}, {"content", m.content}});
    }
    boost::json::object body = chat_body(model, std::move(messages), request);
    if (request.stream) body["stream_options"] = boost::json::object{{"include_usage", true}};
    if (auto stop = stop_sequences(request)) body["stop"] = std::move(*stop);
    merge_extra(body, request.extra);
    if (!request.json_schema.is_null()) {
      body["response_format"] = boost::json::object{
          {"type", "json_schema"},
          {"json_schema",
           boost::json::object{{"name", "answer"}, {"schema", request.json_schema}}}};
    }
    HttpRequest http = json_post(provider, "https://api.openai.com/v1", "/chat/completions", body,
                                 request, idempotency_key);
    if (!provider.api_key.empty()) {
      http.headers.emplace_back("Authorization", "Bearer " + provider.api_key);
    }
    return http;
  }

  std::unique_ptr<StreamDecoder> decoder() const override {
    return std::make_unique<OpenAiDecoder>();
  }

  LlmProgress parse_body(std::string_view body) const override {
    auto o = parse_event_object(body, "the OpenAI-compatible response");
    if (const auto* error = object_at(o, "error")) throw stream_error(*error);
    LlmProgress progress;
    progress.model = string_at(o, "model");
    read_usage(o, progress);
    const auto* choice = first_choice(o);
    const auto* message = choice ? object_at(*choice, "message") : nullptr;
    if (!message) {
      throw Error(ErrorCode::provider, "the OpenAI-compatible response has no choices[0].message",
                  ErrorClass::retryable);
    }
    progress.text = string_at(*message, "content");
    progress.finish_reason = string_at(*choice, "finish_reason");
    progress.done = true;
    return progress;
  }

  ProviderErrorBody error_of(std::string_view body) const override {
    ProviderErrorBody out;
    out.message = error_text_of_body(body);
    boost::system::error_code ec;
    Json value = boost::json::parse(body, ec);
    if (!ec && value.is_object()) {
      if (const auto* error = object_at(value.as_object(), "error")) {
        out.type = string_at(*error, "type");
        out.code = string_at(*error, "code");
      }
    }
    return out;
  }

  ProviderLimits limits(const HttpResponseHead& head, int64_t now_ms) const override {
    ProviderLimits out;
    out.requests_left = number_of(head.header("x-ratelimit-remaining-requests"));
    out.tokens_left = number_of(head.header("x-ratelimit-remaining-tokens"));
    if (auto d = parse_go_duration_ms(head.header("x-ratelimit-reset-requests"))) {
      out.requests_reset_ms = now_ms + *d;
    }
    if (auto d = parse_go_duration_ms(head.header("x-ratelimit-reset-tokens"))) {
      out.tokens_reset_ms = now_ms + *d;
    }
    return out;
  }
};

}  // namespace

const Protocol& openai_protocol() {
  static const OpenAiProtocol protocol;
  return protocol;
}

}  // namespace storyloom::detail
