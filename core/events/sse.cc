// SSE wire format (WHATWG HTML, "Server-sent events").
#include <string>

#include "storyloom/error.h"
#include "storyloom/events.h"

namespace storyloom {

bool Event::ends_run() const noexcept {
  return type == "run.completed" || type == "run.failed" || type == "run.cancelled";
}

namespace {

// Ids are printed as numbers, so only their sign can be wrong.
void check_sse_id(int64_t id) {
  if (id < 0) {
    throw Error(ErrorCode::invalid_argument,
                "SSE event id must not be negative, got " + std::to_string(id));
  }
}

}  // namespace

std::string format_sse(int64_t id, std::string_view type, std::string_view data) {
  // A CR or LF in the type would end the `event:` field and let the rest pose
  // as fields of its own (an injected `data:` or `id:`); no stored type has one.
  for (unsigned char c : type) {
    if (c < 0x20 || c == 0x7f) {
      throw Error(ErrorCode::invalid_argument,
                  "SSE event type contains a control character (CR, LF or another); it would "
                  "break the SSE record");
    }
  }
  check_sse_id(id);
  std::string out;
  out.reserve(data.size() + type.size() + 32);
  if (id > 0) out.append("id: ").append(std::to_string(id)).append("\n");
  if (!type.empty()) out.append("event: ").append(type).append("\n");
  // A data line may not hold CR or LF: each line of the payload gets its own.
  size_t start = 0;
  for (size_t i = 0; i <= data.size(); ++i) {
    if (i == data.size() || data[i] == '\n' || data[i] == '\r') {
      out.append("data: ").append(data.substr(start, i - start)).append("\n");
      if (i + 1 < data.size() && data[i] == '\r' && data[i + 1] == '\n') ++i;
      start = i + 1;
    }
  }
  out.append("\n");
  return out;
}

std::string format_sse(const Event& event) {
  if (event.kind == EventKind::cursor) {
    // No data: browsers update lastEventId without dispatching an event.
    check_sse_id(event.id);
    return "id: " + std::to_string(event.id) + "\n\n";
  }
  return format_sse(event.id, event.type, boost::json::serialize(event.data));
}

std::string sse_heartbeat() { return ": heartbeat\n\n"; }

std::string sse_retry(int64_t reconnect_ms) { return "retry: " + std::to_string(reconnect_ms) + "\n\n"; }

}  // namespace storyloom
