// The built-in llm step: a chat completion from an OpenAI-compatible server
// (OpenAI, OpenRouter, vLLM, llama.cpp, Ollama, ...) or Anthropic's Messages
// API, streamed token by token as chunk events, admitted through the
// provider's resource (storyloom/resource.h), retried and memoized like any
// step. An `offline` provider writes deterministic text from the prompt — not
// a language model — so demos and tests need no key and no network.
//
// API keys are sent as request headers and nowhere else: they never appear in
// an event, a step result, an error message, a log line or the store.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "storyloom/error.h"
#include "storyloom/json.h"
#include "storyloom/retry.h"

namespace storyloom {

enum class LlmProviderKind {
  openai,     // POST {base_url}/chat/completions, Authorization: Bearer
  anthropic,  // POST {base_url}/v1/messages, x-api-key
  offline,    // no network: text built from the prompt
  gemini,     // POST {base_url}/v1beta/models/{model}:streamGenerateContent?alt=sse, x-goog-api-key
};

struct LlmProviderConfig {
  std::string
      name;  // what requests call it: "openai", "openrouter", "anthropic", "offline", "local", ...
  LlmProviderKind kind = LlmProviderKind::openai;
  std::string base_url;  // "" → the kind's public endpoint (OpenAI's or Anthropic's)
  std::string api_key;   // required for openai and anthropic kinds at a public endpoint
  std::string model;     // the model when a request names none (offline: "offline-placeholder")
  std::string resource;  // the resource its requests use; "" → "llm:<name>"
  std::chrono::milliseconds connect_timeout{10000};
  std::chrono::milliseconds idle_timeout{
      60000};  // no byte from the server this long: retryable error
  std::chrono::milliseconds offline_word_delay{0};  // offline: pause between streamed words
};

struct LlmOptions {
  // Added to those read from the environment; one with the same name replaces it.
  std::vector<LlmProviderConfig> providers;
  // The provider of requests that name none. "" → $STORYLOOM_LLM_PROVIDER,
  // else the first of openai, openrouter, anthropic that has a key, else offline.
  std::string default_provider;
  bool use_environment = true;
};

// The providers the environment configures: openai (OPENAI_API_KEY,
// OPENAI_BASE_URL, OPENAI_MODEL), openrouter (OPENROUTER_API_KEY,
// OPENROUTER_MODEL), anthropic (ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL,
// ANTHROPIC_MODEL), gemini (GEMINI_API_KEY, else GOOGLE_API_KEY; GEMINI_BASE_URL,
// GEMINI_MODEL), and always offline. A provider with a base URL but no key
// (a local server) is configured too. `getenv` is injectable for tests.
std::vector<LlmProviderConfig> llm_providers_from_environment(
    const std::function<const char*(const char*)>& getenv);

struct LlmMessage {
  std::string role;  // system, user or assistant
  std::string content;
};

struct LlmRequest {
  std::string provider;                    // "" → the engine's default provider
  std::string model;                       // "" → the provider's model
  std::vector<LlmMessage> messages;        // at least one user message
  int max_tokens = 1024;                   // 1 .. 1,000,000
  std::optional<double> temperature = {};  // 0 .. 2
  bool stream = true;                      // token text becomes chunk events of `stream_name`
  std::string stream_name;                 // "" → the step's name
  std::vector<std::string> stop;           // stop sequences: at most 16, each 1..256 bytes of UTF-8
  // This request's timeouts, replacing its provider's idle_timeout: no byte
  // for that long, or the whole request over that long, fails the attempt
  // with ErrorCode::timeout (retried per the step's policy). 1 ms .. 24 h.
  std::optional<std::chrono::milliseconds> idle_timeout = {};
  std::optional<std::chrono::milliseconds> total_timeout = {};
  // Provider-specific fields merged into the request body as they are (for
  // example {"top_p":0.9} or {"safetySettings":[...]}); null or an object.
  // A key the request sets itself (model, messages, stream, ...) is refused.
  Json extra = nullptr;
  // Structured output: a JSON Schema (an object) the answer must match. Sent
  // as OpenAI's response_format json_schema, an Anthropic tool the model is
  // made to call, Gemini's responseSchema; the offline provider fills it
  // deterministically. The answer is parsed into LlmResult::json; one that is
  // not JSON or does not match fails the attempt with a retryable error
  // naming the mismatch. null: free text.
  Json json_schema = nullptr;
};

struct LlmUsage {
  int64_t input_tokens = 0;   // prompt tokens
  int64_t output_tokens = 0;  // completion tokens
  int64_t total_tokens = 0;   // as the provider said, else input + output
};

// What the llm step stores and returns.
struct LlmResult {
  std::string text;
  // Normalized: stop, length, content_filter, tool_calls or error.
  std::string finish_reason;
  LlmUsage usage;
  std::string provider;
  std::string model;
  // The provider's own word ("end_turn", "max_tokens", "MAX_TOKENS", "stop", ...).
  std::string stop_reason = {};
  // The answer was cut off (finish_reason "length"): it is stored and
  // returned as it is, never retried; a caller that needs the whole answer
  // asks again with a larger max_tokens.
  bool truncated = false;
  // The answer parsed, when the request had a json_schema (null otherwise,
  // and when truncated: a cut-off answer is not checked).
  Json json = nullptr;
};

// The finish_reason of a provider's stop reason (any provider's spelling).
std::string normalized_finish_reason(const std::string& provider_reason);

// The retry policy of an llm step when neither the step nor its workflow sets
// one: 3 attempts, backoff 1 s then 2 s (x2, at most 30 s) with full jitter, a
// rate-limited answer's Retry-After replacing the backoff. Fatal errors
// (bad key, bad request, quota_exceeded) are never retried. Turn retries off
// for a step with RetryPolicy{} (max_attempts 1).
RetryPolicy default_llm_retry_policy();

// Requests and results cross the C ABI as JSON:
// request {"provider","model","messages":[{"role","content"}],"max_tokens",
//          "temperature","stream","stream_name","stop":[..],"idle_timeout_ms",
//          "total_timeout_ms","extra":{..},"json_schema":{..}} (all but messages optional);
// result {"text","finish_reason","stop_reason","truncated",
//         "usage":{"input_tokens","output_tokens","total_tokens"},"provider","model",
//         "json" (only when the request had a json_schema)}
// (a stored result from an older version, without stop_reason, truncated or
// total_tokens, still reads).
Json to_json(const LlmRequest& request);
Json to_json(const LlmResult& result);
// Throw Error(invalid_argument) naming the field that is missing or wrong.
LlmRequest llm_request_from_json(const Json& json);
LlmResult llm_result_from_json(const Json& json);
// Throws Error(invalid_argument) naming what is wrong: no messages, an unknown
// role, no user message, max_tokens or temperature out of range, a provider or
// stream name that is not a valid name (1-128 bytes of UTF-8, no control
// characters), a model over 256 bytes, not UTF-8 or with control characters.
void validate(const LlmRequest& request);

// How one llm step call ended, given to its callback exactly once.
struct LlmOutcome {
  std::optional<LlmResult> result;  // set on success (memoized or fresh)
  std::optional<Error> error;       // set on failure
  bool memoized = false;            // the result was stored by an earlier execution
  // The failure will be retried per the step's policy: the run is requeued
  // once this execution finishes (unwind the workflow and call any finish_*).
  bool will_retry = false;
};

using LlmCallback = std::function<void(LlmOutcome outcome)>;

}  // namespace storyloom
