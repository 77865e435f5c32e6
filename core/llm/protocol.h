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
  std::string finish_reason;
  LlmUsage usage;
  std::string model;  // as the server named it, when it did
  bool done = false;  // the stream said it is complete ([DONE], message_stop)
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

class Protocol {
 public:
  virtual ~Protocol() = default;
  virtual HttpRequest build(const LlmProviderConfig& provider, const LlmRequest& request,
                            const std::string& model, const std::string& idempotency_key) const = 0;
  virtual std::unique_ptr<StreamDecoder> decoder() const = 0;
  // A whole non-streamed 2xx body. Throws Error for a malformed one.
  virtual LlmProgress parse_body(std::string_view body) const = 0;
  // The provider's own error message in an error body, or "" when it has none.
  virtual std::string error_message(std::string_view body) const = 0;
  virtual ProviderLimits limits(const HttpResponseHead& head, int64_t now_ms) const = 0;
};

const Protocol& openai_protocol();
const Protocol& anthropic_protocol();

}  // namespace storyloom::detail
