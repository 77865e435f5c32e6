#include "engine.h"

#include <storyloom/storyloom.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "addon_data.h"
#include "execution.h"
#include "lifecycle.h"
#include "marshal.h"
#include "subscription.h"
#include "webhooks.h"

namespace storyloom_node {
namespace {

// Options objects come from lib/, which has checked their types: an absent
// or mistyped field is the C default (0 or "").
int64_t option_int(const Napi::Object& o, const char* key) {
  auto v = o.Get(key);
  return v.IsNumber() ? v.As<Napi::Number>().Int64Value() : 0;
}

std::string option_string(const Napi::Object& o, const char* key) {
  auto v = o.Get(key);
  return v.IsString() ? v.As<Napi::String>().Utf8Value() : std::string();
}

// sl_list_options with its strings owned, so it can cross to the pool.
struct RunFilter {
  std::string status, workflow, owner, after;
  int64_t limit = 0;
  int error_class = -1;  // -1: any
  int64_t finished_after_ms = 0;
  int64_t finished_before_ms = 0;

  sl_list_options options() const {
    sl_list_options o = SL_LIST_OPTIONS_INIT;
    o.status = status.data();
    o.status_len = status.size();
    o.workflow = workflow.data();
    o.workflow_len = workflow.size();
    o.owner = owner.data();
    o.owner_len = owner.size();
    o.limit = static_cast<size_t>(limit);
    o.after = after.data();
    o.after_len = after.size();
    o.by_error_class = error_class >= 0 ? 1 : 0;
    o.error_class = error_class >= 0 ? error_class : 0;
    o.finished_after_ms = finished_after_ms;
    o.finished_before_ms = finished_before_ms;
    return o;
  }
};

// {status, workflow, owner, limit, after, errorClass, finishedAfterMs, finishedBeforeMs}
RunFilter run_filter(const Napi::CallbackInfo& info, size_t i) {
  if (i >= info.Length() || !info[i].IsObject()) {
    throw Napi::TypeError::New(info.Env(), "argument " + std::to_string(i) + " must be an object");
  }
  auto o = info[i].As<Napi::Object>();
  RunFilter f;
  f.status = option_string(o, "status");
  f.workflow = option_string(o, "workflow");
  f.owner = option_string(o, "owner");
  f.after = option_string(o, "after");
  f.limit = option_int(o, "limit");
  if (f.limit < 0) f.limit = 1000000;  // rejected by the engine with its own message
  f.error_class =
      o.Get("errorClass").IsNumber() ? static_cast<int>(option_int(o, "errorClass")) : -1;
  f.finished_after_ms = option_int(o, "finishedAfterMs");
  f.finished_before_ms = option_int(o, "finishedBeforeMs");
  return f;
}

class EngineWrap : public Napi::ObjectWrap<EngineWrap>, public ClosesOnExit {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Engine",
                       {
                           InstanceMethod<&EngineWrap::RegisterWorkflow>("registerWorkflow"),
                           InstanceMethod<&EngineWrap::Launch>("launch"),
                           InstanceMethod<&EngineWrap::Start>("start"),
                           InstanceMethod<&EngineWrap::SetLifecycle>("setLifecycle"),
                           InstanceMethod<&EngineWrap::StartMany>("startMany"),
                           InstanceMethod<&EngineWrap::SignalMany>("signalMany"),
                           InstanceMethod<&EngineWrap::GetRun>("getRun"),
                           InstanceMethod<&EngineWrap::ListRuns>("listRuns"),
                           InstanceMethod<&EngineWrap::DeleteRun>("deleteRun"),
                           InstanceMethod<&EngineWrap::Cancel>("cancel"),
                           InstanceMethod<&EngineWrap::Signal>("signal"),
                           InstanceMethod<&EngineWrap::Retry>("retry"),
                           InstanceMethod<&EngineWrap::RetryFailed>("retryFailed"),
                           InstanceMethod<&EngineWrap::CancelMany>("cancelMany"),
                           InstanceMethod<&EngineWrap::SetPriority>("setPriority"),
                           InstanceMethod<&EngineWrap::Rewind>("rewind"),
                           InstanceMethod<&EngineWrap::ConfigureResource>("configureResource"),
                           InstanceMethod<&EngineWrap::ResourceStatus>("resourceStatus"),
                           InstanceMethod<&EngineWrap::LlmProviders>("llmProviders"),
                           InstanceMethod<&EngineWrap::ConfigureWebhooks>("configureWebhooks"),
                           InstanceMethod<&EngineWrap::WebhookLog>("webhookLog"),
                           InstanceMethod<&EngineWrap::ReceiveWebhook>("receiveWebhook"),
                           InstanceMethod<&EngineWrap::Snapshot>("snapshot"),
                           InstanceMethod<&EngineWrap::Artifacts>("artifacts"),
                           InstanceMethod<&EngineWrap::ArtifactBytes>("artifactBytes"),
                           InstanceMethod<&EngineWrap::ExportBook>("exportBook"),
                           InstanceMethod<&EngineWrap::Events>("events"),
                           InstanceMethod<&EngineWrap::Subscribe>("subscribe"),
                           InstanceMethod<&EngineWrap::Close>("close"),
                       });
  }

