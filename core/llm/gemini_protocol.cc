// Google's Gemini API (generativelanguage.googleapis.com), natively:
// models/{model}:streamGenerateContent?alt=sse for streams (each SSE event a
// whole GenerateContentResponse, no end marker: the last one carries
// finishReason), models/{model}:generateContent otherwise. The key goes in the
// x-goog-api-key header, never in the URL (so no message can show it).
#include "llm/llm_errors.h"
#include "llm/protocol.h"
#include "llm/protocol_support.h"

namespace storyloom::detail {
namespace {

constexpr const char* kWhere = "the Gemini stream";

const boost::json::array* array_at(const boost::json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_array() ? &v->as_array() : nullptr;
}

// What a google.rpc.Status error object says: quota or rate limit, and the wait.
ProviderErrorBody read_status(const boost::json::object& error) {
  ProviderErrorBody out;
  out.message = string_at(error, "message");
  out.code = string_at(error, "status");
  bool daily = false, retry_info = false;
  if (const auto* details = array_at(error, "details")) {
    for (const auto& d : *details) {
      if (!d.is_object()) continue;
      const auto& detail = d.as_object();
      std::string type = string_at(detail, "@type");
      if (type.ends_with("google.rpc.QuotaFailure")) {
        if (const auto* violations = array_at(detail, "violations")) {
          for (const auto& v : *violations) {
            if (!v.is_object()) continue;
            std::string id =
                string_at(v.as_object(), "quotaId") + " " + string_at(v.as_object(), "quotaMetric");
            if (id.find("PerDay") != std::string::npos) daily = true;
          }
        }
      } else if (type.ends_with("google.rpc.RetryInfo")) {
        if (auto ms = parse_go_duration_ms(string_at(detail, "retryDelay"))) {
          retry_info = true;
          out.retry_after_ms = *ms;
        }
      } else if (type.ends_with("google.rpc.ErrorInfo")) {
        std::string reason = string_at(detail, "reason");
        if (reason.find("QUOTA") != std::string::npos && reason.find("RATE") == std::string::npos) {
          daily = true;
        }
      }
    }
  }
  // Gemini writes "You exceeded your current quota" for per-minute limits
  // too; those say when to retry. A daily quota, or a quota answer with no
  // wait, will not pass by retrying.
  if (out.code == "RESOURCE_EXHAUSTED") {
    bool says_quota = out.message.find("quota") != std::string::npos;
    out.quota = daily || (says_quota && !retry_info);
  }
  return out;
}

Error status_event_error(const boost::json::object& error) {
  ProviderErrorBody said = read_status(error);
  std::string message = said.message.empty() ? boost::json::serialize(error) : said.message;
  ErrorClass error_class = ErrorClass::retryable;
  if (said.code == "INVALID_ARGUMENT" || said.code == "PERMISSION_DENIED" ||
      said.code == "UNAUTHENTICATED" || said.code == "NOT_FOUND" ||
      said.code == "FAILED_PRECONDITION") {
    error_class = ErrorClass::fatal;
  } else if (said.code == "RESOURCE_EXHAUSTED") {
    error_class = ErrorClass::rate_limited;
  }
  Error e = provider_sent_error(said.code, message, said.quota, error_class);
  if (!said.quota && error_class == ErrorClass::rate_limited) {
    return Error(e.code(), e.what(), e.error_class(), said.retry_after_ms.value_or(0));
  }
  return e;
}

// Reads one GenerateContentResponse into `progress`; returns its text.
std::string read_response(const boost::json::object& o, LlmProgress& progress) {
  if (const auto* error = object_at(o, "error")) throw status_event_error(*error);
  if (std::string model = string_at(o, "modelVersion"); !model.empty()) progress.model = model;
  if (const auto* usage = object_at(o, "usageMetadata")) {
    if (auto n = integer_at(*usage, "promptTokenCount")) progress.usage.input_tokens = *n;
    if (auto n = integer_at(*usage, "candidatesTokenCount")) progress.usage.output_tokens = *n;
    if (auto n = integer_at(*usage, "totalTokenCount")) progress.usage.total_tokens = *n;
  }
  if (const auto* feedback = object_at(o, "promptFeedback")) {
    // The prompt itself was blocked: no candidates follow.
    if (std::string blocked = string_at(*feedback, "blockReason"); !blocked.empty()) {
      progress.finish_reason = blocked == "OTHER" ? "SAFETY" : blocked;
    }
  }
  std::string text;
  const auto* candidates = array_at(o, "candidates");
  if (!candidates || candidates->empty() || !candidates->front().is_object()) return text;
  const auto& candidate = candidates->front().as_object();
  if (const auto* content = object_at(candidate, "content")) {
    if (const auto* parts = array_at(*content, "parts")) {
      for (const auto& part : *parts) {
        // Thought summaries are not the answer.
        if (!part.is_object()) continue;
        const auto* thought = part.as_object().if_contains("thought");
        if (thought && thought->is_bool() && thought->as_bool()) continue;
        text += string_at(part.as_object(), "text");
      }
    }
  }
  if (std::string reason = string_at(candidate, "finishReason"); !reason.empty()) {
    progress.finish_reason = reason;
  }
  progress.text += text;
  return text;
}

class GeminiDecoder final : public StreamDecoder {
 public:
  std::string on_event(const SseEvent& event, LlmProgress& progress) override {
    auto o = parse_event_object(event.data, kWhere);
    std::string text = read_response(o, progress);
    // No end marker: the response with a finish reason is the last one.
    if (!progress.finish_reason.empty()) progress.done = true;
    return text;
  }
};

class GeminiProtocol final : public Protocol {
 public:
  HttpRequest build(const LlmProviderConfig& provider, const LlmRequest& request,
                    const std::string& model, const std::string& idempotency_key) const override {
    boost::json::array contents;
    std::string system;
    for (const auto& m : request.messages) {
      if (m.role == "system") {
        if (!system.empty()) system += "\n\n";
        system += m.content;
        continue;
      }
      contents.push_back(boost::json::object{
          {"role", m.role == "assistant" ? "model" : "user"},
          {"parts", boost::json::array{boost::json::object{{"text", m.content}}}}});
    }
    boost::json::object config{{"maxOutputTokens", request.max_tokens}};
    if (request.temperature) config["temperature"] = *request.temperature;
    if (auto stop = stop_sequences(request)) config["stopSequences"] = std::move(*stop);
    if (!request.json_schema.is_null()) {
      config["responseMimeType"] = "application/json";
      config["responseSchema"] = request.json_schema;
    }
    boost::json::object body{{"contents", std::move(contents)},
                             {"generationConfig", std::move(config)}};
    if (!system.empty()) {
      body["systemInstruction"] =
          boost::json::object{{"parts", boost::json::array{boost::json::object{{"text", system}}}}};
    }
    merge_extra(body, request.extra);
    // A model named "models/gemini-..." (as the API lists them) is used as it is.
    std::string path = model.rfind("models/", 0) == 0 ? model : "models/" + model;
    HttpRequest http = json_post(
        provider, "https://generativelanguage.googleapis.com",
        "/v1beta/" + path + (request.stream ? ":streamGenerateContent?alt=sse" : ":generateContent"),
        body, request, idempotency_key);
    if (!provider.api_key.empty()) http.headers.emplace_back("x-goog-api-key", provider.api_key);
    return http;
  }

