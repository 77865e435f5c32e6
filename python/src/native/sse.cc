// The SSE wire format the core writes (sl_event_to_sse, heartbeats, retry).
#include "native.h"

#include <cstdint>
#include <string>

namespace storyloom_native {

namespace {

py::bytes event_to_sse(int64_t id, int kind, const std::string& run_id, const std::string& type,
                       const std::string& data_json, int64_t created_at_ms) {
  sl_event ev{};
  ev.id = id;
  ev.kind = kind;
  ev.run_id = run_id.c_str();
  ev.run_id_len = run_id.size();
  ev.type = type.c_str();
  ev.type_len = type.size();
  ev.data_json = data_json.c_str();
  ev.data_len = data_json.size();
  ev.created_at_ms = created_at_ms;
  char* out = nullptr;
  size_t len = 0;
  check(sl_event_to_sse(&out, &len, &ev));
  return py::bytes(take(out, len));
}

py::bytes sse_heartbeat() {
  char* out = nullptr;
  size_t len = 0;
  check(sl_sse_heartbeat(&out, &len));
  return py::bytes(take(out, len));
}

py::bytes sse_retry(int64_t reconnect_ms) {
  char* out = nullptr;
  size_t len = 0;
  check(sl_sse_retry(&out, &len, reconnect_ms));
  return py::bytes(take(out, len));
}

}  // namespace

void bind_sse(py::module_& m) {
  m.def("event_to_sse", &event_to_sse);
  m.def("sse_heartbeat", &sse_heartbeat);
  m.def("sse_retry", &sse_retry);
}

}  // namespace storyloom_native
