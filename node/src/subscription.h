// Event subscriptions to JavaScript (src/subscription.cc): the Subscription
// class and the event callback that queues events to the JS thread.
#pragma once

#include <napi.h>
#include <storyloom/storyloom.h>

namespace storyloom_node {

// Shared by its SubscriptionWrap and its thread-safe function; the wrapper
// closes the C subscription before letting go, so on_event never sees a
// dangling pointer.
struct Subscription {
  Napi::ThreadSafeFunction tsfn;
  sl_subscription* handle = nullptr;
  bool sse = false;
  bool released = false;  // tsfn released, or finalized by the environment's teardown
};

// sl_event_fn (user_data: a Subscription). Engine event thread.
void on_event(void* user_data, const sl_event* event);
// The Subscription class; its constructor takes an
// External<std::shared_ptr<Subscription>> (a heap holder it deletes).
Napi::Function DefineSubscription(Napi::Env env);

}  // namespace storyloom_node
