// WebhookDispatcher: reads every committed event (from a cursor kept in the
// store), starts one delivery run per matching subscription and event, and
// performs the delivery attempts of those runs. One per engine, created by
// the first Engine::configure_webhooks and stopped at the start of close().
#pragma once

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include "http/http_client.h"
#include "storyloom/context.h"
#include "storyloom/webhooks.h"

namespace storyloom::detail {

class EngineCore;

class WebhookDispatcher {
 public:
  explicit WebhookDispatcher(EngineCore& core);
  ~WebhookDispatcher();  // stop()

  // Replaces the subscriptions and policy (validated first: Error
  // invalid_argument naming the field); the first call starts reading events.
  void configure(WebhookOptions options);
  // Stops reading events and aborts attempts in flight (their runs are
  // attempted again by the next engine). Idempotent.
  void stop();

  // The body of the built-in delivery workflow (kWebhookWorkflow).
  Json deliver(Context& ctx, const Json& input);

 private:
  void loop();
  // Reads the next events after the cursor and starts their deliveries;
  // returns whether a full page was read (more may be waiting).
  bool scan_once();
  std::string workflow_of(const std::string& run_id);
  Json attempt(Context& ctx, const Json& input);

  EngineCore& core_;
  HttpClient http_;
  std::mutex mutex_;
  std::condition_variable wake_;
  WebhookOptions options_;
  bool started_ = false;
  bool stopping_ = false;
  std::thread thread_;
  int64_t cursor_ = 0;
  std::unordered_map<std::string, std::string> workflows_;  // run id -> workflow (cache)
};

// Throws Error(invalid_argument) naming the field of the first bad subscription.
void validate(const WebhookOptions& options);

// The cursor's name in the store.
inline constexpr const char* kWebhookCursor = "webhooks";

}  // namespace storyloom::detail
