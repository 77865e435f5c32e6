// The JSON shapes of the public structs, shared by the C ABI, the CLI and every binding.
#include "storyloom/events.h"
#include "storyloom/run.h"

namespace storyloom {
namespace {

template <class T>
boost::json::array array_of(const std::vector<T>& items) {
  boost::json::array out;
  out.reserve(items.size());
  for (const auto& item : items) out.push_back(to_json(item));
  return out;
}

}  // namespace

Json to_json(const RunInfo& run) {
  boost::json::object out{{"id", run.id},
                          {"workflow", run.workflow},
                          {"status", to_string(run.status)},
                          {"input", run.input},
                          {"output", run.output},
                          {"error", run.error},
                          {"progress", run.progress},
                          {"owner", run.owner},
                          {"idempotency_key", run.idempotency_key},
                          {"parent_id", run.parent_id},
                          {"priority", run.priority},
                          {"created_at_ms", run.created_at_ms},
                          {"updated_at_ms", run.updated_at_ms},
                          {"finished_at_ms", run.finished_at_ms},
                          {"budget", to_json(run.budget)}};
  if (!run.trace_parent.empty()) out["trace_parent"] = run.trace_parent;  // only when given
  if (!run.unreadable.empty()) out["unreadable"] = run.unreadable;  // only on a corrupted row
  return out;
}

Json to_json(const RunPage& page) {
  return boost::json::object{{"runs", array_of(page.runs)}, {"next_cursor", page.next_cursor}};
}

Json to_json(const StepInfo& step) {
  return boost::json::object{{"seq", step.seq},
                             {"name", step.name},
                             {"kind", step.kind},
                             {"status", step.status},
                             {"result", step.result},
                             {"completed_at_ms", step.completed_at_ms}};
}

Json to_json(const ArtifactInfo& artifact) {
  boost::json::object out{{"key", artifact.key},
                          {"version", artifact.version},
                          {"value", artifact.value},
                          {"created_at_ms", artifact.created_at_ms}};
  // Only binary artifacts carry it, so JSON artifacts read as they always did.
  if (!artifact.content_type.empty()) out["content_type"] = artifact.content_type;
  return out;
}

Json to_json(const Snapshot& snapshot) {
  boost::json::object streams;
  for (const auto& s : snapshot.streams) {
    streams[s.name] = boost::json::object{{"attempt_start", s.attempt_start}, {"end", s.end}};
  }
  return boost::json::object{{"run", to_json(snapshot.run)},
                             {"steps", array_of(snapshot.steps)},
                             {"artifacts", array_of(snapshot.artifacts)},
                             {"streams", std::move(streams)},
                             {"last_event_id", snapshot.last_event_id},
                             {"usage", to_json(snapshot.usage)},
                             {"budget", budget_status_json(snapshot.run.budget, snapshot.usage)}};
}

Json to_json(const Event& event) {
  return boost::json::object{{"id", event.id},
                             {"run_id", event.run_id},
                             {"type", event.type},
                             {"data", event.data},
                             {"created_at_ms", event.created_at_ms}};
}

}  // namespace storyloom
