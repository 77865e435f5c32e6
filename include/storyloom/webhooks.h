// Webhooks: signed HTTP notifications of what runs do (outbound), and checks
// for signed notifications other systems send in (inbound). Both follow the
// Standard Webhooks conventions (https://www.standardwebhooks.com):
// `webhook-id`, `webhook-timestamp` (Unix seconds) and `webhook-signature`
// ("v1,<base64 HMAC-SHA256 of id.timestamp.body>", space-separated when
// several), HMAC keys given as "whsec_<base64>" or as plain text.
//
// Where secrets live: in the host's memory only. Subscriptions (with their
// secrets) are handed to Engine::configure_webhooks by the host at every open,
// typically from its environment, like LLM API keys. The store keeps each
// delivery (a run of the built-in workflow "storyloom.webhook") with the
// subscription's id, never its URL's secret or its HMAC key; no event, error
// or log line holds a secret.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storyloom/json.h"
#include "storyloom/retry.h"
#include "storyloom/run.h"

namespace storyloom {

// The workflow every delivery is a run of; its runs' owner is
// "webhook:<subscription id>", their idempotency key
// "webhook:<subscription id>:<event id>" (one delivery per event and
// subscription, however often the events are read).
inline constexpr const char* kWebhookWorkflow = "storyloom.webhook";

// Where and what to deliver. `events` lists event types: "run.completed",
// "run.failed", "run.cancelled", "run.waiting" (waiting for a signal),
// "progress", any custom type a workflow emits, or "*" for every event but
// token chunks. Runs of `workflows` only (empty: every workflow but the
// deliveries themselves).
struct WebhookSubscription {
  std::string id;      // 1-64 of [A-Za-z0-9_.-]; names the delivery log
  std::string url;     // http:// or https://
  std::string secret;  // "whsec_<base64>" or the key as text; at least 16 bytes
  std::vector<std::string> workflows;
  std::vector<std::string> events = {"run.completed", "run.failed", "run.cancelled"};
};

struct WebhookOptions {
  std::vector<WebhookSubscription> subscriptions;
  // Attempts of one delivery and the backoff between them; a receiver's
  // Retry-After (seconds) replaces the backoff. After the last attempt the
  // delivery run fails: it is then in the dead-letter view (failed runs of
  // kWebhookWorkflow) until retried by hand (Engine::retry, `storyloom retry`).
  RetryPolicy retry = {8, std::chrono::milliseconds(1000), 4.0, std::chrono::milliseconds(3600000),
                       true, std::chrono::milliseconds(0)};
  // One attempt may take this long (connecting included) before it fails.
  std::chrono::milliseconds attempt_timeout{15000};
};

// One HTTP attempt of a delivery.
struct WebhookAttempt {
  int64_t at_ms = 0;       // when it ended (engine clock)
  int64_t status = 0;      // the receiver's HTTP status; 0 when none came back
  int64_t latency_ms = 0;  // from sending to the end of the response
  std::string error;       // why it failed; empty when acknowledged (2xx)
};

// One delivery: one event to one subscription.
struct WebhookDelivery {
  std::string webhook_id;   // the webhook-id header: "msg_<event id>_<subscription>"
  std::string run_id;       // the delivery's run (retry it to re-send)
  std::string subscription;
  std::string event_type;
  int64_t event_id = 0;
  std::string source_run_id;  // the run the event is about
  // "pending" (queued or between attempts), "delivered", "dead" (failed after
  // its attempts: in the dead-letter view) or "cancelled".
  std::string state;
  std::vector<WebhookAttempt> attempts;
  int64_t created_at_ms = 0;
};

// The body and headers of one signed delivery, for hosts that send their own.
// `timestamp_s` is Unix seconds. Throws Error(invalid_argument) for a secret
// that is too short or not base64 after "whsec_".
std::string webhook_signature(std::string_view secret, std::string_view webhook_id,
                              int64_t timestamp_s, std::string_view body);

// The verdict on an inbound webhook: `http_status` 200 when it is authentic
// and fresh, 400 (a header missing or malformed, or the timestamp outside the
// window), 401 (no signature matches); `message` says which, without the
// secret or the expected signature.
struct WebhookVerdict {
  int http_status = 200;
  std::string message;
  bool ok() const { return http_status == 200; }
};

// The three Standard Webhooks headers of a request (values as received).
struct WebhookHeaders {
  std::string id;
  std::string timestamp;
  std::string signature;
};

// Checks the signature (constant-time compare) and that the timestamp is
// within `tolerance` of `now_s` (Unix seconds), either side.
WebhookVerdict verify_webhook(std::string_view secret, const WebhookHeaders& headers,
                              std::string_view body, int64_t now_s,
                              std::chrono::seconds tolerance = std::chrono::seconds(300));

// What an authentic inbound webhook does (Engine::receive_webhook): start a
// run of `workflow` whose input is the JSON body (an object), with the webhook
// id as idempotency key, so a re-delivery returns the same run; or, when
// `signal_run_id` is set, send the body as signal `signal_name` to that run,
// once per webhook id (a re-delivery sends nothing).
struct InboundWebhook {
  std::string secret;
  std::chrono::seconds tolerance{300};
  std::string workflow;
  std::string owner;  // of a started run
  std::string signal_run_id;
  std::string signal_name;
};

// What receive_webhook did: the verdict (a refused webhook does nothing), the
// run started or signalled, and whether the webhook id was seen before.
struct InboundResult {
  WebhookVerdict verdict;
  std::optional<RunInfo> run;
  bool duplicate = false;
};

class Engine;
class StoreReader;

// The delivery log of a subscription: its latest `limit` deliveries (1-1000),
// oldest first, with every attempt. Read from the store, so a reader of the
// file (the CLI) sees what every process delivered. Throws invalid_argument
// for an empty subscription id or a bad limit.
std::vector<WebhookDelivery> webhook_log(Engine& engine, std::string_view subscription,
                                         size_t limit = 100);
std::vector<WebhookDelivery> webhook_log(StoreReader& reader, std::string_view subscription,
                                         size_t limit = 100);
// {"webhook_id","run_id","subscription","event_type","event_id","source_run_id",
//  "state","created_at_ms","attempts":[{"at_ms","status","latency_ms","error"}]}
Json to_json(const WebhookDelivery& delivery);

// Options as JSON, the form hosts without C++ structs use (the C ABI, Node,
// Python): {"subscriptions":[{"id","url","secret","workflows":[...],"events":[...]}],
// "max_attempts", "initial_backoff_ms", "multiplier", "max_backoff_ms",
// "attempt_timeout_ms"}. Unknown keys and wrong types throw invalid_argument
// naming the path ("webhooks.subscriptions[0].url").
WebhookOptions webhook_options_from_json(const Json& json);
// {"secret","tolerance_s","workflow","owner","signal_run_id","signal_name"}.
InboundWebhook inbound_webhook_from_json(const Json& json);
// {"status","message","run":RunInfo|null,"duplicate"}.
Json to_json(const InboundResult& result);

}  // namespace storyloom
