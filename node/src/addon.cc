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
#include <napi.h>
#include <storyloom/storyloom.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "email.h"
#include "webhooks.h"

namespace {

struct Failure {
  int code = SL_OK;
  int error_class = SL_CLASS_FATAL;
  std::string message;
  std::string origin_type;   // a step's error raised again on replay: its class name
  std::string origin_trace;  // and stack (sl_last_error_origin)
};

// Reads the calling thread's last error (the C ABI keeps it per thread).
Failure last_failure(int code) {
  const char* msg = nullptr;
  size_t len = 0;
  sl_last_error_message(&msg, &len);
  Failure f{code, sl_last_error_class(), std::string(msg ? msg : "", msg ? len : 0), {}, {}};
  const char* type = nullptr;
  const char* trace = nullptr;
  size_t type_len = 0;
  size_t trace_len = 0;
  sl_last_error_origin(&type, &type_len, &trace, &trace_len);
  f.origin_type.assign(type ? type : "", type_len);
  f.origin_trace.assign(trace ? trace : "", trace_len);
  return f;
}

// A plain Error carrying the C status; lib/errors.ts turns it into a
// StoryloomError subclass.
Napi::Error to_js_error(Napi::Env env, const Failure& f) {
  auto error = Napi::Error::New(env, f.message);
  error.Set("slCode", Napi::Number::New(env, f.code));
  error.Set("slClass", Napi::Number::New(env, f.error_class));
  if (!f.origin_type.empty() || !f.origin_trace.empty()) {
    error.Set("slOriginType", Napi::String::New(env, f.origin_type));
    error.Set("slOriginTrace", Napi::String::New(env, f.origin_trace));
  }
  return error;
}

[[noreturn]] void throw_last(Napi::Env env, int code) {
  throw to_js_error(env, last_failure(code));
}

void check(Napi::Env env, int code) {
  if (code != SL_OK) throw_last(env, code);
}

std::string take(char* buffer, size_t len) {
  std::string out(buffer ? buffer : "", buffer ? len : 0);
  sl_free(buffer);
  return out;
}

std::string arg_string(const Napi::CallbackInfo& info, size_t i) {
  if (i >= info.Length() || !info[i].IsString()) {
    throw Napi::TypeError::New(info.Env(), "argument " + std::to_string(i) + " must be a string");
  }
  return info[i].As<Napi::String>().Utf8Value();
}

int64_t arg_int64(const Napi::CallbackInfo& info, size_t i) {
  if (i >= info.Length() || !info[i].IsNumber()) {
    throw Napi::TypeError::New(info.Env(), "argument " + std::to_string(i) + " must be a number");
  }
  return info[i].As<Napi::Number>().Int64Value();
}

Napi::Value string_or_undefined(Napi::Env env, char* buffer, size_t len) {
  if (!buffer) return env.Undefined();
  return Napi::String::New(env, take(buffer, len));
}

// Blocking engine calls (start_many waits for its group commit, reads wait
// for a connection) run on the addon's own threads, not libuv's pool:
// with libuv's 4 threads a handful of starts in flight would cap the rate of
// starts and stall the app's fs, dns and zlib work meanwhile. Each call
// settles a Promise with its JSON text (or undefined) or with the error it
// left, on the JS thread through one thread-safe function, referenced only
// while calls are pending.
class CallPool {
 public:
  using Op = std::function<int(std::string& out, bool& has_out)>;

  explicit CallPool(Napi::Env env) {
    tsfn_ = Napi::ThreadSafeFunction::New(
        env, Napi::Function::New(env, [](const Napi::CallbackInfo&) {}), "storyloom.call", 0, 1);
    tsfn_.Unref(env);
  }

  // JS thread.
  // as_buffer: the result is bytes (a Buffer), not text.
  Napi::Promise Schedule(Napi::Env env, Op op, bool as_buffer = false) {
    auto* call = new Call(std::move(op), Napi::Promise::Deferred::New(env));
    call->as_buffer = as_buffer;
    auto promise = call->deferred.Promise();
    if (pending_++ == 0) tsfn_.Ref(env);
    {
      std::lock_guard lock(mutex_);
      queue_.push_back(call);
      if (idle_ == 0 && threads_.size() < kMaxThreads) threads_.emplace_back([this] { Loop(); });
    }
    wake_.notify_one();
    return promise;
  }

