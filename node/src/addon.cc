// storyloom.node: the Node-API module over the C ABI (storyloom.h), and only
// over it. It marshals values and schedules work; it holds no engine logic.
//
// Threads: engine threads never call JavaScript. Execute callbacks and events
// are queued to the JS thread through Napi::ThreadSafeFunction
// (NonBlockingCall). Blocking sl_engine_* calls run on the addon's own
// threads (CallPool), so the JS thread never waits on the store's writer; the
// sl_execution_* calls only enqueue work and run on the JS thread.
//
// Keeping the process alive: a workflow's thread-safe function is referenced
// only while one of its executions is in the hands of JS; a subscription's
// while it is open; an llm step's while its outcome is pending. An idle
// engine keeps nothing alive.
//
// The parts, one job each: marshal (errors and values), call_pool (blocking
// calls off the JS thread), durable_waits, engine, execution, subscription,
// lifecycle (reports for telemetry), webhooks, email; addon_data holds what
// they share.
#include <napi.h>
#include <storyloom/storyloom.h>

#include <memory>
#include <vector>

#include "addon_data.h"
#include "email.h"
#include "engine.h"
#include "execution.h"
#include "marshal.h"
#include "subscription.h"
#include "webhooks.h"

namespace storyloom_node {
namespace {

Napi::Value Version(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), sl_version());
}

Napi::Value SseHeartbeat(const Napi::CallbackInfo& info) {
  char* out = nullptr;
  size_t len = 0;
  check(info.Env(), sl_sse_heartbeat(&out, &len));
  return Napi::String::New(info.Env(), take(out, len));
}

Napi::Value SseRetry(const Napi::CallbackInfo& info) {
  char* out = nullptr;
  size_t len = 0;
  check(info.Env(), sl_sse_retry(&out, &len, arg_int64(info, 0)));
  return Napi::String::New(info.Env(), take(out, len));
}

// closeEnginesNow(): for process 'exit' (lib/native.ts). Closes every open
// engine without waiting for executions, after joining the call pool's
// threads (which may be inside a call on one of them).
Napi::Value CloseEnginesNow(const Napi::CallbackInfo& info) {
  auto* data = info.Env().GetInstanceData<AddonData>();
  data->calls->Stop();
  std::vector<ClosesOnExit*> open(data->open_engines.begin(), data->open_engines.end());
  for (auto* engine : open) engine->CloseNow();
  return info.Env().Undefined();
}

Napi::Object InitAddon(Napi::Env env, Napi::Object exports) {
  auto* data = new AddonData();
  auto engine = DefineEngine(env);
  auto execution = DefineExecution(env);
  auto subscription = DefineSubscription(env);
  data->engine_ctor = Napi::Persistent(engine);
  data->execution_ctor = Napi::Persistent(execution);
  data->subscription_ctor = Napi::Persistent(subscription);
  data->calls = std::make_unique<CallPool>(env);
  data->durable = std::make_unique<DurableWaits>(env);
  env.SetInstanceData(data);
  // Before the environment finalizes the engine wrappers (which close their
  // engines), the threads that may be inside an engine call are joined.
  napi_add_env_cleanup_hook(
      env, [](void* pool) { static_cast<CallPool*>(pool)->Stop(); }, data->calls.get());
  exports.Set("open", Napi::Function::New(env, Open));
  exports.Set("version", Napi::Function::New(env, Version));
  exports.Set("sseHeartbeat", Napi::Function::New(env, SseHeartbeat));
  exports.Set("sseRetry", Napi::Function::New(env, SseRetry));
  exports.Set("closeEnginesNow", Napi::Function::New(env, CloseEnginesNow));
  exports.Set("Engine", engine);
  InitWebhooks(env, exports);
  InitEmail(env, exports);
  return exports;
}

}  // namespace
}  // namespace storyloom_node

using storyloom_node::InitAddon;
NODE_API_MODULE(storyloom, InitAddon)
