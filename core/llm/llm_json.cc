// LlmRequest and LlmResult as JSON (the C ABI's shapes) and their checks.
#include <cmath>
#include <sstream>

#include "engine/validate.h"
#include "storyloom/llm.h"

namespace storyloom {
namespace {

Error bad(const std::string& what) {
  return Error(ErrorCode::invalid_argument, "llm request: " + what, ErrorClass::fatal);
}

const boost::json::value* member(const boost::json::object& o, const char* key) {
  const auto* v = o.if_contains(key);
  return v && !v->is_null() ? v : nullptr;
}

std::string string_member(const boost::json::object& o, const char* key, const char* where) {
  const auto* v = member(o, key);
  if (!v) return {};
  if (!v->is_string()) throw bad(std::string(where) + key + " must be a string");
  return std::string(v->as_string());
}

int64_t integer_member(const boost::json::object& o, const char* key, int64_t fallback,
                       const char* where) {
  const auto* v = member(o, key);
  if (!v) return fallback;
  if (v->is_int64()) return v->as_int64();
  if (v->is_uint64() && v->as_uint64() <= static_cast<uint64_t>(INT64_MAX)) {
    return static_cast<int64_t>(v->as_uint64());
  }
  if (v->is_double() && std::floor(v->as_double()) == v->as_double() &&
      std::fabs(v->as_double()) < 9e15) {
    return static_cast<int64_t>(v->as_double());
  }
  throw bad(std::string(where) + key + " must be an integer, got " + boost::json::serialize(*v));
}

// Fields the request itself fills in; `extra` may not replace them.
constexpr const char* kReservedExtra[] = {
    "model", "messages", "stream", "stream_options", "contents", "systemInstruction", "system"};

constexpr int64_t kMaxRequestTimeoutMs = 24LL * 3600 * 1000;
constexpr size_t kMaxStopSequences = 16;
constexpr size_t kMaxStopBytes = 256;

}  // namespace

std::string normalized_finish_reason(const std::string& raw) {
  static const std::pair<const char*, const char*> kReasons[] = {
      // OpenAI-compatible
      {"stop", "stop"},
      {"length", "length"},
      {"content_filter", "content_filter"},
      {"tool_calls", "tool_calls"},
      {"function_call", "tool_calls"},
      {"error", "error"},
      // Anthropic
      {"end_turn", "stop"},
      {"stop_sequence", "stop"},
      {"pause_turn", "stop"},
      {"max_tokens", "length"},
      {"model_context_window_exceeded", "length"},
      {"tool_use", "tool_calls"},
      {"refusal", "content_filter"},
      // Gemini
      {"STOP", "stop"},
      {"MAX_TOKENS", "length"},
      {"SAFETY", "content_filter"},
      {"RECITATION", "content_filter"},
      {"BLOCKLIST", "content_filter"},
      {"PROHIBITED_CONTENT", "content_filter"},
      {"SPII", "content_filter"},
      {"IMAGE_SAFETY", "content_filter"},
      {"LANGUAGE", "content_filter"},
      {"MALFORMED_FUNCTION_CALL", "error"},
      {"OTHER", "error"},
  };
  if (raw.empty()) return "stop";
  for (const auto& [from, to] : kReasons) {
    if (raw == from) return to;
  }
  return "error";  // a reason this version does not know; stop_reason keeps the provider's word
}

RetryPolicy default_llm_retry_policy() {
  RetryPolicy p;
  p.max_attempts = 3;
  p.initial_backoff = std::chrono::milliseconds(1000);
  p.multiplier = 2.0;
  p.max_backoff = std::chrono::milliseconds(30000);
  p.jitter = true;
  return p;
}

Json to_json(const LlmRequest& r) {
  boost::json::array messages;
  for (const auto& m : r.messages) {
    messages.push_back(boost::json::object{{"role", m.role}, {"content", m.content}});
  }
  boost::json::object o{
      {"provider", r.provider},     {"model", r.model},   {"messages", std::move(messages)},
      {"max_tokens", r.max_tokens}, {"stream", r.stream}, {"stream_name", r.stream_name}};
  o["temperature"] = r.temperature ? Json(*r.temperature) : Json(nullptr);
  if (!r.stop.empty()) {
    boost::json::array stop;
    for (const auto& s : r.stop) stop.emplace_back(s);
    o["stop"] = std::move(stop);
  }
  if (r.idle_timeout) o["idle_timeout_ms"] = r.idle_timeout->count();
  if (r.total_timeout) o["total_timeout_ms"] = r.total_timeout->count();
  if (!r.extra.is_null()) o["extra"] = r.extra;
  if (!r.json_schema.is_null()) o["json_schema"] = r.json_schema;
  return o;
}

Json to_json(const LlmResult& r) {
  boost::json::object o{{"text", r.text},
                        {"finish_reason", r.finish_reason},
                        {"stop_reason", r.stop_reason},
                        {"truncated", r.truncated},
                        {"usage",
                         {{"input_tokens", r.usage.input_tokens},
                          {"output_tokens", r.usage.output_tokens},
                          {"total_tokens", r.usage.total_tokens}}},
                        {"provider", r.provider},
                        {"model", r.model}};
  if (!r.json.is_null()) o["json"] = r.json;
  return o;
}

LlmRequest llm_request_from_json(const Json& json) {
  if (!json.is_object()) throw bad("must be a JSON object, got " + boost::json::serialize(json));
  const auto& o = json.as_object();
  static const char* kKnown[] = {
      "provider",    "model", "messages",        "max_tokens",       "temperature", "stream",
      "stream_name", "stop",  "idle_timeout_ms", "total_timeout_ms", "extra",       "json_schema"};
  for (const auto& [key, value] : o) {
    bool known = false;
    for (const char* k : kKnown) known = known || key == k;
    if (!known) {
      throw bad("unknown field '" + std::string(key) +
                "' (known: provider, model, messages, max_tokens, temperature, stream, "
                "stream_name, stop, idle_timeout_ms, total_timeout_ms, extra, json_schema)");
    }
  }
  LlmRequest r;
  r.provider = string_member(o, "provider", "");
  r.model = string_member(o, "model", "");
  r.stream_name = string_member(o, "stream_name", "");
  const auto* messages = member(o, "messages");
  if (!messages) throw bad("messages is missing");
  if (!messages->is_array()) throw bad("messages must be an array");
  size_t i = 0;
  for (const auto& m : messages->as_array()) {
    std::string where = "messages[" + std::to_string(i++) + "].";
    if (!m.is_object()) throw bad(where.substr(0, where.size() - 1) + " must be an object");
    LlmMessage message;
    message.role = string_member(m.as_object(), "role", where.c_str());
    message.content = string_member(m.as_object(), "content", where.c_str());
    if (!m.as_object().if_contains("content") || !m.as_object().at("content").is_string()) {
      throw bad(where + "content must be a string");
    }
    r.messages.push_back(std::move(message));
  }
  int64_t max_tokens = integer_member(o, "max_tokens", r.max_tokens, "");
  if (max_tokens < 1 || max_tokens > 1'000'000) {
    throw bad("max_tokens must be between 1 and 1000000, got " + std::to_string(max_tokens));
  }
  r.max_tokens = static_cast<int>(max_tokens);
  if (const auto* t = member(o, "temperature")) {
    if (!t->is_number()) throw bad("temperature must be a number");
    r.temperature = t->to_number<double>();
  }
  if (const auto* s = member(o, "stream")) {
    if (!s->is_bool()) throw bad("stream must be true or false");
    r.stream = s->as_bool();
  }
  if (const auto* stop = member(o, "stop")) {
    if (stop->is_string()) {
      r.stop.emplace_back(stop->as_string());
    } else if (stop->is_array()) {
      size_t n = 0;
      for (const auto& item : stop->as_array()) {
        if (!item.is_string()) {
          throw bad("stop[" + std::to_string(n) + "] must be a string, got " +
                    boost::json::serialize(item));
        }
        r.stop.emplace_back(item.as_string());
        ++n;
      }
    } else {
      throw bad("stop must be a string or an array of strings");
    }
  }
  for (auto [key, field] : {std::pair{"idle_timeout_ms", &r.idle_timeout},
                            std::pair{"total_timeout_ms", &r.total_timeout}}) {
    if (member(o, key)) *field = std::chrono::milliseconds(integer_member(o, key, 0, ""));
  }
  if (const auto* extra = member(o, "extra")) r.extra = *extra;
  if (const auto* schema = member(o, "json_schema")) r.json_schema = *schema;
  validate(r);
  return r;
}

LlmResult llm_result_from_json(const Json& json) {
  auto fail = [](const std::string& what) {
    return Error(ErrorCode::invalid_argument, "llm result: " + what);
  };
  if (!json.is_object()) throw fail("must be a JSON object");
  const auto& o = json.as_object();
  LlmResult r;
  auto text = [&](const char* key) -> std::string {
    const auto* v = o.if_contains(key);
    if (!v || !v->is_string()) throw fail(std::string(key) + " must be a string");
    return std::string(v->as_string());
  };
  r.text = text("text");
  r.finish_reason = text("finish_reason");
  r.provider = text("provider");
  r.model = text("model");
  // Results stored by earlier versions have no stop_reason, truncated or total_tokens.
  if (const auto* v = o.if_contains("stop_reason")) {
    if (!v->is_string()) throw fail("stop_reason must be a string");
    r.stop_reason = std::string(v->as_string());
  }
  if (const auto* v = o.if_contains("truncated")) {
    if (!v->is_bool()) throw fail("truncated must be true or false");
    r.truncated = v->as_bool();
  } else {
    r.truncated = r.finish_reason == "length";
  }
  if (const auto* v = o.if_contains("json")) r.json = *v;
  const auto* usage = o.if_contains("usage");
  if (!usage || !usage->is_object()) throw fail("usage must be an object");
  for (auto [key, field] : {std::pair{"input_tokens", &r.usage.input_tokens},
                            std::pair{"output_tokens", &r.usage.output_tokens}}) {
    const auto* v = usage->as_object().if_contains(key);
    if (!v || !v->is_int64()) throw fail(std::string("usage.") + key + " must be an integer");
    *field = v->as_int64();
  }
  if (const auto* v = usage->as_object().if_contains("total_tokens")) {
    if (!v->is_int64()) throw fail("usage.total_tokens must be an integer");
    r.usage.total_tokens = v->as_int64();
  } else {
    r.usage.total_tokens = r.usage.input_tokens + r.usage.output_tokens;
  }
  return r;
}

void validate(const LlmRequest& r) {
  if (r.messages.empty()) throw bad("messages must not be empty");
  bool has_user = false;
  for (size_t i = 0; i < r.messages.size(); ++i) {
    const auto& m = r.messages[i];
    std::string where = "messages[" + std::to_string(i) + "]";
    if (m.role != "system" && m.role != "user" && m.role != "assistant") {
      throw bad(where + ".role must be system, user or assistant, got '" + m.role + "'");
    }
    has_user = has_user || m.role == "user";
    detail::check_utf8("llm request: " + where + ".content", m.content);
  }
  if (!has_user) throw bad("messages need at least one user message");
  if (r.max_tokens < 1 || r.max_tokens > 1'000'000) {
    throw bad("max_tokens must be between 1 and 1000000, got " + std::to_string(r.max_tokens));
  }
  if (r.temperature && !(*r.temperature >= 0 && *r.temperature <= 2)) {
    std::ostringstream shown;
    shown << *r.temperature;
    throw bad("temperature must be between 0 and 2, got " + shown.str());
  }
  if (!r.provider.empty()) detail::check_name("llm request: provider", r.provider);
  // Model names can be long ("org/some-model-GGUF:Q4_K_M") but are names all the same.
  if (!r.model.empty()) {
    detail::check_key("llm request: model", r.model);
    detail::check_utf8("llm request: model", r.model);
    for (unsigned char c : r.model) {
      if (c < 0x20 || c == 0x7f) throw bad("model must not contain control characters");
    }
  }
  if (!r.stream_name.empty()) detail::check_name("llm request: stream_name", r.stream_name);
  if (r.stop.size() > kMaxStopSequences) {
    throw bad("stop has " + std::to_string(r.stop.size()) + " sequences; at most " +
              std::to_string(kMaxStopSequences));
  }
  for (size_t i = 0; i < r.stop.size(); ++i) {
    std::string where = "stop[" + std::to_string(i) + "]";
    if (r.stop[i].empty() || r.stop[i].size() > kMaxStopBytes) {
      throw bad(where + " must be 1 to " + std::to_string(kMaxStopBytes) + " bytes, got " +
                std::to_string(r.stop[i].size()));
    }
    detail::check_utf8("llm request: " + where, r.stop[i]);
  }
  for (auto [name, value] : {std::pair{"idle_timeout_ms", r.idle_timeout},
                             std::pair{"total_timeout_ms", r.total_timeout}}) {
    if (value && (value->count() < 1 || value->count() > kMaxRequestTimeoutMs)) {
      throw bad(std::string(name) + " must be between 1 and " +
                std::to_string(kMaxRequestTimeoutMs) + " (24 h), got " +
                std::to_string(value->count()));
    }
  }
  if (!r.json_schema.is_null() && !r.json_schema.is_object()) {
    throw bad("json_schema must be a JSON object (a JSON Schema), got " +
              boost::json::serialize(r.json_schema));
  }
  if (!r.extra.is_null()) {
    if (!r.extra.is_object()) {
      throw bad("extra must be a JSON object, got " + boost::json::serialize(r.extra));
    }
    for (const char* key : kReservedExtra) {
      if (r.extra.as_object().contains(key)) {
        throw bad(std::string("extra must not set '") + key +
                  "' (the request sets it; use the request's own field)");
      }
    }
  }
}

}  // namespace storyloom
