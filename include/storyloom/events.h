// Events: the append-only record of what happened to a run, and their SSE form.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "storyloom/json.h"

namespace storyloom {

enum class EventKind {
  stored,     // persisted, with a global strictly increasing id
  transient,  // live token text not yet persisted (chunk only); id is 0
  cursor,     // a stored chunk whose text this subscriber already received live:
              // only the id advances (SSE: an `id:` line with no data)
};

// Ordering: stored events reach a subscriber in id order, and the chunks of
// one stream in offset order with every byte exactly once. A transient chunk is
// delivered the moment it is produced, so it can arrive a few milliseconds
// before a stored event (progress, artifact) the workflow wrote just before it,
// which waits for its commit. A stream is append-only: a step that runs again
// (after a crash or a retry) appends its text again after the first attempt's.
struct Event {
  int64_t id = 0;
  EventKind kind = EventKind::stored;
  std::string run_id;
  std::string type;  // run.created, step.completed, progress, chunk, ...
  Json data;         // chunk: {"stream","offset","text"}
  int64_t created_at_ms = 0;

  // run.completed, run.failed or run.cancelled.
  bool ends_run() const noexcept;
};

using EventCallback = std::function<void(const Event&)>;

// {"id", "run_id", "type", "data", "created_at_ms"}
Json to_json(const Event& event);

// SSE wire format. Multi-line data is split into several `data:` lines; an
// event type with a control character (CR/LF would inject fields) or a
// negative id is refused with Error(invalid_argument).
std::string format_sse(const Event& event);
std::string format_sse(int64_t id, std::string_view type, std::string_view data);
std::string sse_heartbeat();                    // ": heartbeat\n\n"
std::string sse_retry(int64_t reconnect_ms);    // "retry: N\n\n"

}  // namespace storyloom
