// sl_engine_*webhook* and sl_webhook_*: outbound webhook subscriptions and
// their delivery log, and the checks of inbound webhooks (storyloom/webhooks.h).
#include <cctype>
#include <chrono>
#include <string>

#include "args.h"
#include "handles.h"
#include "status.h"
#include "storyloom/webhooks.h"

using storyloom::capi::Args;
using storyloom::capi::guarded;
using storyloom::capi::OutText;
using namespace storyloom;

namespace {

// The three Standard Webhooks headers from a JSON object of header names
// (any case) to values; other headers are ignored.
WebhookHeaders headers_from(const Args& args, const char* json, size_t len) {
  Json parsed = args.json(json, len, "headers_json");
  if (!parsed.is_object()) args.invalid("headers_json must be a JSON object of header names to values");
  WebhookHeaders headers;
  for (const auto& [name, value] : parsed.as_object()) {
    std::string lower(name);
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (!value.is_string()) continue;
    std::string text(value.as_string());
    if (lower == "webhook-id") headers.id = text;
    if (lower == "webhook-timestamp") headers.timestamp = text;
    if (lower == "webhook-signature") headers.signature = text;
  }
  return headers;
}

}  // namespace

SL_API int sl_engine_configure_webhooks(sl_engine* engine, const char* options_json, size_t options_len) {
  Args args(__func__);
  return guarded([&] {
    auto& e = args.required(engine, "engine");
    e.engine->configure_webhooks(webhook_options_from_json(args.json(options_json, options_len, "options_json")));
  });
}

SL_API int sl_engine_webhook_log(char** log_json, size_t* log_json_len, sl_engine* engine,
                                 const char* subscription, size_t subscription_len, size_t limit) {
  Args args(__func__);
  return guarded([&] {
    OutText out(args, log_json, log_json_len, "log_json");
    auto& e = args.required(engine, "engine");
    boost::json::array log;
    for (const auto& d : webhook_log(*e.engine, args.text(subscription, subscription_len, "subscription"),
                                     limit == 0 ? 100 : limit)) {
      log.push_back(to_json(d));
    }
    out.set_json(log);
  });
}

SL_API int sl_engine_receive_webhook(char** result_json, size_t* result_json_len, sl_engine* engine,
                                     const char* hook_json, size_t hook_len, const char* headers_json,
                                     size_t headers_len, const char* body, size_t body_len) {
  Args args(__func__);
  return guarded([&] {
    OutText out(args, result_json, result_json_len, "result_json");
    auto& e = args.required(engine, "engine");
    InboundWebhook hook = inbound_webhook_from_json(args.json(hook_json, hook_len, "hook_json"));
    WebhookHeaders headers = headers_from(args, headers_json, headers_len);
    out.set_json(to_json(e.engine->receive_webhook(hook, headers, args.text(body, body_len, "body"))));
  });
}

SL_API int sl_webhook_sign(char** signature, size_t* signature_len, const char* secret,
                           size_t secret_len, const char* webhook_id, size_t webhook_id_len,
                           int64_t timestamp_s, const char* body, size_t body_len) {
  Args args(__func__);
  return guarded([&] {
    OutText out(args, signature, signature_len, "signature");
    out.set(webhook_signature(args.text(secret, secret_len, "secret"),
                              args.text(webhook_id, webhook_id_len, "webhook_id"), timestamp_s,
                              args.text(body, body_len, "body")));
  });
}

SL_API int sl_webhook_verify(char** verdict_json, size_t* verdict_json_len, const char* secret,
                             size_t secret_len, const char* headers_json, size_t headers_len,
                             const char* body, size_t body_len, int64_t now_s, int64_t tolerance_s) {
  Args args(__func__);
  return guarded([&] {
    OutText out(args, verdict_json, verdict_json_len, "verdict_json");
    if (tolerance_s < 0) args.invalid("tolerance_s must not be negative");
    std::string_view key = args.text(secret, secret_len, "secret");
    if (key.empty()) args.invalid("secret is empty");
    if (now_s == 0) {
      now_s = std::chrono::duration_cast<std::chrono::seconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
    }
    auto verdict = verify_webhook(key, headers_from(args, headers_json, headers_len),
                                  args.text(body, body_len, "body"), now_s,
                                  std::chrono::seconds(tolerance_s == 0 ? 300 : tolerance_s));
    out.set_json(boost::json::object{{"status", verdict.http_status}, {"message", verdict.message}});
  });
}
