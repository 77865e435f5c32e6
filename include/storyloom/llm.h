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

namespace storyloom {

enum class LlmProviderKind {
  openai,     // POST {base_url}/chat/completions, Authorization: Bearer
  anthropic,  // POST {base_url}/v1/messages, x-api-key
  offline,    // no network: text built from the prompt
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
// ANTHROPIC_MODEL), and always offline. A provider with a base URL but no key
// (a local server) is configured too. `getenv` is injectable for tests.
std::vector<LlmProviderConfig> llm_providers_from_environment(
    const std::function<const char*(const char*)>& getenv);

struct LlmMessage {
  std::string role;  // system, user or assistant
  std::string content;
};

struct LlmRequest {
  std::string provider;               // "" → the engine's default provider
  std::string model;                  // "" → the provider's model
  std::vector<LlmMessage> messages;   // at least one user message
  int max_tokens = 1024;              // 1 .. 1,000,000
  std::optional<double> temperature;  // 0 .. 2
  bool stream = true;                 // token text becomes chunk events of `stream_name`
  std::string stream_name;            // "" → the step's name
};

struct LlmUsage {
  int64_t input_tokens = 0;
  int64_t output_tokens = 0;
};

// What the llm step stores and returns.
struct LlmResult {
  std::string text;
  std::string
      finish_reason;  // stop, length, ... as the provider said (Anthropic's end_turn is "stop")
  LlmUsage usage;
  std::string provider;
  std::string model;
};

// Requests and results cross the C ABI as JSON:
// request {"provider","model","messages":[{"role","content"}],"max_tokens",
//          "temperature","stream","stream_name"} (all but messages optional);
// result {"text","finish_reason","usage":{"input_tokens","output_tokens"},"provider","model"}.
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