  explicit EngineWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<EngineWrap>(info) {
    engine_ = info[0].As<Napi::External<sl_engine>>().Data();
    data_ = info.Env().GetInstanceData<AddonData>();
    data_->open_engines.insert(this);
  }

  ~EngineWrap() override {
    data_->open_engines.erase(this);
    // Not closed by JS: close here (no executions can be in JS any more, as
    // they hold the engine object alive through the dispatcher). The
    // environment is going away: no report may reach JS any more.
    if (engine_ && lifecycle_) sl_engine_set_lifecycle(engine_, nullptr, nullptr);
    if (engine_) sl_engine_close(engine_);
  }

  // JS thread, from process 'exit' (closeEnginesNow), once the call pool has
  // stopped: exit() next runs the C++ static destructors, which the engine's
  // threads must not outlive. The event loop no longer runs, so executions in
  // JS never finish: they are not waited for, and resume after the next open.
  // A close() already under way finishes on the libuv pool, which Node joins
  // before exit().
  void CloseNow() override {
    data_->open_engines.erase(this);
    if (!engine_ || closing_) return;
    closing_ = true;
    if (lifecycle_) sl_engine_set_lifecycle(engine_, nullptr, nullptr);
    sl_engine_close_now(engine_);
    engine_ = nullptr;
    ReleaseChannels();
  }

 private:
  sl_engine* live(Napi::Env env) {
    if (!engine_ || closing_) {
      throw to_js_error(env, Failure{SL_ECLOSED, SL_CLASS_FATAL, "the engine is closed", {}, {}});
    }
    return engine_;
  }

