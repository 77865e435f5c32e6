// sl_engine_subscribe, sl_subscription_close and the SSE wire format: events
// as they leave the engine, one to one onto storyloom::Subscription and
// storyloom::format_sse.
#include <memory>
#include <string>

#include "args.h"
#include "handles.h"
#include "status.h"

using storyloom::capi::Args;
using storyloom::capi::guarded;
using storyloom::capi::OutText;
using namespace storyloom;

namespace {

// Lends each event to the host's callback as an sl_event.
EventCallback forward_to(sl_event_fn fn, void* user_data) {
  return [fn, user_data](const Event& event) {
    std::string data;
    try {
      data = to_json_text(event.data);
    } catch (...) {
      // Only allocation can fail here, and an exception escaping onto the
      // engine's event thread would end the host process.
      return;
    }
    const sl_event view{event.id,
                        static_cast<int>(event.kind),
                        event.run_id.c_str(),
                        event.run_id.size(),
                        event.type.c_str(),
                        event.type.size(),
                        data.c_str(),
                        data.size(),
                        event.created_at_ms};
    fn(user_data, &view);
  };
}

EventKind event_kind(const Args& args, int kind) {
  switch (kind) {
    case SL_EVENT_STORED: return EventKind::stored;
    case SL_EVENT_TRANSIENT: return EventKind::transient;
    case SL_EVENT_CURSOR: return EventKind::cursor;
    default:
      args.invalid("event->kind is " + std::to_string(kind) +
                   ", not SL_EVENT_STORED, SL_EVENT_TRANSIENT or SL_EVENT_CURSOR");
  }
}

}  // namespace

extern "C" {

SL_API int sl_engine_subscribe(sl_subscription** out, sl_engine* engine, const char* run_id,
                               size_t run_id_len, int64_t after_id, sl_event_fn fn,
                               void* user_data) {
  Args args(__func__);
  return guarded([&] {
    auto& result = args.out(out, "out");
    auto& e = args.required(engine, "engine");
    auto run = args.text(run_id, run_id_len, "run_id");
    if (fn == nullptr) args.invalid("fn is NULL");
    auto handle = std::make_unique<sl_subscription>(
        sl_subscription{e.engine->subscribe(run, after_id, forward_to(fn, user_data))});
    result = handle.release();
  });
}

SL_API void sl_subscription_close(sl_subscription* subscription) {
  if (subscription == nullptr) return;
  // Unsubscribes and waits for a callback in progress on another thread (not
  // when called from inside the callback). Should that wait fail, the handle
  // stays alive rather than be destroyed mid-delivery; the last error says why.
  int status = guarded([&] { subscription->subscription.close(); });
  if (status == SL_OK) delete subscription;
}

SL_API int sl_event_to_sse(char** out, size_t* out_len, const sl_event* event) {
  Args args(__func__);
  return guarded([&] {
    OutText text(args, out, out_len, "out");
    const auto& view = args.required(event, "event");
    Event e;
    e.id = view.id;
    e.kind = event_kind(args, view.kind);
    e.run_id = args.text(view.run_id, view.run_id_len, "event->run_id");
    e.type = args.text(view.type, view.type_len, "event->type");
    // A cursor carries no data on the wire, so a host may leave it out.
    if (e.kind != EventKind::cursor) {
      e.data = args.json(view.data_json, view.data_len, "event->data_json");
    }
    e.created_at_ms = view.created_at_ms;
    text.set(format_sse(e));
  });
}

SL_API int sl_sse_heartbeat(char** out, size_t* out_len) {
  Args args(__func__);
  return guarded([&] { OutText(args, out, out_len, "out").set(sse_heartbeat()); });
}

SL_API int sl_sse_retry(char** out, size_t* out_len, int64_t reconnect_ms) {
  Args args(__func__);
  return guarded([&] {
    OutText text(args, out, out_len, "out");
    if (reconnect_ms < 0) {
      args.invalid("reconnect_ms is " + std::to_string(reconnect_ms) +
                   "; it must not be negative");
    }
    text.set(sse_retry(reconnect_ms));
  });
}

}  // extern "C"
