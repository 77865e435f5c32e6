// Pieces the protocols share: building a request and reading what providers send.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "http/http_client.h"
#include "storyloom/error.h"
#include "storyloom/json.h"
#include "storyloom/llm.h"

namespace storyloom::detail {

// The JSON object of one stream event's data; throws a retryable
// Error(provider) naming `where` and the parse error when it is not one.
boost::json::object parse_event_object(std::string_view data, std::string_view where);
// o[key] as a string, or "" when absent or not a string.
std::string string_at(const boost::json::object& o, std::string_view key);
// o[key] as an integer, or nullopt when absent or not an integer.
std::optional<int64_t> integer_at(const boost::json::object& o, std::string_view key);
// o[key] as an object, or nullptr.
const boost::json::object* object_at(const boost::json::object& o, std::string_view key);
// {"error":{"message"}}, {"error":"text"}, {"message"} or, for a body that is
// not JSON, its first 300 bytes; "" for an empty body.
std::string error_text_of_body(std::string_view body);
// The request's timeouts, else its provider's, on `http`.
void apply_timeouts(HttpRequest& http, const LlmProviderConfig& provider,
                    const LlmRequest& request);
// An in-stream or whole-body error object as an Error: quota_exceeded (fatal)
// when `quota`, else provider with `error_class`; the text names the type.
Error provider_sent_error(const std::string& type, const std::string& message, bool quota,
                          ErrorClass error_class);
// The body every chat API starts from: {"model", "messages", "max_tokens",
// "stream"} and "temperature" when set.
boost::json::object chat_body(const std::string& model, boost::json::array messages,
                              const LlmRequest& request);
// The request's stop sequences as an array, or nullopt when it has none.
std::optional<boost::json::array> stop_sequences(const LlmRequest& request);
// A JSON POST to `base_url` (else `default_base`, trailing slashes dropped)
// plus `path`: Content-Type, Accept (event stream or JSON), Idempotency-Key,
// the body serialized, the request's timeouts. The caller adds its key header.
HttpRequest json_post(const LlmProviderConfig& provider, std::string_view default_base,
                      std::string_view path, const boost::json::object& body,
                      const LlmRequest& request, const std::string& idempotency_key);
// Header text as a number, or nullopt.
std::optional<double> number_of(std::string_view text);

}  // namespace storyloom::detail
