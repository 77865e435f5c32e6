// LlmClient: one chat completion at a time per call, many calls at once. A
// call waits for its provider's resource (a queued callback, no thread),
// then streams over the shared HttpClient (or the offline generator on the
// same I/O thread), reports text as it arrives, and ends with a result or a
// classified error. Rate-limit answers pause the resource; rate-limit
// headers and reported usage correct its budgets.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/http_client.h"
#include "scheduler/resource_limiter.h"
#include "storyloom/clock.h"
#include "storyloom/llm.h"

namespace storyloom::detail {

class LlmCallState;

class LlmCall {
 public:
  virtual ~LlmCall() = default;
  // Stops the call at once: waiting for the resource or mid-transfer. on_done
  // follows with Error(cancelled) unless the call already ended. Any thread.
  virtual void cancel() = 0;
};

struct LlmCallbacks {
  // The resource held the call back (it was not admitted at once).
  std::function<void(const std::string& resource)> on_waiting;
  // Admitted: the request is being sent to `provider` for `model`.
  std::function<void(const std::string& provider, const std::string& model)> on_start;
  // Text as it streams in, in order (complete UTF-8 characters).
  std::function<void(std::string_view text)> on_text;
  // Exactly once: a result or an error.
  std::function<void(std::optional<LlmResult> result, std::optional<Error> error)> on_done;
};

class LlmClient {
 public:
  // Providers from `options` (and the environment when it says so, read
  // through `getenv`); every provider's resource is created in `limiter`
  // unless configured already, so a rate-limit pause has somewhere to live.
  LlmClient(const LlmOptions& options, ResourceLimiter& limiter, std::shared_ptr<Clock> clock,
            const std::function<const char*(const char*)>& getenv);
  ~LlmClient();  // close()
  // Stops every call (Error(closed)) and the I/O thread. Idempotent.
  void close();

  // The provider a request naming `name` ("" for the default) goes to.
  // Throws Error(not_found) naming the configured providers.
  const LlmProviderConfig& provider(const std::string& name) const;
  // {"default", "providers":[{"name","kind","base_url","model","resource","has_key"}]}; no keys.
  Json describe() const;
  // The model a request goes to: its own, else its provider's.
  std::string model_for(const LlmRequest& request) const;

  // Starts a call (the request must be valid: validate(LlmRequest)). The
  // callbacks run on the limiter's or the I/O thread, or on this thread
  // before call() returns when the call ends at once. Throws Error(closed)
  // after close().
  std::shared_ptr<LlmCall> call(const LlmRequest& request, std::string idempotency_key,
                                LlmCallbacks callbacks);

  // The HTTP client its calls use, started on first use; the http step
  // shares it, so close() stops those transfers too (on_done(cancelled)).
  HttpClient& http();

 private:
  friend class LlmCallState;

  std::vector<LlmProviderConfig> providers_;
  std::string default_provider_;
  std::vector<std::string> secrets_;  // every provider's key, redacted from every error
  ResourceLimiter& limiter_;
  std::shared_ptr<Clock> clock_;
  std::mutex http_mutex_;
  std::unique_ptr<HttpClient> http_;  // started by the first call that needs it
  bool closed_ = false;
  std::mutex calls_mutex_;
  std::vector<std::weak_ptr<LlmCallState>> live_calls_;  // for close()
};

}  // namespace storyloom::detail