  Napi::Value RegisterWorkflow(const Napi::CallbackInfo& info) {
    auto env = info.Env();
    auto name = arg_string(info, 0);
    if (info.Length() < 3 || !info[1].IsObject() || !info[2].IsFunction()) {
      throw Napi::TypeError::New(
          env, "registerWorkflow(name, options, fn): argument 1 must be an object, 2 a function");
    }
    // Retry fields absent from the object keep the engine's defaults; lib/
    // checks their types, the engine their ranges (naming the field).
    sl_workflow_options options = SL_WORKFLOW_OPTIONS_INIT;
    auto o = info[1].As<Napi::Object>();
    if (o.Get("maxAttempts").IsNumber()) {
      options.max_attempts = static_cast<int>(o.Get("maxAttempts").As<Napi::Number>().Int64Value());
    }
    if (o.Get("initialBackoffMs").IsNumber()) {
      options.initial_backoff_ms = o.Get("initialBackoffMs").As<Napi::Number>().Int64Value();
    }
    if (o.Get("multiplier").IsNumber()) {
      options.multiplier = o.Get("multiplier").As<Napi::Number>().DoubleValue();
    }
    if (o.Get("maxBackoffMs").IsNumber()) {
      options.max_backoff_ms = o.Get("maxBackoffMs").As<Napi::Number>().Int64Value();
    }
    if (o.Get("jitter").IsBoolean()) {
      options.no_jitter = o.Get("jitter").As<Napi::Boolean>().Value() ? 0 : 1;
    }
    // Version 2: timeouts and limits; absent ones are 0 (none).
    options.step_timeout_ms = option_int(o, "stepTimeoutMs");
    options.max_running = static_cast<int>(option_int(o, "maxRunning"));
    auto concurrency_key = option_string(o, "concurrencyKey");
    options.concurrency_key = concurrency_key.data();
    options.concurrency_key_len = concurrency_key.size();
    options.concurrency_limit = static_cast<int>(option_int(o, "concurrencyLimit"));
    auto throttle_key = option_string(o, "throttleKey");
    options.throttle_key = throttle_key.data();
    options.throttle_key_len = throttle_key.size();
    options.throttle_limit = static_cast<int>(option_int(o, "throttleLimit"));
    options.throttle_period_ms = option_int(o, "throttlePeriodMs");
    options.run_timeout_ms = option_int(o, "runTimeoutMs");
    auto workflow = std::make_unique<Workflow>();
    workflow->channel = JsChannel::Open(env, info[2].As<Napi::Function>(), "storyloom.execute");
    workflow->channel->Unref(env);
    int code = sl_engine_register_workflow(live(env), name.data(), name.size(), &options,
                                           on_execute, workflow.get());
    if (code != SL_OK) {
      auto failure = last_failure(code);
      workflow->channel->Release();
      throw to_js_error(env, failure);
    }
    workflows_.push_back(std::move(workflow));
    return env.Undefined();
  }

  // launch(): runs begin executing. Synchronous: it only lets the engine's
  // threads claim runs.
  Napi::Value Launch(const Napi::CallbackInfo& info) {
    auto env = info.Env();
    check(env, sl_engine_launch(live(env)));
    return env.Undefined();
  }

  // setLifecycle(onReport): reports (JSON text) go to onReport on the JS thread;
  // the function does not keep the process alive. Once per engine.
  Napi::Value SetLifecycle(const Napi::CallbackInfo& info) {
    auto env = info.Env();
    auto* engine = live(env);
    if (info.Length() < 1 || !info[0].IsFunction()) {
      throw Napi::TypeError::New(env, "argument 0 must be a function");
    }
    if (lifecycle_) throw Napi::Error::New(env, "setLifecycle: already set");
    auto lifecycle = std::make_unique<Lifecycle>();
    lifecycle->channel = JsChannel::Open(env, info[0].As<Napi::Function>(), "storyloom.lifecycle");
    lifecycle->channel->Unref(env);
    int code = sl_engine_set_lifecycle(engine, on_lifecycle, lifecycle.get());
    if (code != SL_OK) {
      auto failure = last_failure(code);
      lifecycle->channel->Release();
      throw to_js_error(env, failure);
    }
    lifecycle_ = std::move(lifecycle);
    return env.Undefined();
  }

