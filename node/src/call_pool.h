// The addon's own threads for blocking engine calls (CallPool).
#pragma once

#include <napi.h>
#include <storyloom/storyloom.h>

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "marshal.h"

namespace storyloom_node {

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

  // Environment teardown or process exit: calls still queued are dropped
  // (nobody can receive them), those running finish their C call first.
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

  // Settles the call's Promise on the JS thread. Any thread; dropped once
  // Stop() began (an Answered from the engine's writer thread may come after
  // it, when the environment is about to free tsfn_).
  void Deliver(Call* call) {
    std::lock_guard lock(mutex_);
    if (stopping_) {
      delete call;
      return;
    }
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

}  // namespace storyloom_node
