// One request of an http or image step to its provider, in flight: stopped
// like an llm call (kept with them, so a cancel, a step timeout or the end of
// the execution stops every kind alike), its response collected under a size
// limit. Internal to the built-in steps.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "http/http_client.h"
#include "llm/llm_client.h"

namespace storyloom::detail {

class TransferCall final : public LlmCall {
 public:
  void cancel() override;
  // Starts the transfer on `http`; stops it at once when cancel() came first.
  void start(HttpClient& http, HttpRequest request, HttpCallbacks callbacks);
  bool cancelled() const;

 private:
  mutable std::mutex mutex_;
  bool cancelled_ = false;
  std::shared_ptr<HttpTransfer> transfer_;
};

// One attempt's response as it arrives (I/O thread only).
struct CollectedResponse {
  HttpResponseHead head;
  std::string body;
  bool too_large = false;  // the body went over its limit; the transfer was ended
};

// Callbacks that collect the head and the body into `response`; the caller
// sets on_done. A body over `max_body` bytes ends the transfer with
// response->too_large set. Every piece of body calls `alive`: a body that
// keeps coming is alive, whatever its step timeout.
HttpCallbacks collect_response(std::shared_ptr<CollectedResponse> response, size_t max_body,
                               std::function<void()> alive);

}  // namespace storyloom::detail
