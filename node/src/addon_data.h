// What the addon's parts share: the per-environment data (constructors, the
// call pool, durable waits), scheduling a blocking call on the pool, and a
// registered workflow's callback state.
#pragma once

#include <napi.h>
#include <storyloom/storyloom.h>

#include <memory>
#include <string>
#include <unordered_set>
#include <utility>

#include "call_pool.h"
#include "durable_waits.h"
#include "js_channel.h"
#include "marshal.h"

namespace storyloom_node {

// An open engine, which the host's exit closes at once (closeEnginesNow).
class ClosesOnExit {
 public:
  virtual void CloseNow() = 0;

 protected:
  ~ClosesOnExit() = default;
};

struct AddonData {
  Napi::FunctionReference engine_ctor;
  Napi::FunctionReference execution_ctor;
  Napi::FunctionReference subscription_ctor;
  std::unique_ptr<CallPool> calls;
  std::unique_ptr<DurableWaits> durable;
  std::unordered_set<ClosesOnExit*> open_engines;  // JS thread only
};

inline Napi::Value schedule(Napi::Env env, CallPool::Op op) {
  return env.GetInstanceData<AddonData>()->calls->Schedule(env, std::move(op));
}

// Adapts "char** out, size_t* len" calls to CallPool.
template <typename F>
CallPool::Op returning_json(F f) {
  return [f = std::move(f)](std::string& out, bool& has_out) {
    char* buffer = nullptr;
    size_t len = 0;
    int code = f(&buffer, &len);
    if (code == SL_OK) {
      out = take(buffer, len);
      has_out = true;
    }
    return code;
  };
}

template <typename F>
CallPool::Op returning_nothing(F f) {
  return [f = std::move(f)](std::string&, bool&) { return f(); };
}

// One registered workflow: the execute callback's user_data, which must
// outlive the engine, and its channel to the JS dispatcher.
struct Workflow {
  std::shared_ptr<JsChannel> channel;
  int in_flight = 0;      // executions JS holds; JS thread only
  bool released = false;  // tsfn released by close; JS thread only
};

}  // namespace storyloom_node