  // start(workflow, inputJson, idempotencyKey, owner, priority, budgetLlmCalls, budgetLlmTokens, traceParent)
  Napi::Value Start(const Napi::CallbackInfo& info) {
    auto env = info.Env();
    auto* engine = live(env);
    auto workflow = arg_string(info, 0);
    auto input = arg_string(info, 1);
    auto key = arg_string(info, 2);
    auto owner = arg_string(info, 3);
    auto priority = static_cast<int>(arg_int64(info, 4));
    auto budget_calls = arg_int64(info, 5);
    auto budget_tokens = arg_int64(info, 6);
    std::string trace_parent = info.Length() > 7 && info[7].IsString() ? arg_string(info, 7) : "";
    // Asynchronous in the core: no thread waits for the commit, so a burst of
    // starts from the event loop shares group commits instead of queueing
    // behind the pool's threads.
    sl_start_options o = SL_START_OPTIONS_INIT;
    o.idempotency_key = key.data();
    o.idempotency_key_len = key.size();
    o.owner = owner.data();
    o.owner_len = owner.size();
    o.priority = priority;
    o.budget_llm_calls = budget_calls;
    o.budget_llm_tokens = budget_tokens;
    o.trace_parent = trace_parent.data();
    o.trace_parent_len = trace_parent.size();
    return env.GetInstanceData<AddonData>()->calls->ScheduleAsync(
        env, [&](sl_start_fn fn, void* user_data) {
          return sl_engine_start_async(engine, workflow.data(), workflow.size(), input.data(),
                                       input.size(), &o, fn, user_data);
        });
  }

  // startMany(requestsJson) / signalMany(signalsJson) -> Promise<results
  // JSON>, one commit for all; the shape of ById (one string in, JSON out).
  Napi::Value StartMany(const Napi::CallbackInfo& info) { return ById<sl_engine_start_many>(info); }
  Napi::Value SignalMany(const Napi::CallbackInfo& info) { return ById<sl_engine_signal_many>(info); }

  template <int (*F)(char**, size_t*, sl_engine*, const char*, size_t)>
  Napi::Value ById(const Napi::CallbackInfo& info) {
    auto env = info.Env();
    auto* engine = live(env);
    auto id = arg_string(info, 0);
    return schedule(env, returning_json([=](char** out, size_t* len) {
                      return F(out, len, engine, id.data(), id.size());
                    }));
  }
  template <int (*F)(sl_engine*, const char*, size_t)>
  Napi::Value ByIdNoResult(const Napi::CallbackInfo& info) {
    auto env = info.Env();
    auto* engine = live(env);
    auto id = arg_string(info, 0);
    return schedule(env, returning_nothing([=] { return F(engine, id.data(), id.size()); }));
  }

  Napi::Value GetRun(const Napi::CallbackInfo& info) { return ById<sl_engine_get_run>(info); }
  Napi::Value Snapshot(const Napi::CallbackInfo& info) { return ById<sl_engine_snapshot>(info); }
  Napi::Value Artifacts(const Napi::CallbackInfo& info) { return ById<sl_engine_artifacts>(info); }
  // exportBook(runId, format, path) -> Promise<undefined>
  Napi::Value ExportBook(const Napi::CallbackInfo& info) {
    auto env = info.Env();
    auto* engine = live(env);
    auto id = arg_string(info, 0);
    auto format = arg_string(info, 1);
    auto path = arg_string(info, 2);
    return schedule(env, returning_nothing([=] {
                      return sl_engine_export_book(engine, id.data(), id.size(), format.data(),
                                                   format.size(), path.data(), path.size());
                    }));
  }
  // artifactBytes(runId, key, version) -> Promise<Buffer>
  Napi::Value ArtifactBytes(const Napi::CallbackInfo& info) {
    auto env = info.Env();
    auto* engine = live(env);
    auto id = arg_string(info, 0);
    auto key = arg_string(info, 1);
    auto version = arg_int64(info, 2);
    return env.GetInstanceData<AddonData>()->calls->Schedule(
        env, returning_json([=](char** out, size_t* len) {
          return sl_engine_artifact_bytes(out, len, nullptr, nullptr, engine, id.data(), id.size(),
                                          key.data(), key.size(), version);
        }),
        /*as_buffer=*/true);
  }
  Napi::Value DeleteRun(const Napi::CallbackInfo& info) {
    return ByIdNoResult<sl_engine_delete_run>(info);
  }
  Napi::Value Cancel(const Napi::CallbackInfo& info) {
    return ByIdNoResult<sl_engine_cancel>(info);
  }
  Napi::Value Retry(const Napi::CallbackInfo& info) { return ByIdNoResult<sl_engine_retry>(info); }

