// Protocol: how one kind of provider is spoken to. Builds the HTTP request of
// a chat completion and turns what comes back (an SSE stream, a JSON body, an
// error body, rate-limit headers) into text, usage and errors.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "http/http_client.h"
#include "http/sse_parser.h"
#include "storyloom/llm.h"

namespace storyloom::detail {

// What a response said so far; decoders fill it in.
struct LlmProgress {
  std::string text;
  std::string finish_reason;  // the provider's own word; normalized in the result
  LlmUsage usage;             // total_tokens 0 until the provider says it
  std::string model;          // as the server named it, when it did
  bool done = false;          // the stream said it is complete ([DONE], message_stop)
};

// Receives what a streamed response contains, as it arrives.
class StreamDecoder {
 public:
  virtual ~StreamDecoder() = default;
  // One SSE event. Appends text to `progress` and returns the text delta
  // ("" when the event carried none). Throws Error for an error the provider
  // sent in the stream and for malformed events (both name what was wrong).
  virtual std::string on_event(const SseEvent& event, LlmProgress& progress) = 0;
};

// A provider's rate-limit headers, read off a response.
struct ProviderLimits {
  std::optional<double> requests_left;
  int64_t requests_reset_ms = 0;  // clock time; 0 when not said
  std::optional<double> tokens_left;
  int64_t tokens_reset_ms = 0;
};

// What an error body says, in the provider's words.
struct ProviderErrorBody {
  std::string message;  // the provider's text ("" when the body had none)
  std::string type;     // OpenAI error.type, Anthropic error.type
  std::string code;     // OpenAI error.code, Gemini error.status ("RESOURCE_EXHAUSTED")
  bool quota = false;   // the protocol knows it is an out-of-quota answer
  std::optional<int64_t> retry_after_ms;  // a wait the body asks for (Gemini RetryInfo)
};

class Protocol {
 public:
  virtual ~Protocol() = default;
  virtual HttpRequest build(const LlmProviderConfig& provider, const LlmRequest& request,
                            const std::string& model, const std::string& idempotency_key) const = 0;
  virtual std::unique_ptr<StreamDecoder> decoder() const = 0;
  // A whole non-streamed 2xx body. Throws Error for a malformed one.
  virtual LlmProgress parse_body(std::string_view body) const = 0;
  // What an error body says.
  virtual ProviderErrorBody error_of(std::string_view body) const = 0;
  // The provider's own error message in an error body, or "" when it has none.
  std::string error_message(std::string_view body) const { return error_of(body).message; }
  virtual ProviderLimits limits(const HttpResponseHead& head, int64_t now_ms) const = 0;
};

const Protocol& openai_protocol();
const Protocol& anthropic_protocol();
const Protocol& gemini_protocol();

// Shared by the protocols' build(): `extra` merged into `body` (one level
// deep for objects both have, so {"generationConfig":{"topK":3}} adds to it).
void merge_extra(boost::json::object& body, const Json& extra);

}  // namespace storyloom::detail
