#include "execution.h"

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "addon_data.h"
#include "marshal.h"

namespace storyloom_node {
namespace {

// An sl_llm_outcome copied off the engine thread (its pointers are borrowed).
struct LlmOutcomeCopy {
  int status = SL_OK;
  int error_class = SL_CLASS_FATAL;
  std::string message;
  std::optional<std::string> result;
  bool memoized = false;
  bool will_retry = false;
};

LlmOutcomeCopy copy_outcome(const sl_llm_outcome* o) {
  LlmOutcomeCopy c;
  c.status = o->status;
  c.error_class = o->error_class;
  c.message.assign(o->message ? o->message : "", o->message ? o->message_len : 0);
  if (o->result_json) c.result.emplace(o->result_json, o->result_len);
  c.memoized = o->memoized != 0;
  c.will_retry = o->will_retry != 0;
  return c;
}

Napi::Object outcome_to_js(Napi::Env env, const LlmOutcomeCopy& c) {
  auto out = Napi::Object::New(env);
  out.Set("status", Napi::Number::New(env, c.status));
  out.Set("errorClass", Napi::Number::New(env, c.error_class));
  out.Set("message", Napi::String::New(env, c.message));
  out.Set("result", c.result ? Napi::Value(Napi::String::New(env, *c.result)) : env.Undefined());
  out.Set("memoized", Napi::Boolean::New(env, c.memoized));
  out.Set("willRetry", Napi::Boolean::New(env, c.will_retry));
  return out;
}

// One sl_execution_llm (or sl_execution_acquire) call. Its callback fires exactly once: during the call
// (memoized), on the LLM client's I/O thread before or after the call
// returns, or on another engine thread (a cancel). Until the JS thread has
// returned from the call, an outcome is left in `early` for it to return
// directly; after that it goes through `channel`, created only then, so a
// memoized replay creates no thread-safe function. Whoever takes the
// outcome deletes the call.
struct PendingOutcome {
  std::mutex mutex;
  bool returned = false;  // the JS thread has left sl_execution_llm; channel is set
  std::optional<LlmOutcomeCopy> early;
  std::shared_ptr<JsChannel> channel;
};

// Any thread; never runs JavaScript. Hands the outcome to the JS thread and
// deletes the call.
void deliver(PendingOutcome* call, std::unique_ptr<LlmOutcomeCopy> copy) {
  {
    std::lock_guard lock(call->mutex);
    if (!call->returned) {
      call->early = std::move(*copy);
      return;  // the JS thread returns it from llm() and deletes the call
    }
  }
  auto* raw = copy.release();
  auto status =
      call->channel->Call(raw, [](Napi::Env env, Napi::Function fn, LlmOutcomeCopy* c) {
        std::unique_ptr<LlmOutcomeCopy> owned(c);
        if (env == nullptr || fn.IsEmpty()) return;
        try {
          fn.Call({outcome_to_js(env, *c)});
        } catch (const Napi::Error&) {
          // JavaScript cannot run any more (teardown); nothing here may throw.
        }
      });
  if (status != napi_ok) delete raw;
  call->channel->Release();
  delete call;
}

void on_llm_outcome(void* user_data, const sl_llm_outcome* outcome) {
  deliver(static_cast<PendingOutcome*>(user_data),
          std::make_unique<LlmOutcomeCopy>(copy_outcome(outcome)));
}

// An http step's outcome has the fields of an llm step's.
void on_http_outcome(void* user_data, const sl_http_outcome* o) {
  sl_llm_outcome same{o->status,     o->error_class, o->message,  o->message_len,
                      o->result_json, o->result_len, o->memoized, o->will_retry};
  on_llm_outcome(user_data, &same);
}

// So has an image step's.
void on_image_outcome(void* user_data, const sl_image_outcome* o) {
  sl_llm_outcome same{o->status,     o->error_class, o->message,  o->message_len,
                      o->result_json, o->result_len, o->memoized, o->will_retry};
  on_llm_outcome(user_data, &same);
}

// An admission is an outcome with a status and a message only.
void on_acquired(void* user_data, int status, const char* message, size_t message_len) {
  auto copy = std::make_unique<LlmOutcomeCopy>();
  copy->status = status;
  copy->error_class = SL_CLASS_FATAL;
  copy->message.assign(message ? message : "", message ? message_len : 0);
  deliver(static_cast<PendingOutcome*>(user_data), std::move(copy));
}

class ExecutionWrap : public Napi::ObjectWrap<ExecutionWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Execution",
                       {
                           InstanceMethod<&ExecutionWrap::RunId>("runId"),
                           InstanceMethod<&ExecutionWrap::WorkflowName>("workflow"),
                           InstanceMethod<&ExecutionWrap::Input>("input"),
                           InstanceMethod<&ExecutionWrap::Cancelled>("cancelled"),
                           InstanceMethod<&ExecutionWrap::StepBegin>("stepBegin"),
                           InstanceMethod<&ExecutionWrap::StepComplete>("stepComplete"),
                           InstanceMethod<&ExecutionWrap::WhenDurable>("whenDurable"),
                           InstanceMethod<&ExecutionWrap::StepFail>("stepFail"),
                           InstanceMethod<&ExecutionWrap::StepRateLimited>("stepRateLimited"),
                           InstanceMethod<&ExecutionWrap::Acquire>("acquire"),
                           InstanceMethod<&ExecutionWrap::Heartbeat>("heartbeat"),
                           InstanceMethod<&ExecutionWrap::Llm>("llm"),
                           InstanceMethod<&ExecutionWrap::Http>("http"),
                           InstanceMethod<&ExecutionWrap::Image>("image"),
                           InstanceMethod<&ExecutionWrap::Sleep>("sleep"),
                           InstanceMethod<&ExecutionWrap::WaitForSignal>("waitForSignal"),
                           InstanceMethod<&ExecutionWrap::Invoke>("invoke"),
                           InstanceMethod<&ExecutionWrap::Progress>("progress"),
                           InstanceMethod<&ExecutionWrap::Artifact>("artifact"),
                           InstanceMethod<&ExecutionWrap::BinaryArtifact>("binaryArtifact"),
                           InstanceMethod<&ExecutionWrap::Emit>("emit"),
                           InstanceMethod<&ExecutionWrap::Chunk>("chunk"),
                           InstanceMethod<&ExecutionWrap::FinishCompleted>("finishCompleted"),
                           InstanceMethod<&ExecutionWrap::FinishFailed>("finishFailed"),
                           InstanceMethod<&ExecutionWrap::FinishParked>("finishParked"),
                       });
  }

  explicit ExecutionWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ExecutionWrap>(info) {
    execution_ = info[0].As<Napi::External<sl_execution>>().Data();
    workflow_ = info[1].As<Napi::External<Workflow>>().Data();
  }

  ~ExecutionWrap() override {
    // Never finished by JS (a bug in the dispatcher): the run is reclaimed
    // when its lease expires. Nothing to free safely here.
  }

 private:
  sl_execution* live(Napi::Env env) {
    if (!execution_) {
      throw to_js_error(env,
                        Failure{SL_EINVALIDSTATE, SL_CLASS_FATAL, "the execution is finished", {}, {}});
    }
    return execution_;
  }

  Napi::Value View(const Napi::CallbackInfo& info,
                   int (*f)(const char**, size_t*, const sl_execution*)) {
    const char* out = nullptr;
    size_t len = 0;
    check(info.Env(), f(&out, &len, live(info.Env())));
    return Napi::String::New(info.Env(), out, len);
  }
  Napi::Value RunId(const Napi::CallbackInfo& info) { return View(info, sl_execution_run_id); }
  Napi::Value WorkflowName(const Napi::CallbackInfo& info) {
    return View(info, sl_execution_workflow);
  }
  Napi::Value Input(const Napi::CallbackInfo& info) { return View(info, sl_execution_input); }

  Napi::Value Cancelled(const Napi::CallbackInfo& info) {
    if (!execution_) return Napi::Boolean::New(info.Env(), true);
    int out = 0;
    check(info.Env(), sl_execution_cancelled(&out, execution_));
    return Napi::Boolean::New(info.Env(), out != 0);
  }

  // -> {seq, memoized, result?}
  Napi::Value StepBegin(const Napi::CallbackInfo& info) {
    auto env = info.Env();
    auto name = arg_string(info, 0);
    int64_t seq = 0;
    int memoized = 0;
    char* result = nullptr;
    size_t len = 0;
    // stepBegin(name, retryJson?): a step's own policy ("" or absent: none).
    std::string retry = info.Length() > 1 && info[1].IsString() ? arg_string(info, 1) : "";
    check(env, sl_execution_step_begin_with_retry(&seq, &memoized, &result, &len, live(env),
                                                  name.data(), name.size(), retry.data(),
                                                  retry.size()));
    auto out = Napi::Object::New(env);
    out.Set("seq", Napi::Number::New(env, static_cast<double>(seq)));
    out.Set("memoized", Napi::Boolean::New(env, memoized != 0));
    out.Set("result", string_or_undefined(env, result, len));
    return out;
  }

  Napi::Value StepComplete(const Napi::CallbackInfo& info) {
    auto env = info.Env();
    auto seq = arg_int64(info, 0);
    auto json = arg_string(info, 1);
    check(env, sl_execution_step_complete(live(env), seq, json.data(), json.size()));
    return env.Undefined();
  }

  // whenDurable() -> Promise, settled once everything this execution wrote so
  // far is committed, or rejected with the error that lost a write.
  Napi::Value WhenDurable(const Napi::CallbackInfo& info) {
    auto env = info.Env();
    return env.GetInstanceData<AddonData>()->durable->Wait(env, live(env));
  }

  Napi::Value StepFail(const Napi::CallbackInfo& info) {
    auto env = info.Env();
    auto seq = arg_int64(info, 0);
    auto cls = static_cast<int>(arg_int64(info, 1));
    auto message = arg_string(info, 2);
    // Optional 4th and 5th arguments: the JS error's name and stack.
    if (info.Length() > 3) {
      auto type = arg_string(info, 3);
      auto trace = arg_string(info, 4);
      check(env, sl_execution_step_fail_origin(live(env), seq, cls, message.data(), message.size(),
                                               type.data(), type.size(), trace.data(), trace.size()));
      return env.Undefined();
    }
    check(env, sl_execution_step_fail(live(env), seq, cls, message.data(), message.size()));
    return env.Undefined();
  }

  Napi::Value StepRateLimited(const Napi::CallbackInfo& info) {
    auto env = info.Env();
    auto seq = arg_int64(info, 0);
    auto retry_after_ms = arg_int64(info, 1);
    auto message = arg_string(info, 2);
    check(env, sl_execution_step_rate_limited(live(env), seq, retry_after_ms, message.data(),
                                              message.size()));
    return env.Undefined();
  }

  // acquire(seq, resource, tokens, onOutcome) -> as llm(): the outcome when
  // the resource admitted the step at once, else undefined and onOutcome later.
  Napi::Value Acquire(const Napi::CallbackInfo& info) {
    auto env = info.Env();
    auto seq = arg_int64(info, 0);
    auto resource = arg_string(info, 1);
    if (info.Length() < 4 || !info[2].IsNumber() || !info[3].IsFunction()) {
      throw Napi::TypeError::New(env, "acquire(seq, resource, tokens, fn): tokens must be a number, fn a function");
    }
    double tokens = info[2].As<Napi::Number>().DoubleValue();
    auto* execution = live(env);
    auto call = std::make_unique<PendingOutcome>();
    int code = sl_execution_acquire(execution, seq, resource.data(), resource.size(), tokens,
                                    on_acquired, call.get());
    if (code != SL_OK) throw_last(env, code);  // the callback is not called
    return settle_or_wait(env, std::move(call), info[3].As<Napi::Function>(), "storyloom.acquire");
  }

  // The outcome a callback left before the call returned, or a thread-safe
  // function for the one still to come (the callback then deletes the call).
  static Napi::Value settle_or_wait(Napi::Env env, std::unique_ptr<PendingOutcome> call,
                                    Napi::Function fn, const char* name) {
    std::unique_lock lock(call->mutex);
    if (call->early) {
      auto outcome = std::move(*call->early);
      lock.unlock();
      return outcome_to_js(env, outcome);
    }
    try {
      call->channel = JsChannel::Open(env, fn, name);
    } catch (...) {
      lock.unlock();
      call.release();  // the outcome will land in `early`, unread: leaked, never dangling
      throw;
    }
    call->returned = true;
    lock.unlock();
    call.release();
    return env.Undefined();
  }

  Napi::Value Heartbeat(const Napi::CallbackInfo& info) {
    auto env = info.Env();
    auto seq = arg_int64(info, 0);
    check(env, sl_execution_heartbeat(live(env), seq));
    return env.Undefined();
  }

  // llm(name, requestJson, onOutcome) -> outcome when it is already known
  // (memoized, or answered before the call returned), else undefined and
  // onOutcome(outcome) is called once later on the JS thread.
  Napi::Value Llm(const Napi::CallbackInfo& info) {
    auto env = info.Env();
    auto name = arg_string(info, 0);
    auto request = arg_string(info, 1);
    if (info.Length() < 3 || !info[2].IsFunction()) {
      throw Napi::TypeError::New(env, "argument 2 must be a function");
    }
    // llm(name, requestJson, onOutcome, retryJson?): a step's own policy.
    std::string retry = info.Length() > 3 && info[3].IsString() ? arg_string(info, 3) : "";
    auto* execution = live(env);
    auto call = std::make_unique<PendingOutcome>();
    int code = sl_execution_llm_with_retry(execution, name.data(), name.size(), request.data(),
                                           request.size(), retry.data(), retry.size(),
                                           on_llm_outcome, call.get());
    if (code != SL_OK) throw_last(env, code);  // the callback is not called
    return settle_or_wait(env, std::move(call), info[2].As<Napi::Function>(), "storyloom.llm");
  }

  // http(name, requestJson, retryJson, onOutcome) -> as llm().
  Napi::Value Http(const Napi::CallbackInfo& info) {
    auto env = info.Env();
    auto name = arg_string(info, 0);
    auto request = arg_string(info, 1);
    auto retry = arg_string(info, 2);
    if (info.Length() < 4 || !info[3].IsFunction()) {
      throw Napi::TypeError::New(env, "argument 3 must be a function");
    }
    auto* execution = live(env);
    auto call = std::make_unique<PendingOutcome>();
    int code = sl_execution_http(execution, name.data(), name.size(), request.data(),
                                 request.size(), retry.data(), retry.size(), on_http_outcome,
                                 call.get());
    if (code != SL_OK) throw_last(env, code);  // the callback is not called
    return settle_or_wait(env, std::move(call), info[3].As<Napi::Function>(), "storyloom.http");
  }

  // image(name, requestJson, retryJson, onOutcome) -> as http().
  Napi::Value Image(const Napi::CallbackInfo& info) {
    auto env = info.Env();
    auto name = arg_string(info, 0);
    auto request = arg_string(info, 1);
    auto retry = arg_string(info, 2);
    if (info.Length() < 4 || !info[3].IsFunction()) {
      throw Napi::TypeError::New(env, "argument 3 must be a function");
    }
    auto* execution = live(env);
    auto call = std::make_unique<PendingOutcome>();
    int code = sl_execution_image(execution, name.data(), name.size(), request.data(),
                                  request.size(), retry.data(), retry.size(), on_image_outcome,
                                  call.get());
    if (code != SL_OK) throw_last(env, code);  // the callback is not called
    return settle_or_wait(env, std::move(call), info[3].As<Napi::Function>(), "storyloom.image");
  }

  Napi::Value Sleep(const Napi::CallbackInfo& info) {
    auto env = info.Env();
    auto name = arg_string(info, 0);
    auto ms = arg_int64(info, 1);
    int state = 0;
    check(env, sl_execution_sleep(&state, live(env), name.data(), name.size(), ms));
    return Napi::Number::New(env, state);
  }

  // -> {state, payload?}
  Napi::Value WaitForSignal(const Napi::CallbackInfo& info) {
    auto env = info.Env();
    auto name = arg_string(info, 0);
    auto timeout = arg_int64(info, 1);
    int state = 0;
    char* payload = nullptr;
    size_t len = 0;
    check(env, sl_execution_wait_for_signal(&state, &payload, &len, live(env), name.data(),
                                            name.size(), timeout));
    auto out = Napi::Object::New(env);
    out.Set("state", Napi::Number::New(env, state));
    out.Set("payload", string_or_undefined(env, payload, len));
    return out;
  }

  // -> {state, output?}
  Napi::Value Invoke(const Napi::CallbackInfo& info) {
    auto env = info.Env();
    auto name = arg_string(info, 0);
    auto workflow = arg_string(info, 1);
    auto input = arg_string(info, 2);
    int state = 0;
    char* output = nullptr;
    size_t len = 0;
    check(env, sl_execution_invoke(&state, &output, &len, live(env), name.data(), name.size(),
                                   workflow.data(), workflow.size(), input.data(), input.size()));
    auto out = Napi::Object::New(env);
    out.Set("state", Napi::Number::New(env, state));
    out.Set("output", string_or_undefined(env, output, len));
    return out;
  }

  Napi::Value Progress(const Napi::CallbackInfo& info) {
    auto env = info.Env();
    auto json = arg_string(info, 0);
    check(env, sl_execution_progress(live(env), json.data(), json.size()));
    return env.Undefined();
  }

  Napi::Value Artifact(const Napi::CallbackInfo& info) {
    auto env = info.Env();
    auto key = arg_string(info, 0);
    auto json = arg_string(info, 1);
    check(env, sl_execution_artifact(live(env), key.data(), key.size(), json.data(), json.size()));
    return env.Undefined();
  }

  // binaryArtifact(key, contentType, bytes: Buffer | Uint8Array)
  Napi::Value BinaryArtifact(const Napi::CallbackInfo& info) {
    auto env = info.Env();
    auto key = arg_string(info, 0);
    auto type = arg_string(info, 1);
    if (info.Length() < 3 || !info[2].IsTypedArray() ||
        info[2].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
      throw Napi::TypeError::New(env, "argument 2 must be a Buffer or Uint8Array");
    }
    auto bytes = info[2].As<Napi::Uint8Array>();
    check(env, sl_execution_binary_artifact(live(env), key.data(), key.size(), type.data(),
                                            type.size(), bytes.Data(), bytes.ByteLength()));
    return env.Undefined();
  }

  Napi::Value Emit(const Napi::CallbackInfo& info) {
    auto env = info.Env();
    auto type = arg_string(info, 0);
    auto json = arg_string(info, 1);
    check(env, sl_execution_emit(live(env), type.data(), type.size(), json.data(), json.size()));
    return env.Undefined();
  }

  Napi::Value Chunk(const Napi::CallbackInfo& info) {
    auto env = info.Env();
    auto stream = arg_string(info, 0);
    auto text = arg_string(info, 1);
    check(env,
          sl_execution_chunk(live(env), stream.data(), stream.size(), text.data(), text.size()));
    return env.Undefined();
  }

  // The finish calls free the execution whatever they return.
  sl_execution* release(Napi::Env env) {
    auto* execution = live(env);
    execution_ = nullptr;
    if (--workflow_->in_flight == 0 && !workflow_->released) workflow_->channel->Unref(env);
    return execution;
  }

  Napi::Value FinishCompleted(const Napi::CallbackInfo& info) {
    auto env = info.Env();
    auto json = arg_string(info, 0);
    check(env, sl_execution_finish_completed(release(env), json.data(), json.size()));
    return env.Undefined();
  }

  Napi::Value FinishFailed(const Napi::CallbackInfo& info) {
    auto env = info.Env();
    auto cls = static_cast<int>(arg_int64(info, 0));
    auto message = arg_string(info, 1);
    if (info.Length() > 2) {  // the escaping error's name and stack
      auto type = arg_string(info, 2);
      auto trace = arg_string(info, 3);
      check(env, sl_execution_finish_failed_origin(release(env), cls, message.data(),
                                                   message.size(), type.data(), type.size(),
                                                   trace.data(), trace.size()));
      return env.Undefined();
    }
    check(env, sl_execution_finish_failed(release(env), cls, message.data(), message.size()));
    return env.Undefined();
  }

  Napi::Value FinishParked(const Napi::CallbackInfo& info) {
    auto env = info.Env();
    check(env, sl_execution_finish_parked(release(env)));
    return env.Undefined();
  }

  sl_execution* execution_ = nullptr;
  Workflow* workflow_ = nullptr;
};

}  // namespace

