// The addon's email call (src/email.cc).
#pragma once

#include <napi.h>
#include <storyloom/storyloom.h>

namespace storyloom_node {

// Adds sendEmail(configJson, messageJson, messageId) -> Promise<string> to the exports.
void InitEmail(Napi::Env env, Napi::Object exports);

}  // namespace storyloom_node
