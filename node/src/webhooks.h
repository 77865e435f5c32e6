// The addon's webhook calls (src/webhooks.cc): engine-bound ones are built on
// the JS thread from the call's arguments and run on the addon's call pool;
// signing and verifying are quick and run in place.
#pragma once

#include <napi.h>

#include <functional>
#include <string>

#include <storyloom/storyloom.h>

namespace storyloom_node {

// What the addon's call pool runs: a C call that may hand back text.
using NativeCall = std::function<int(std::string& out, bool& has_out)>;

// configureWebhooks(optionsJson)
NativeCall configure_webhooks_call(sl_engine* engine, const Napi::CallbackInfo& info);
// webhookLog(subscription, limit) -> log JSON
NativeCall webhook_log_call(sl_engine* engine, const Napi::CallbackInfo& info);
// receiveWebhook(hookJson, headersJson, body) -> result JSON
NativeCall receive_webhook_call(sl_engine* engine, const Napi::CallbackInfo& info);

// Adds webhookSign(secret, id, timestampS, body) and
// webhookVerify(secret, headersJson, body, nowS, toleranceS) to the exports.
void InitWebhooks(Napi::Env env, Napi::Object exports);

}  // namespace storyloom_node
