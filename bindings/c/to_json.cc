#include "to_json.h"

namespace storyloom::capi {
namespace {

Json step_json(const StepInfo& step) {
  return boost::json::object{{"seq", step.seq},
                             {"name", step.name},
                             {"kind", step.kind},
                             {"status", step.status},
                             {"result", step.result},
                             {"completed_at_ms", step.completed_at_ms}};
}

Json artifact_json(const ArtifactInfo& artifact) {
  return boost::json::object{{"key", artifact.key},
                             {"version", artifact.version},
                             {"value", artifact.value},
                             {"created_at_ms", artifact.created_at_ms}};
}

Json event_json(const Event& event) {
  return boost::json::object{{"id", event.id},
                             {"run_id", event.run_id},
                             {"type", event.type},
                             {"data", event.data},
                             {"created_at_ms", event.created_at_ms}};
}

template <class T, class Convert>
boost::json::array array_of(const std::vector<T>& items, Convert convert) {
  boost::json::array out;
  out.reserve(items.size());
  for (const auto& item : items) out.push_back(convert(item));
  return out;
}

}  // namespace

Json run_json(const RunInfo& run) {
  return boost::json::object{{"id", run.id},
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
                             {"finished_at_ms", run.finished_at_ms}};
}

Json run_page_json(const RunPage& page) {
  return boost::json::object{{"runs", array_of(page.runs, run_json)},
                             {"next_cursor", page.next_cursor}};
}

Json snapshot_json(const Snapshot& snapshot) {
  return boost::json::object{{"run", run_json(snapshot.run)},
                             {"steps", array_of(snapshot.steps, step_json)},
                             {"artifacts", array_of(snapshot.artifacts, artifact_json)},
                             {"last_event_id", snapshot.last_event_id}};
}

Json artifacts_json(const std::vector<ArtifactInfo>& artifacts) {
  return array_of(artifacts, artifact_json);
}

Json events_json(const std::vector<Event>& events) { return array_of(events, event_json); }

}  // namespace storyloom::capi