  // listRuns(filter) with the filter of run_filter()
  Napi::Value ListRuns(const Napi::CallbackInfo& info) {
    auto env = info.Env();
    auto* engine = live(env);
    auto filter = run_filter(info, 0);
    return schedule(env, returning_json([=](char** out, size_t* len) {
                      auto o = filter.options();
                      return sl_engine_list_runs(out, len, engine, &o);
                    }));
  }

  // retryFailed(filter) -> Promise<count as text>
  Napi::Value RetryFailed(const Napi::CallbackInfo& info) {
    auto env = info.Env();
    auto* engine = live(env);
    auto filter = run_filter(info, 0);
    return schedule(env, [=](std::string& out, bool& has_out) {
      auto o = filter.options();
      size_t count = 0;
      int code = sl_engine_retry_failed(&count, engine, &o);
      if (code == SL_OK) {
        out = std::to_string(count);
        has_out = true;
      }
      return code;
    });
  }

  // cancelMany(filter) -> Promise<ids JSON>
  Napi::Value CancelMany(const Napi::CallbackInfo& info) {
    auto env = info.Env();
    auto* engine = live(env);
    auto filter = run_filter(info, 0);
    return schedule(env, returning_json([=](char** out, size_t* len) {
                      auto o = filter.options();
                      return sl_engine_cancel_many(out, len, engine, &o);
                    }));
  }

  // setPriority(runId, priority)
  Napi::Value SetPriority(const Napi::CallbackInfo& info) {
    auto env = info.Env();
    auto* engine = live(env);
    auto id = arg_string(info, 0);
    auto priority = static_cast<int>(arg_int64(info, 1));
    return schedule(env, returning_nothing([=] {
                      return sl_engine_set_priority(engine, id.data(), id.size(), priority);
                    }));
  }

  // rewind(runId, stepName)
  Napi::Value Rewind(const Napi::CallbackInfo& info) {
    auto env = info.Env();
    auto* engine = live(env);
    auto id = arg_string(info, 0);
    auto step = arg_string(info, 1);
    return schedule(env, returning_nothing([=] {
                      return sl_engine_rewind(engine, id.data(), id.size(), step.data(),
                                              step.size());
                    }));
  }

  // configureResource(name, limitsJson)
  Napi::Value ConfigureResource(const Napi::CallbackInfo& info) {
    auto env = info.Env();
    auto* engine = live(env);
    auto name = arg_string(info, 0);
    auto limits = arg_string(info, 1);
    return schedule(env, returning_nothing([=] {
                      return sl_engine_configure_resource(engine, name.data(), name.size(),
                                                          limits.data(), limits.size());
                    }));
  }

  // resourceStatus(name) -> Promise<status JSON>
  Napi::Value ResourceStatus(const Napi::CallbackInfo& info) {
    auto env = info.Env();
    auto* engine = live(env);
    auto name = arg_string(info, 0);
    return schedule(env, returning_json([=](char** out, size_t* len) {
                      return sl_engine_resource_status(out, len, engine, name.data(), name.size());
                    }));
  }

  // llmProviders() -> Promise<providers JSON>
  Napi::Value LlmProviders(const Napi::CallbackInfo& info) {
    auto env = info.Env();
    auto* engine = live(env);
    return schedule(env, returning_json([=](char** out, size_t* len) {
                      return sl_engine_llm_providers(out, len, engine);
                    }));
  }