  // A call that answers through a C callback instead of blocking a thread
  // (sl_engine_start_async): `begin` gets the callback and its user data and
  // returns the C status; on SL_OK the callback settles the Promise later,
  // from whatever thread, else the Promise is rejected at once. JS thread.
  using Begin = std::function<int(sl_start_fn fn, void* user_data)>;
  Napi::Promise ScheduleAsync(Napi::Env env, const Begin& begin) {
    auto* call = new Call(nullptr, Napi::Promise::Deferred::New(env));
    auto promise = call->deferred.Promise();
    call->self = this;
    int code = begin(&CallPool::Answered, call);
    if (code != SL_OK) {
      call->deferred.Reject(to_js_error(env, last_failure(code)).Value());
      delete call;
      return promise;
    }
    if (pending_++ == 0) tsfn_.Ref(env);
    return promise;
  }

  // Environment teardown: calls still queued are dropped (nobody can receive
  // them), those running finish their C call first.
  void Stop() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
      for (auto* call : queue_) delete call;
      queue_.clear();
    }
    wake_.notify_all();
    for (auto& t : threads_) t.join();
    threads_.clear();
    // tsfn_ is finalized by the environment's own teardown, after this hook.
  }

 private:
  struct Call {
    Call(Op o, Napi::Promise::Deferred d) : op(std::move(o)), deferred(std::move(d)) {}
    Op op;
    Napi::Promise::Deferred deferred;
    int code = SL_OK;
    Failure failure;
    std::string out;
    bool has_out = false;
    bool as_buffer = false;
    CallPool* self = nullptr;  // ScheduleAsync's calls: the pool to answer through
  };

  // sl_start_fn of ScheduleAsync's calls: on the engine's writer thread, so it
  // only copies the answer and queues it to the JS thread.
  static void Answered(void* user_data, int status, const char* json, size_t json_len,
                       const char* message, size_t message_len) {
    auto* call = static_cast<Call*>(user_data);
    call->code = status;
    if (status == SL_OK) {
      call->out.assign(json, json_len);
      call->has_out = true;
    } else {
      call->failure = Failure{status, SL_CLASS_FATAL, std::string(message, message_len), {}, {}};
    }
    call->self->Deliver(call);
  }

  static constexpr size_t kMaxThreads = 32;

  void Loop() {
    std::unique_lock lock(mutex_);
    for (;;) {
      ++idle_;
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      --idle_;
      if (stopping_) return;
      auto* call = queue_.front();
      queue_.pop_front();
      lock.unlock();
      call->code = call->op(call->out, call->has_out);
      if (call->code != SL_OK) call->failure = last_failure(call->code);  // same thread as the call
      Deliver(call);
      lock.lock();
    }
  }

  // Settles the call's Promise on the JS thread. Any thread.
  void Deliver(Call* call) {
    auto status = tsfn_.NonBlockingCall(call, [this](Napi::Env env, Napi::Function, Call* c) {
      std::unique_ptr<Call> owned(c);
      if (env == nullptr) return;
      if (--pending_ == 0) tsfn_.Unref(env);
      try {
        if (c->code != SL_OK) {
          c->deferred.Reject(to_js_error(env, c->failure).Value());
        } else {
          c->deferred.Resolve(
              !c->has_out    ? env.Undefined()
              : c->as_buffer ? Napi::Value(Napi::Buffer<char>::Copy(env, c->out.data(), c->out.size()))
                             : Napi::Value(Napi::String::New(env, c->out)));
        }
      } catch (const Napi::Error&) {
        // JavaScript cannot run any more (teardown); nothing here may throw.
      }
    });
    if (status != napi_ok) delete call;  // the environment is going away
  }

  Napi::ThreadSafeFunction tsfn_;
  size_t pending_ = 0;  // JS thread only
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Call*> queue_;
  std::vector<std::thread> threads_;
  size_t idle_ = 0;
  bool stopping_ = false;
};

