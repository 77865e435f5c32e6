// JsChannel: a Napi::ThreadSafeFunction that threads outside JavaScript (the
// engine's) may call while it exists, and never after.
//
// Node frees every thread-safe function when it tears the environment down
// (each function's own cleanup hook), however many threads still use it. An
// engine left open when a script ends keeps calling its workflows' and its
// lifecycle's functions until the engine wrapper's finalizer closes it, later
// in that teardown: a call into the freed function killed the process by a
// signal. The channel's cleanup hook, registered after the function's and so
// run before it, and the function's finalizer close the channel under its
// mutex; from then on a call is refused (the caller keeps its data).
#pragma once

#include <napi.h>

#include <memory>
#include <mutex>

namespace storyloom_node {

class JsChannel {
 public:
  // JS thread. One thread uses the function (initial thread count 1), as
  // Napi::ThreadSafeFunction::New(env, fn, name, 0, 1).
  static std::shared_ptr<JsChannel> Open(Napi::Env env, Napi::Function fn, const char* name) {
    std::shared_ptr<JsChannel> channel(new JsChannel());
    using Keep = std::shared_ptr<JsChannel>;  // the finalizer's: the hook's data stays valid
    channel->tsfn_ = Napi::ThreadSafeFunction::New(env, fn, name, 0, 1, new Keep(channel),
                                                   [](Napi::Env env, Keep* keep) {
                                                     std::unique_ptr<Keep> owned(keep);
                                                     (*owned)->Close();
                                                     napi_remove_env_cleanup_hook(
                                                         env, &JsChannel::OnTeardown, owned->get());
                                                   });
    napi_add_env_cleanup_hook(env, &JsChannel::OnTeardown, channel.get());
    return channel;
  }

  JsChannel(const JsChannel&) = delete;
  JsChannel& operator=(const JsChannel&) = delete;

  // Any thread: Napi::ThreadSafeFunction::NonBlockingCall, or napi_closing
  // once the function is gone (then `data` is still the caller's).
  template <typename DataT, typename Callback>
  napi_status Call(DataT* data, Callback callback) {
    std::lock_guard lock(mutex_);
    if (closed_) return napi_closing;
    return tsfn_.NonBlockingCall(data, callback);
  }

  // Any thread: this thread's last use of the function.
  void Release() {
    std::lock_guard lock(mutex_);
    if (!closed_) tsfn_.Release();
  }

  // JS thread: whether the function keeps the event loop alive.
  void Ref(Napi::Env env) {
    std::lock_guard lock(mutex_);
    if (!closed_) tsfn_.Ref(env);
  }
  void Unref(Napi::Env env) {
    std::lock_guard lock(mutex_);
    if (!closed_) tsfn_.Unref(env);
  }

 private:
  JsChannel() = default;

  static void OnTeardown(void* channel) { static_cast<JsChannel*>(channel)->Close(); }

  void Close() {
    std::lock_guard lock(mutex_);
    closed_ = true;
  }

  std::mutex mutex_;
  bool closed_ = false;  // the function is gone, or about to be
  Napi::ThreadSafeFunction tsfn_;
};

}  // namespace storyloom_node