  std::unique_ptr<StreamDecoder> decoder() const override {
    return std::make_unique<GeminiDecoder>();
  }

  LlmProgress parse_body(std::string_view body) const override {
    auto o = parse_event_object(body, "the Gemini response");
    LlmProgress progress;
    read_response(o, progress);
    if (progress.finish_reason.empty()) {
      throw Error(ErrorCode::provider,
                  "the Gemini response has no candidates[0].finishReason (an unfinished answer)",
                  ErrorClass::retryable);
    }
    progress.done = true;
    return progress;
  }

  ProviderErrorBody error_of(std::string_view body) const override {
    boost::system::error_code ec;
    Json value = boost::json::parse(body, ec);
    // Gemini sends [{"error":{...}}] from some endpoints and {"error":{...}} from others.
    if (!ec && value.is_array() && !value.as_array().empty()) value = value.as_array().front();
    if (!ec && value.is_object()) {
      if (const auto* error = object_at(value.as_object(), "error")) {
        ProviderErrorBody out = read_status(*error);
        if (!out.message.empty()) return out;
      }
    }
    ProviderErrorBody out;
    out.message = error_text_of_body(body);
    return out;
  }

  ProviderLimits limits(const HttpResponseHead& /*head*/, int64_t /*now_ms*/) const override {
    return {};  // Gemini sends no rate-limit headers
  }
};

}  // namespace

const Protocol& gemini_protocol() {
  static const GeminiProtocol protocol;
  return protocol;
}

}  // namespace storyloom::detail