  // Webhooks: the calls are built in src/webhooks.cc.
  Napi::Value ConfigureWebhooks(const Napi::CallbackInfo& info) {
    return schedule(info.Env(), storyloom_node::configure_webhooks_call(live(info.Env()), info));
  }
  Napi::Value WebhookLog(const Napi::CallbackInfo& info) {
    return schedule(info.Env(), storyloom_node::webhook_log_call(live(info.Env()), info));
  }
  Napi::Value ReceiveWebhook(const Napi::CallbackInfo& info) {
    return schedule(info.Env(), storyloom_node::receive_webhook_call(live(info.Env()), info));
  }

  // signal(runId, name, payloadJson)
  Napi::Value Signal(const Napi::CallbackInfo& info) {
    auto env = info.Env();
    auto* engine = live(env);
    auto id = arg_string(info, 0);
    auto name = arg_string(info, 1);
    auto payload = arg_string(info, 2);
    return schedule(env, returning_nothing([=] {
                      return sl_engine_signal(engine, id.data(), id.size(), name.data(),
                                              name.size(), payload.data(), payload.size());
                    }));
  }

  // events(runId, afterId, limit)
  Napi::Value Events(const Napi::CallbackInfo& info) {
    auto env = info.Env();
    auto* engine = live(env);
    auto id = arg_string(info, 0);
    auto after = arg_int64(info, 1);
    auto limit = arg_int64(info, 2);
    if (limit < 0) limit = 0;
    return schedule(env, returning_json([=](char** out, size_t* len) {
                      return sl_engine_events(out, len, engine, id.data(), id.size(), after,
                                              static_cast<size_t>(limit));
                    }));
  }

  // subscribe(runId, afterId, sse, onEvent) -> Subscription. Synchronous: it
  // only registers the subscriber; stored events arrive through onEvent.
  Napi::Value Subscribe(const Napi::CallbackInfo& info) {
    auto env = info.Env();
    auto* engine = live(env);
    auto id = arg_string(info, 0);
    auto after = arg_int64(info, 1);
    bool sse = info[2].ToBoolean().Value();
    if (info.Length() < 4 || !info[3].IsFunction()) {
      throw Napi::TypeError::New(env, "argument 3 must be a function");
    }
    // Shared by the wrapper and the thread-safe function's finalizer, which
    // may run after the wrapper is gone (environment teardown) or before.
    auto sub = std::make_shared<Subscription>();
    sub->sse = sse;
    using Holder = std::shared_ptr<Subscription>;
    sub->tsfn = Napi::ThreadSafeFunction::New(env, info[3].As<Napi::Function>(), "storyloom.events",
                                              0, 1, new Holder(sub), [](Napi::Env, Holder* h) {
                                                (*h)->released = true;
                                                delete h;
                                              });
    int code =
        sl_engine_subscribe(&sub->handle, engine, id.data(), id.size(), after, on_event, sub.get());
    if (code != SL_OK) {
      auto failure = last_failure(code);
      sub->released = true;
      sub->tsfn.Release();
      throw to_js_error(env, failure);
    }
    auto* data = env.GetInstanceData<AddonData>();
    return data->subscription_ctor.New({Napi::External<Holder>::New(env, new Holder(sub))});
  }

