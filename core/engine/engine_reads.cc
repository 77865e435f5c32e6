#include "engine/engine_core.h"

#include "engine/artifact_bytes.h"
#include "engine/run_page.h"
#include "store/row_codec.h"

// What the engine reads for its callers: runs, pages of runs, snapshots,
// artifacts, events and subscriptions. Reads never go through the writer.

namespace storyloom::detail {


RunInfo EngineCore::get(std::string_view run_id) {
  auto tx = read();
  return must_find(*tx, run_id).info;
}

RunPage EngineCore::list(const RunFilter& filter) {
  auto tx = read();
  return list_page(*tx, filter);
}

Snapshot EngineCore::snapshot(std::string_view run_id) {
  auto tx = read();
  Snapshot snap;
  snap.run = must_find(*tx, run_id).info;
  for (auto& s : tx->steps(snap.run.id)) {
    snap.steps.push_back(StepInfo{s.seq, s.name, s.kind, s.status,
                                  store::decode_stored_json(s.result, snap.run.id, "the result of step '" + s.name + "'"),
                                  s.completed_at_ms});
    if (s.kind == "llm" && s.status == "completed") snap.usage.add_llm_result(snap.steps.back().result);
  }
  for (auto& a : tx->artifacts(snap.run.id, true)) {
    snap.artifacts.push_back(artifact_info(a, snap.run.id));
  }
  for (auto& s : tx->chunk_streams(snap.run.id)) {
    snap.streams.push_back(StreamInfo{s.stream, s.attempt_start, s.end_offset});
  }
  snap.last_event_id = tx->last_event_id(snap.run.id);
  return snap;
}

std::vector<ArtifactInfo> EngineCore::artifacts(std::string_view run_id) {
  auto tx = read();
  auto run = must_find(*tx, run_id);
  std::vector<ArtifactInfo> out;
  for (auto& a : tx->artifacts(run.info.id, false)) {
    out.push_back(artifact_info(a, run.info.id));
  }
  return out;
}

ArtifactBytes EngineCore::artifact_bytes(std::string_view run_id, std::string_view key,
                                         int64_t version) {
  auto tx = read();
  auto run = must_find(*tx, run_id);
  return read_artifact_bytes(*tx, run.info.id, key, version);
}

std::vector<Event> EngineCore::events(std::string_view run_id, int64_t after_id, size_t limit) {
  if (after_id < 0) throw Error(ErrorCode::invalid_argument, "after id must not be negative");
  if (limit < 1 || limit > 10000) {
    throw Error(ErrorCode::invalid_argument,
                "limit must be between 1 and 10000, got " + std::to_string(limit));
  }
  auto tx = read();
  auto run = must_find(*tx, run_id);
  std::vector<Event> out;
  for (const auto& r : tx->events(run.info.id, after_id, limit)) out.push_back(to_event(r));
  return out;
}

std::shared_ptr<SubscriptionState> EngineCore::subscribe(std::string_view run_id, int64_t after_id,
                                                         EventCallback callback) {
  if (after_id < 0) throw Error(ErrorCode::invalid_argument, "after id must not be negative");
  if (!callback) throw Error(ErrorCode::invalid_argument, "subscription callback is empty");
  std::string id;
  {
    auto tx = read();
    id = must_find(*tx, run_id).info.id;
  }
  if (closed()) throw Error(ErrorCode::closed, "the engine is closed");
  return hub_->subscribe(id, after_id, std::move(callback), shared_from_this());
}
}  // namespace storyloom::detail
