// How a provider's answers become storyloom errors (docs/design.md, LLM and HTTP):
// 401/403 fatal, 400 and other 4xx fatal with the provider's message,
// 408/409/425/429/5xx and broken connections retryable, 429 rate-limited with
// its Retry-After. Every message names the provider and model and is scrubbed
// of the API key.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/http_client.h"
#include "llm/protocol.h"
#include "storyloom/error.h"
#include "storyloom/llm.h"

namespace storyloom::detail {

// "openai (gpt-4o-mini)": how messages name the call.
std::string call_label(const LlmProviderConfig& provider, const std::string& model);

// The error of a response with a non-2xx status; `body` is what the error
// body said. Out-of-quota answers (OpenAI 429 insufficient_quota, a 402,
// Anthropic billing_error or a credit/usage-limit 400/403, Gemini's quota
// RESOURCE_EXHAUSTED) are ErrorCode::quota_exceeded, class fatal.
Error status_error(const LlmProviderConfig& provider, const std::string& model, long status,
                   const ProviderErrorBody& body, std::optional<int64_t> retry_after_ms);
// The same for a body that said only `provider_message`.
inline Error status_error(const LlmProviderConfig& provider, const std::string& model, long status,
                          std::string_view provider_message,
                          std::optional<int64_t> retry_after_ms) {
  ProviderErrorBody body;
  body.message = std::string(provider_message);
  return status_error(provider, model, status, body, retry_after_ms);
}
inline Error status_error(const LlmProviderConfig& provider, const std::string& model, long status,
                          const char* provider_message, std::optional<int64_t> retry_after_ms) {
  return status_error(provider, model, status, std::string_view(provider_message), retry_after_ms);
}
// True for an answer that means the account is out of quota or credit.
bool is_quota_answer(long status, const ProviderErrorBody& body);
// The error of a transfer that did not complete (kind other than completed).
Error transfer_error(const LlmProviderConfig& provider, const std::string& model,
                     const HttpOutcome& outcome);

// How long the response asks to wait: `retry-after-ms` (milliseconds), else
// `Retry-After` as seconds or an HTTP date. nullopt when neither is usable.
std::optional<int64_t> retry_after_ms(const HttpResponseHead& head, int64_t now_ms);

// Durations as OpenAI's x-ratelimit-reset-* headers write them: "1s", "6m0s",
// "20ms", "1.5s", "2h3m"; nullopt when malformed.
std::optional<int64_t> parse_go_duration_ms(std::string_view text);
// IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") as ms since the epoch.
std::optional<int64_t> parse_http_date_ms(std::string_view text);
// RFC 3339 ("2024-05-01T12:00:00Z", fractions and offsets allowed) as ms since the epoch.
std::optional<int64_t> parse_rfc3339_ms(std::string_view text);

// `text` with the key replaced by "[redacted]" in every spelling that can
// come back: raw, in any letter case, URL-encoded, base64 (alone or inside a
// base64 `user:key` credential), and any prefix of 12 characters or more
// (the whole key when shorter); plus anything shaped like a provider key
// (sk-..., sk-proj-..., sk-ant-..., sk-or-..., AIza...).
std::string redact(std::string text, const std::string& api_key);
// The same for several secrets (every key the client was configured with).
std::string redact(std::string text, const std::vector<std::string>& secrets);

}  // namespace storyloom::detail