  // close() -> Promise. On the pool: executions still in JS must be able to
  // finish on the JS thread while sl_engine_close drains them.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    auto env = info.Env();
    if (!engine_ || closing_) {
      auto d = Napi::Promise::Deferred::New(env);
      d.Resolve(env.Undefined());
      return d.Promise();
    }
    closing_ = true;
    auto* engine = engine_;
    auto* worker = new CloseWorker(env, this, engine);
    auto promise = worker->Promise();
    worker->Queue();
    return promise;
  }

  class CloseWorker : public Napi::AsyncWorker {
   public:
    CloseWorker(Napi::Env env, EngineWrap* owner, sl_engine* engine)
        : Napi::AsyncWorker(env),
          deferred_(Napi::Promise::Deferred::New(env)),
          owner_(owner),
          engine_(engine) {
      self_ = Napi::Persistent(owner->Value());  // keep the wrapper alive meanwhile
    }
    Napi::Promise Promise() { return deferred_.Promise(); }
    void Execute() override { sl_engine_close(engine_); }
    void OnOK() override {
      owner_->engine_ = nullptr;
      owner_->data_->open_engines.erase(owner_);
      owner_->ReleaseChannels();
      deferred_.Resolve(Env().Undefined());
      self_.Reset();
    }

   private:
    Napi::Promise::Deferred deferred_;
    EngineWrap* owner_;
    sl_engine* engine_;
    Napi::ObjectReference self_;
  };

  // After sl_engine_close*: an execution close gave up on may still be in JS;
  // it no longer touches the released thread-safe function when it finishes.
  // The close delivered the last lifecycle report: nothing calls it any more.
  void ReleaseChannels() {
    for (auto& workflow : workflows_) {
      workflow->released = true;
      workflow->channel->Release();
    }
    if (lifecycle_) lifecycle_->channel->Release();
  }

  AddonData* data_ = nullptr;
  sl_engine* engine_ = nullptr;
  bool closing_ = false;
  std::vector<std::unique_ptr<Workflow>> workflows_;  // user_data of the engine's callbacks
  std::unique_ptr<Lifecycle> lifecycle_;  // user_data of the lifecycle callback
};

// open({store, workers, maxExecutions, maxPayloadBytes, pollIntervalMs,
//       leaseTtlMs, drainTimeoutMs, durability, configJson}) -> Promise<Engine>
class OpenWorker : public Napi::AsyncWorker {
 public:
  OpenWorker(Napi::Env env, std::string store, std::string config, sl_engine_options options)
      : Napi::AsyncWorker(env),
        deferred_(Napi::Promise::Deferred::New(env)),
        store_(std::move(store)),
        config_(std::move(config)),
        options_(options) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override {
    options_.store = store_.data();
    options_.store_len = store_.size();
    // "" means no config: providers from the environment, no limits.
    options_.config_json = config_.empty() ? nullptr : config_.data();
    options_.config_json_len = config_.size();
    code_ = sl_engine_open(&engine_, &options_);
    if (code_ != SL_OK) failure_ = last_failure(code_);
  }
  void OnOK() override {
    auto env = Env();
    if (code_ != SL_OK) return deferred_.Reject(to_js_error(env, failure_).Value());
    auto* data = env.GetInstanceData<AddonData>();
    deferred_.Resolve(data->engine_ctor.New({Napi::External<sl_engine>::New(env, engine_)}));
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::string store_;
  std::string config_;  // sl_engine_options.config_json
  sl_engine_options options_;
  sl_engine* engine_ = nullptr;
  int code_ = SL_OK;
  Failure failure_;
};

}  // namespace

Napi::Function DefineEngine(Napi::Env env) { return EngineWrap::Define(env); }

Napi::Value Open(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) {
    throw Napi::TypeError::New(env, "open() needs an options object");
  }
  auto o = info[0].As<Napi::Object>();
  std::string store =
      o.Get("store").IsString() ? o.Get("store").As<Napi::String>().Utf8Value() : "";
  sl_engine_options options = SL_ENGINE_OPTIONS_INIT;
  options.workers = static_cast<int>(option_int(o, "workers"));
  options.max_executions = static_cast<int>(option_int(o, "maxExecutions"));
  options.max_payload_bytes = static_cast<size_t>(option_int(o, "maxPayloadBytes"));
  options.poll_interval_ms = option_int(o, "pollIntervalMs");
  options.lease_ttl_ms = option_int(o, "leaseTtlMs");
  options.drain_timeout_ms = option_int(o, "drainTimeoutMs");
  options.durability = static_cast<int>(option_int(o, "durability"));  // SL_DURABILITY_*; 0: default
  auto* worker = new OpenWorker(env, std::move(store), option_string(o, "configJson"), options);
  auto promise = worker->Promise();
  worker->Queue();
  return promise;
}

}  // namespace storyloom_node
