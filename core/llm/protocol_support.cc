#include "llm/protocol_support.h"

#include <cmath>
#include <cstdlib>

#include "engine/validate.h"
#include "llm/protocol.h"

namespace storyloom::detail {
namespace {

// At most `limit` bytes of `text`, cut before a character, not inside one.
std::string utf8_prefix(std::string_view text, size_t limit) {
  if (text.size() <= limit) return std::string(text);
  size_t cut = limit;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return std::string(text.substr(0, cut));
}

}  // namespace

boost::json::object parse_event_object(std::string_view data, std::string_view where) {
  boost::system::error_code ec;
  Json value = boost::json::parse(data, ec);
  if (ec || !value.is_object()) {
    std::string start = utf8_prefix(data, 80);
    if (!is_valid_utf8(start)) start = "(not UTF-8)";
    throw Error(ErrorCode::provider,
                std::string(where) + " sent an event that is not a JSON object (" +
                    (ec ? ec.message() : std::string("not an object")) + "): " + start,
                ErrorClass::retryable);
  }
  return std::move(value.as_object());
}

std::string string_at(const boost::json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

std::optional<int64_t> integer_at(const boost::json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (!v) return std::nullopt;
  if (v->is_int64()) return v->as_int64();
  if (v->is_uint64()) return static_cast<int64_t>(v->as_uint64());
  if (v->is_double()) return static_cast<int64_t>(v->as_double());
  return std::nullopt;
}

const boost::json::object* object_at(const boost::json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_object() ? &v->as_object() : nullptr;
}

std::string error_text_of_body(std::string_view body) {
  if (body.empty()) return {};
  boost::system::error_code ec;
  Json value = boost::json::parse(body, ec);
  if (!ec && value.is_object()) {
    const auto& o = value.as_object();
    if (const auto* e = o.if_contains("error")) {
      if (e->is_string()) return std::string(e->as_string());
      if (e->is_object()) {
        std::string message = string_at(e->as_object(), "message");
        if (!message.empty()) return message;
      }
    }
    std::string message = string_at(o, "message");
    if (!message.empty()) return message;
  }
  std::string start = utf8_prefix(body, 300);
  return is_valid_utf8(start) ? start : std::string("(a body that is not UTF-8)");
}

void apply_timeouts(HttpRequest& http, const LlmProviderConfig& provider,
                    const LlmRequest& request) {
  http.connect_timeout = provider.connect_timeout;
  http.idle_timeout = request.idle_timeout.value_or(provider.idle_timeout);
  http.total_timeout = request.total_timeout.value_or(std::chrono::milliseconds(0));
}

Error provider_sent_error(const std::string& type, const std::string& message, bool quota,
                          ErrorClass error_class) {
  std::string text = "the provider sent an error in the stream" +
                     (type.empty() ? std::string() : " (" + type + ")") + ": " + message;
  if (quota) {
    return Error(ErrorCode::quota_exceeded,
                 "the provider account is out of quota or credit; " + text, ErrorClass::fatal);
  }
  return Error(ErrorCode::provider, text, error_class);
}

void merge_extra(boost::json::object& body, const Json& extra) {
  if (!extra.is_object()) return;
  for (const auto& [key, value] : extra.as_object()) {
    auto* mine = body.if_contains(key);
    if (mine && mine->is_object() && value.is_object()) {
      for (const auto& [inner, v] : value.as_object()) mine->as_object()[inner] = v;
    } else {
      body[key] = value;
    }
  }
}

std::optional<double> number_of(std::string_view text) {
  std::string s(text);
  if (s.empty()) return std::nullopt;
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (!end || *end != '\0' || !std::isfinite(v)) return std::nullopt;
  return v;
}

boost::json::object chat_body(const std::string& model, boost::json::array messages,
                              const LlmRequest& request) {
  boost::json::object body{{"model", model},
                           {"messages", std::move(messages)},
                           {"max_tokens", request.max_tokens},
                           {"stream", request.stream}};
  if (request.temperature) body["temperature"] = *request.temperature;
  return body;
}

std::optional<boost::json::array> stop_sequences(const LlmRequest& request) {
  if (request.stop.empty()) return std::nullopt;
  boost::json::array stop;
  for (const auto& s : request.stop) stop.emplace_back(s);
  return stop;
}

HttpRequest json_post(const LlmProviderConfig& provider, std::string_view default_base,
                      std::string_view path, const boost::json::object& body,
                      const LlmRequest& request, const std::string& idempotency_key) {
  HttpRequest http;
  std::string base = provider.base_url.empty() ? std::string(default_base) : provider.base_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  http.url = base + std::string(path);
  http.headers = {{"Content-Type", "application/json"},
                  {"Accept", request.stream ? "text/event-stream" : "application/json"},
                  {"Idempotency-Key", idempotency_key}};
  http.body = boost::json::serialize(body);
  apply_timeouts(http, provider, request);
  return http;
}

}  // namespace storyloom::detail