Napi::Function DefineExecution(Napi::Env env) { return ExecutionWrap::Define(env); }

// Engine thread -> JS thread. Runs on a worker of the engine.
void on_execute(void* user_data, sl_execution* execution) {
  auto* workflow = static_cast<Workflow*>(user_data);
  auto status = workflow->channel->Call(
      execution, [workflow](Napi::Env env, Napi::Function dispatch, sl_execution* ex) {
        // The environment is going away (env or the function is gone): leave the
        // execution unfinished; the engine's close requeues the run.
        if (env == nullptr || dispatch.IsEmpty()) return;
        try {
          auto* data = env.GetInstanceData<AddonData>();
          if (workflow->in_flight++ == 0) workflow->channel->Ref(env);
          auto wrapped = data->execution_ctor.New({Napi::External<sl_execution>::New(env, ex),
                                                   Napi::External<Workflow>::New(env, workflow)});
          dispatch.Call({wrapped});
        } catch (const Napi::Error&) {
          // JavaScript cannot run any more (teardown); nothing here may throw.
        }
      });
  // Otherwise the environment is shutting down: the execution is left
  // unfinished, so the engine's close puts the run back in the queue (or,
  // should the process die first, its lease expires and another engine
  // resumes it). Finishing it as failed would fail the run for good.
  (void)status;
}

}  // namespace storyloom_node
