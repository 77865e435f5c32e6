// sl_execution_when_durable as a Promise (DurableWaits).
#pragma once

#include <napi.h>
#include <storyloom/storyloom.h>

#include <memory>
#include <mutex>
#include <thread>

#include "marshal.h"

namespace storyloom_node {

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

}  // namespace storyloom_node