// sl_execution_when_durable as a Promise. The callback fires on the JS
// thread during the call when nothing is pending (the Promise is settled as
// the call returns), else once on the engine's writer thread, which must not
// wait: it queues the outcome to the JS thread through one thread-safe
// function shared by all executions. That function is never referenced: a
// wait belongs to an execution in the hands of JS, whose workflow's
// thread-safe function already holds the loop.
//
// Teardown: an engine closed by its wrapper's finalizer may still call back
// after the environment has closed that function. A cleanup hook, which runs
// before the function's own, marks the channel closed under its mutex; from
// then on an outcome is dropped (nobody can receive it), never posted.
class DurableWaits {
 public:
  explicit DurableWaits(Napi::Env env) : channel_(std::make_shared<Channel>()) {
    channel_->tsfn = Napi::ThreadSafeFunction::New(
        env, Napi::Function::New(env, [](const Napi::CallbackInfo&) {}), "storyloom.durable", 0, 1);
    channel_->tsfn.Unref(env);
    napi_add_env_cleanup_hook(
        env,
        [](void* data) {
          std::unique_ptr<std::shared_ptr<Channel>> channel(static_cast<std::shared_ptr<Channel>*>(data));
          std::lock_guard lock((*channel)->mutex);
          (*channel)->closed = true;
        },
        new std::shared_ptr<Channel>(channel_));
  }

  // JS thread. Resolves with undefined, or rejects with the engine's error
  // (SL_ESTORE, SL_ECANCELLED, SL_EINVALIDSTATE) and its message.
  Napi::Value Wait(Napi::Env env, sl_execution* execution) {
    auto* wait = new Pending(channel_, Napi::Promise::Deferred::New(env));
    auto promise = wait->deferred.Promise();
    int code = sl_execution_when_durable(execution, &DurableWaits::OnDurable, wait);
    if (code != SL_OK) {  // the callback is not called
      auto failure = last_failure(code);
      delete wait;
      throw to_js_error(env, failure);
    }
    std::unique_lock lock(wait->mutex);
    wait->in_call = false;
    if (wait->answered_in_call) {
      lock.unlock();
      Settle(env, std::unique_ptr<Pending>(wait));
    }
    // Else the writer thread posts it (perhaps already has: its delivery on
    // this thread comes after this function returns).
    return promise;
  }

 private:
  struct Channel {
    std::mutex mutex;
    bool closed = false;  // the environment is being torn down
    Napi::ThreadSafeFunction tsfn;
  };

  struct Pending {
    Pending(std::shared_ptr<Channel> c, Napi::Promise::Deferred d)
        : channel(std::move(c)), js_thread(std::this_thread::get_id()), deferred(std::move(d)) {}
    std::shared_ptr<Channel> channel;
    std::thread::id js_thread;
    Napi::Promise::Deferred deferred;
    std::mutex mutex;
    bool in_call = true;            // Wait() has not yet returned from the C call
    bool answered_in_call = false;  // the callback ran on the JS thread during it
    Failure failure;
  };

  static void OnDurable(void* user_data, int status, const char* message, size_t len) {
    auto* wait = static_cast<Pending*>(user_data);
    {
      std::lock_guard lock(wait->mutex);
      wait->failure.code = status;
      // A lost commit is the store failing: the run is retried.
      wait->failure.error_class = status == SL_ESTORE ? SL_CLASS_RETRYABLE : SL_CLASS_FATAL;
      wait->failure.message.assign(message ? message : "", message ? len : 0);
      if (wait->in_call && std::this_thread::get_id() == wait->js_thread) {
        wait->answered_in_call = true;
        return;
      }
    }
    Post(wait);
  }

  // Any thread: hands the outcome to the JS thread.
  static void Post(Pending* wait) {
    auto channel = wait->channel;
    std::lock_guard lock(channel->mutex);
    napi_status status = napi_closing;
    if (!channel->closed) {
      status = channel->tsfn.NonBlockingCall(wait, [](Napi::Env env, Napi::Function, Pending* w) {
        std::unique_ptr<Pending> owned(w);
        if (env == nullptr) return;
        Settle(env, std::move(owned));
      });
    }
    if (status != napi_ok) delete wait;  // the environment is going away
  }

  static void Settle(Napi::Env env, std::unique_ptr<Pending> wait) {
    try {
      if (wait->failure.code != SL_OK) {
        wait->deferred.Reject(to_js_error(env, wait->failure).Value());
      } else {
        wait->deferred.Resolve(env.Undefined());
      }
    } catch (const Napi::Error&) {
      // JavaScript cannot run any more (teardown); nothing here may throw.
    }
  }

  std::shared_ptr<Channel> channel_;
};

struct AddonData {
  Napi::FunctionReference engine_ctor;
  Napi::FunctionReference execution_ctor;
  Napi::FunctionReference subscription_ctor;
  std::unique_ptr<CallPool> calls;
  std::unique_ptr<DurableWaits> durable;
};

