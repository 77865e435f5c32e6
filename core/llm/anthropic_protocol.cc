// Anthropic's Messages API.
#include "llm/llm_errors.h"
#include "llm/protocol.h"
#include "llm/protocol_support.h"

namespace storyloom::detail {
namespace {

constexpr const char* kWhere = "the Anthropic stream";

Error stream_error(const boost::json::object& event) {
  const auto* error = object_at(event, "error");
  std::string type = error ? string_at(*error, "type") : std::string();
  std::string message = error ? string_at(*error, "message") : boost::json::serialize(event);
  ErrorClass error_class = ErrorClass::retryable;
  if (type == "invalid_request_error" || type == "authentication_error" ||
      type == "permission_error" || type == "not_found_error") {
    error_class = ErrorClass::fatal;
  } else if (type == "rate_limit_error") {
    error_class = ErrorClass::rate_limited;
  }
  ProviderErrorBody said{message, type, "", false, std::nullopt};
  bool quota =
      type == "billing_error" || (type == "invalid_request_error" && is_quota_answer(400, said));
  return provider_sent_error(type, message, quota, error_class);
}

void read_usage(const boost::json::object& usage, LlmProgress& progress) {
  if (auto n = integer_at(usage, "input_tokens")) progress.usage.input_tokens = *n;
  if (auto n = integer_at(usage, "output_tokens")) progress.usage.output_tokens = *n;
}

class AnthropicDecoder final : public StreamDecoder {
 public:
  std::string on_event(const SseEvent& event, LlmProgress& progress) override {
    auto o = parse_event_object(event.data, kWhere);
    std::string type = string_at(o, "type");
    if (type.empty()) type = event.event;
    if (type == "error") throw stream_error(o);
    if (type == "message_start") {
      if (const auto* message = object_at(o, "message")) {
        if (std::string model = string_at(*message, "model"); !model.empty())
          progress.model = model;
        if (const auto* usage = object_at(*message, "usage")) read_usage(*usage, progress);
      }
    } else if (type == "content_block_delta") {
      const auto* delta = object_at(o, "delta");
      if (delta && string_at(*delta, "type") == "text_delta") {
        std::string text = string_at(*delta, "text");
        progress.text += text;
        return text;
      }
      // The forced tool of a structured-output request: its input is the answer.
      if (delta && string_at(*delta, "type") == "input_json_delta") {
        std::string json = string_at(*delta, "partial_json");
        progress.text += json;
        return json;
      }
    } else if (type == "message_delta") {
      if (const auto* delta = object_at(o, "delta")) {
        std::string reason = string_at(*delta, "stop_reason");
        if (!reason.empty()) progress.finish_reason = reason;
      }
      // message_delta's usage counts output tokens so far; input came in message_start.
      if (const auto* usage = object_at(o, "usage")) {
        if (auto n = integer_at(*usage, "output_tokens")) progress.usage.output_tokens = *n;
      }
    } else if (type == "message_stop") {
      progress.done = true;
    }
    // ping, content_block_start, content_block_stop and types added later carry no text.
    return {};
  }
};

class AnthropicProtocol final : public Protocol {
 public:
  HttpRequest build(const LlmProviderConfig& provider, const LlmRequest& request,
                    const std::string& model, const std::string& idempotency_key) const override {
    boost::json::array messages;
    std::string system;
    for (const auto& m : request.messages) {
      if (m.role == "system") {
        if (!system.empty()) system += "\n\n";
        system += m.content;
      } else {
        messages.push_back(boost::json::object{{"role", m.role}, {"content", m.content}});
      }
    }
    boost::json::object body = chat_body(model, std::move(messages), request);
    if (!system.empty()) body["system"] = system;
    if (auto stop = stop_sequences(request)) body["stop_sequences"] = std::move(*stop);
    merge_extra(body, request.extra);
    if (!request.json_schema.is_null()) {
      // Anthropic has no JSON mode: a tool whose input is the answer, which the model must call.
      body["tools"] =
          boost::json::array{boost::json::object{{"name", "answer"},
                                                 {"description", "Give the answer in this shape."},
                                                 {"input_schema", request.json_schema}}};
      body["tool_choice"] = boost::json::object{{"type", "tool"}, {"name", "answer"}};
    }
    HttpRequest http = json_post(provider, "https://api.anthropic.com", "/v1/messages", body,
                                 request, idempotency_key);
    http.headers.emplace_back("anthropic-version", "2023-06-01");
    if (!provider.api_key.empty()) http.headers.emplace_back("x-api-key", provider.api_key);
    return http;
  }

  std::unique_ptr<StreamDecoder> decoder() const override {
    return std::make_unique<AnthropicDecoder>();
  }

  LlmProgress parse_body(std::string_view body) const override {
    auto o = parse_event_object(body, "the Anthropic response");
    if (string_at(o, "type") == "error") throw stream_error(o);
    LlmProgress progress;
    progress.model = string_at(o, "model");
    if (const auto* usage = object_at(o, "usage")) read_usage(*usage, progress);
    const auto* content = o.if_contains("content");
    if (!content || !content->is_array()) {
      throw Error(ErrorCode::provider, "the Anthropic response has no content array",
                  ErrorClass::retryable);
    }
    for (const auto& block : content->as_array()) {
      if (!block.is_object()) continue;
      const auto& b = block.as_object();
      if (string_at(b, "type") == "text") progress.text += string_at(b, "text");
      if (string_at(b, "type") == "tool_use" && b.contains("input")) {
        progress.text += boost::json::serialize(b.at("input"));
      }
    }
    progress.finish_reason = string_at(o, "stop_reason");
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
      }
    }
    return out;
  }

  ProviderLimits limits(const HttpResponseHead& head, int64_t /*now_ms*/) const override {
    ProviderLimits out;
    out.requests_left = number_of(head.header("anthropic-ratelimit-requests-remaining"));
    out.tokens_left = number_of(head.header("anthropic-ratelimit-tokens-remaining"));
    if (auto at = parse_rfc3339_ms(head.header("anthropic-ratelimit-requests-reset"))) {
      out.requests_reset_ms = *at;
    }
    if (auto at = parse_rfc3339_ms(head.header("anthropic-ratelimit-tokens-reset"))) {
      out.tokens_reset_ms = *at;
    }
    return out;
  }
};

}  // namespace

const Protocol& anthropic_protocol() {
  static const AnthropicProtocol protocol;
  return protocol;
}

}  // namespace storyloom::detail
