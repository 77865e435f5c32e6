// The engine handed to JavaScript (src/engine.cc): the Engine class over
// sl_engine and open(), which opens one off the JS thread.
#pragma once

#include <napi.h>

namespace storyloom_node {

// The Engine class; its constructor takes an External<sl_engine>.
Napi::Function DefineEngine(Napi::Env env);
// open({store, workers, maxExecutions, maxPayloadBytes, pollIntervalMs,
//       leaseTtlMs, drainTimeoutMs, durability, configJson}) -> Promise<Engine>
Napi::Value Open(const Napi::CallbackInfo& info);

}  // namespace storyloom_node