Napi::Value schedule(Napi::Env env, CallPool::Op op) {
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
// outlive the engine, and its thread-safe function to the JS dispatcher.
struct Workflow {
  Napi::ThreadSafeFunction tsfn;
  int in_flight = 0;      // executions JS holds; JS thread only
  bool released = false;  // tsfn released by close; JS thread only
};

// ---- executions ------------------------------------------------------------

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
// directly; after that it goes through `tsfn`, created only then, so a
// memoized replay creates no thread-safe function. Whoever takes the
// outcome deletes the call.
struct PendingOutcome {
  std::mutex mutex;
  bool returned = false;  // the JS thread has left sl_execution_llm; tsfn is set
  std::optional<LlmOutcomeCopy> early;
  Napi::ThreadSafeFunction tsfn;
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
      call->tsfn.NonBlockingCall(raw, [](Napi::Env env, Napi::Function fn, LlmOutcomeCopy* c) {
        std::unique_ptr<LlmOutcomeCopy> owned(c);
        if (env == nullptr || fn.IsEmpty()) return;
        try {
          fn.Call({outcome_to_js(env, *c)});
        } catch (const Napi::Error&) {
          // JavaScript cannot run any more (teardown); nothing here may throw.
        }
      });
  if (status != napi_ok) delete raw;
  call->tsfn.Release();
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
      call->tsfn = Napi::ThreadSafeFunction::New(env, fn, name, 0, 1);
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
    if (--workflow_->in_flight == 0 && !workflow_->released) workflow_->tsfn.Unref(env);
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

// Engine thread -> JS thread. Runs on a worker of the engine.
void on_execute(void* user_data, sl_execution* execution) {
  auto* workflow = static_cast<Workflow*>(user_data);
  auto status = workflow->tsfn.NonBlockingCall(
      execution, [workflow](Napi::Env env, Napi::Function dispatch, sl_execution* ex) {
        // The environment is going away (env or the function is gone): leave the
        // execution unfinished; the engine's close requeues the run.
        if (env == nullptr || dispatch.IsEmpty()) return;
        try {
          auto* data = env.GetInstanceData<AddonData>();
          if (workflow->in_flight++ == 0) workflow->tsfn.Ref(env);
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

// ---- lifecycle reports ----------------------------------------------------------

// The lifecycle callback's user_data: a thread-safe function to the JS mapper
// (lib/telemetry.ts), released when the engine closes.
struct Lifecycle {
  Napi::ThreadSafeFunction tsfn;
};

// The engine's reporter thread -> JS thread; the report is copied (it is only
// lent for the call). Dropped when the environment is going away.
void on_lifecycle(void* user_data, const char* json, size_t len) {
  auto* lifecycle = static_cast<Lifecycle*>(user_data);
  auto* copy = new std::string(json, len);
  auto status = lifecycle->tsfn.NonBlockingCall(
      copy, [](Napi::Env env, Napi::Function fn, std::string* report) {
        std::unique_ptr<std::string> owned(report);
        if (env == nullptr || fn.IsEmpty()) return;
        try {
          fn.Call({Napi::String::New(env, *owned)});
        } catch (const Napi::Error&) {
          // A throwing mapper must not take the process down: the report is dropped.
        }
      });
  if (status != napi_ok) delete copy;
}

// ---- subscriptions -----------------------------------------------------------

struct EventCopy {
  int64_t id;
  int kind;
  std::string run_id, type, data;
  int64_t created_at_ms;
  std::string sse;
  bool has_sse = false;
};

// Shared by its SubscriptionWrap and its thread-safe function; the wrapper
// closes the C subscription before letting go, so on_event never sees a
// dangling pointer.
struct Subscription {
  Napi::ThreadSafeFunction tsfn;
  sl_subscription* handle = nullptr;
  bool sse = false;
  bool released = false;  // tsfn released, or finalized by the environment's teardown
};

// Engine event thread: copy, format SSE if asked (allowed in callbacks), queue.
void on_event(void* user_data, const sl_event* event) {
  auto* sub = static_cast<Subscription*>(user_data);
  auto* copy = new EventCopy{event->id,
                             event->kind,
                             std::string(event->run_id, event->run_id_len),
                             std::string(event->type, event->type_len),
                             std::string(event->data_json, event->data_len),
                             event->created_at_ms,
                             {},
                             false};
  if (sub->sse) {
    char* out = nullptr;
    size_t len = 0;
    if (sl_event_to_sse(&out, &len, event) == SL_OK) {
      copy->sse = take(out, len);
      copy->has_sse = true;
    }
  }
  auto status = sub->tsfn.NonBlockingCall(copy, [](Napi::Env env, Napi::Function fn, EventCopy* e) {
    std::unique_ptr<EventCopy> owned(e);
    if (env == nullptr || fn.IsEmpty()) return;
    try {
      auto obj = Napi::Object::New(env);
      obj.Set("id", Napi::Number::New(env, static_cast<double>(e->id)));
      obj.Set("kind", Napi::Number::New(env, e->kind));
      obj.Set("runId", Napi::String::New(env, e->run_id));
      obj.Set("type", Napi::String::New(env, e->type));
      obj.Set("data", Napi::String::New(env, e->data));
      obj.Set("createdAtMs", Napi::Number::New(env, static_cast<double>(e->created_at_ms)));
      if (e->has_sse) obj.Set("sse", Napi::String::New(env, e->sse));
      fn.Call({obj});
    } catch (const Napi::Error&) {
      // JavaScript cannot run any more (teardown); nothing here may throw.
    }
  });
  if (status != napi_ok) delete copy;
}

class SubscriptionWrap : public Napi::ObjectWrap<SubscriptionWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Subscription", {InstanceMethod<&SubscriptionWrap::Close>("close")});
  }

  explicit SubscriptionWrap(const Napi::CallbackInfo& info)
      : Napi::ObjectWrap<SubscriptionWrap>(info) {
    auto* holder = info[0].As<Napi::External<std::shared_ptr<Subscription>>>().Data();
    sub_ = std::move(*holder);
    delete holder;
  }

  ~SubscriptionWrap() override { CloseNow(); }

 private:
  void CloseNow() {
    if (!sub_) return;
    // After sl_subscription_close no callback runs or will run, so the
    // thread-safe function can be released (events already queued are still
    // delivered, and ignored by the JS side) and the Subscription freed.
    sl_subscription_close(sub_->handle);
    sub_->handle = nullptr;
    if (!sub_->released) {
      sub_->released = true;
      sub_->tsfn.Release();
    }
    sub_.reset();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    CloseNow();
    return info.Env().Undefined();
  }

  std::shared_ptr<Subscription> sub_;
};

// ---- engine ------------------------------------------------------------------

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

class EngineWrap : public Napi::ObjectWrap<EngineWrap> {
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
  }

  ~EngineWrap() override {
    // Not closed by JS: close here (no executions can be in JS any more, as
    // they hold the engine object alive through the dispatcher). The
    // environment is going away: no report may reach JS any more.
    if (engine_ && lifecycle_) sl_engine_set_lifecycle(engine_, nullptr, nullptr);
    if (engine_) sl_engine_close(engine_);
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
    workflow->tsfn =
        Napi::ThreadSafeFunction::New(env, info[2].As<Napi::Function>(), "storyloom.execute", 0, 1);
    workflow->tsfn.Unref(env);
    int code = sl_engine_register_workflow(live(env), name.data(), name.size(), &options,
                                           on_execute, workflow.get());
    if (code != SL_OK) {
      auto failure = last_failure(code);
      workflow->tsfn.Release();
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
    lifecycle->tsfn = Napi::ThreadSafeFunction::New(env, info[0].As<Napi::Function>(),
                                                    "storyloom.lifecycle", 0, 1);
    lifecycle->tsfn.Unref(env);
    int code = sl_engine_set_lifecycle(engine, on_lifecycle, lifecycle.get());
    if (code != SL_OK) {
      auto failure = last_failure(code);
      lifecycle->tsfn.Release();
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
      // An execution close gave up on may still be in JS: it no longer
      // touches the released thread-safe function when it finishes.
      for (auto& workflow : owner_->workflows_) {
        workflow->released = true;
        workflow->tsfn.Release();
      }
      // sl_engine_close delivered the last report: nothing calls it any more.
      if (owner_->lifecycle_) owner_->lifecycle_->tsfn.Release();
      deferred_.Resolve(Env().Undefined());
      self_.Reset();
    }

   private:
    Napi::Promise::Deferred deferred_;
    EngineWrap* owner_;
    sl_engine* engine_;
    Napi::ObjectReference self_;
  };

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

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* data = new AddonData();
  auto engine = EngineWrap::Define(env);
  auto execution = ExecutionWrap::Define(env);
  auto subscription = SubscriptionWrap::Define(env);
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
  exports.Set("Engine", engine);
  storyloom_node::InitWebhooks(env, exports);
  storyloom_node::InitEmail(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(storyloom, Init)
