#include "storyloom/lifecycle.h"

namespace storyloom {

const char* to_string(LifecycleKind kind) noexcept {
  switch (kind) {
    case LifecycleKind::run_started:
      return "run.started";
    case LifecycleKind::run_finished:
      return "run.finished";
    case LifecycleKind::step_started:
      return "step.started";
    case LifecycleKind::step_finished:
      return "step.finished";
    case LifecycleKind::step_failed:
      return "step.failed";
  }
  return "unknown";
}

Json to_json(const LifecycleEvent& event) {
  boost::json::object o{{"type", to_string(event.kind)},
                        {"run_id", event.run_id},
                        {"workflow", event.workflow},
                        {"trace_parent", event.trace_parent},
                        {"started_at_ms", event.started_at_ms}};
  bool ended = event.kind == LifecycleKind::run_finished ||
               event.kind == LifecycleKind::step_finished ||
               event.kind == LifecycleKind::step_failed;
  if (ended) {
    o["ended_at_ms"] = event.ended_at_ms;
    o["duration_ms"] = event.ended_at_ms - event.started_at_ms;
  }
  if (event.kind == LifecycleKind::run_started) o["first"] = event.first;
  if (event.kind == LifecycleKind::run_finished) o["outcome"] = event.outcome;
  if (event.seq >= 0) {
    o["step"] = event.step;
    o["seq"] = event.seq;
    o["kind"] = event.step_kind;
    o["attempt"] = event.attempt;
  }
  if (!event.error_class.empty()) o["error_class"] = event.error_class;
  if (event.kind == LifecycleKind::step_failed) o["will_retry"] = event.will_retry;
  if (!event.model.empty()) o["model"] = event.model;
  if (!event.usage.is_null()) o["usage"] = event.usage;
  return o;
}

bool is_trace_parent(std::string_view text) noexcept {
  // version "00": 2 + 1 + 32 + 1 + 16 + 1 + 2 characters.
  if (text.size() != 55 || text[2] != '-' || text[35] != '-' || text[52] != '-') return false;
  if (text.substr(0, 2) != "00") return false;
  auto hex = [](std::string_view part) {
    bool nonzero = false;
    for (char c : part) {
      if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return -1;
      if (c != '0') nonzero = true;
    }
    return nonzero ? 1 : 0;
  };
  return hex(text.substr(3, 32)) == 1 && hex(text.substr(36, 16)) == 1 &&
         hex(text.substr(53, 2)) >= 0;
}

}  // namespace storyloom
