// What the fake LLM server reads from a provider request (the prompt), the
// deterministic reply text it makes of it, and how each provider, OpenAI's
// chat completions and Anthropic's messages, puts that text and its errors on
// the wire. FAKE_LLM_SERVER.md describes the text and both shapes.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace storyloom::testing::fake {

enum class Provider { openai, anthropic, gemini };

// What the fake reads from a request.
struct Prompt {
  std::string model;
  bool stream = false;
  bool include_usage = false;  // OpenAI stream_options.include_usage
  std::string last_user_text;
  long long prompt_words = 0;
  // Set by the server, not read from the body:
  std::string api_key;     // the key the request carried (Bearer, x-api-key, x-goog-api-key)
  bool truncated = false;  // the `truncated` scenario: the reply stops at max tokens
  // Structured output: the JSON Schema the request asked for, serialized ("" for text).
  // OpenAI response_format.json_schema.schema, Anthropic's forced tool's
  // input_schema, Gemini generationConfig.responseSchema.
  std::string schema;
};

// The reply of a structured-output request: a JSON value filling `schema`
// (strings "<property> of «<first 20 code points of the prompt>»", numbers
// their minimum or 1, arrays their minItems or 2 items, enums their first
// value), in pieces of about 12 bytes. `wrong`: every string is 7 instead.
std::vector<std::string> schema_reply_pieces(const Prompt& prompt, bool wrong);

// Reads what the fake needs and refuses what a real provider would refuse
// (field messages in the providers' `field: problem` style). Returns the
// problem, or "" and fills `prompt`.
std::string read_prompt(Provider provider, std::string_view body, Prompt& prompt);

// The first `count` words of: Fake reply to: «<first 40 code points of the
// last user message>» then filler words, cycling. The filler holds 2-, 3- and
// 4-byte UTF-8 characters so clients meet multibyte text early.
std::vector<std::string> reply_words(std::string_view last_user_text, size_t count);

// Content chunk `i`: a word, with a leading space after the first (as tokens come).
std::string content_piece(const std::vector<std::string>& words, size_t i);

// The content pieces of `words`, concatenated: the whole reply text.
std::string joined_text(const std::vector<std::string>& words);

// The `fast` scenario's content: the steady clock now, for latency measurement.
std::string timestamp_piece();

struct Usage {
  long long prompt_tokens = 0;
  long long completion_tokens = 0;
};

enum class Failure {
  rate_limited,
  server_error,
  unauthorized,
  bad_request,      // the bad_request scenario's canned max_tokens complaint
  invalid_request,  // a real problem with the request; the message says which
  not_found,
  overloaded,
  quota,     // out of quota or credit; `message` picks the variant (FAKE_LLM_SERVER.md)
  echo_key,  // a 401 whose message is `message` (the key in some spelling)
};

// The HTTP status of a `quota` answer of `variant` for `provider`.
int quota_status(Provider provider, std::string_view variant);

// The provider's JSON error body for `failure`; `message` is the text of an
// invalid_request or not_found error (the others have canned text).
std::string error_body(Provider provider, Failure failure, std::string_view message = "");

// What a provider sends for a successful reply, streamed or whole. Stream
// pieces are whole SSE events with "\n" line ends.
class ProviderFormat {
 public:
  virtual ~ProviderFormat() = default;
  virtual std::vector<std::string> stream_opening() const = 0;
  virtual std::string stream_content(std::string_view piece) const = 0;
  virtual std::vector<std::string> stream_closing(const Usage& usage) const = 0;
  virtual std::string stream_error() const = 0;
  // An event whose JSON is cut off: what a buggy proxy sends.
  virtual std::string stream_malformed() const = 0;
  virtual std::string whole(std::string_view text, const Usage& usage) const = 0;
};

// The format for `provider`; `id` is the completion's or message's id.
std::unique_ptr<ProviderFormat> provider_format(Provider provider, std::string id,
                                                const Prompt& prompt);

}  // namespace storyloom::testing::fake
