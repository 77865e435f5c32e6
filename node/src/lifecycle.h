// Lifecycle reports to JavaScript (src/lifecycle.cc), for lib/telemetry.ts
// and lib/metrics.ts.
#pragma once

#include <napi.h>

#include <memory>

#include "js_channel.h"

namespace storyloom_node {

// The lifecycle callback's user_data: a channel to the JS mapper
// (lib/telemetry.ts), released when the engine closes.
struct Lifecycle {
  std::shared_ptr<JsChannel> channel;
};

// sl_lifecycle_fn (user_data: a Lifecycle).
void on_lifecycle(void* user_data, const char* json, size_t len);

}  // namespace storyloom_node
