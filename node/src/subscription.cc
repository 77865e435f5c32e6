#include "subscription.h"

#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "marshal.h"

namespace storyloom_node {
namespace {

struct EventCopy {
  int64_t id;
  int kind;
  std::string run_id, type, data;
  int64_t created_at_ms;
  std::string sse;
  bool has_sse = false;
};

}  // namespace

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

namespace {

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

}  // namespace

Napi::Function DefineSubscription(Napi::Env env) { return SubscriptionWrap::Define(env); }

}  // namespace storyloom_node
