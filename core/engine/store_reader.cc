#include "storyloom/store_reader.h"

#include <filesystem>
#include <system_error>

#include "engine/artifact_bytes.h"
#include "engine/run_page.h"
#include "events/hub.h"
#include "store/row_codec.h"
#include "store/store.h"
#include "storyloom/error.h"

namespace storyloom {
namespace {

store::RunRecord must_find(store::ReadTx& tx, std::string_view run_id) {
  if (run_id.empty()) throw Error(ErrorCode::invalid_argument, "run id is empty");
  auto run = tx.find_run(std::string(run_id));
  if (!run) throw Error(ErrorCode::not_found, "no run with id '" + std::string(run_id) + "'");
  return *run;
}

}  // namespace

std::unique_ptr<StoreReader> StoreReader::open(const std::string& spec) {
  const std::string prefix = "sqlite:";
  std::string path = spec.rfind(prefix, 0) == 0 ? spec.substr(prefix.size()) : spec;
  std::error_code ec;
  if (!path.empty() && path != ":memory:" && path.rfind("file:", 0) != 0 &&
      spec.find("://") == std::string::npos && spec != "postgresql:" && spec != "postgres:" &&
      !std::filesystem::exists(path, ec) && !ec) {
    throw Error(ErrorCode::not_found, "no storyloom database at '" + path +
                                          "': the file does not exist (a reader never creates one)");
  }
  return std::unique_ptr<StoreReader>(new StoreReader(store::open_read_only_store(spec)));
}

StoreReader::StoreReader(std::unique_ptr<store::Store> store) : store_(std::move(store)) {}
StoreReader::~StoreReader() = default;

RunInfo StoreReader::get(std::string_view run_id) {
  auto tx = store_->begin_read();
  return must_find(*tx, run_id).info;
}

RunPage StoreReader::list(const RunFilter& filter) {
  auto tx = store_->begin_read();
  return detail::list_page(*tx, filter);
}

Snapshot StoreReader::snapshot(std::string_view run_id) {
  auto tx = store_->begin_read();
  Snapshot snap;
  snap.run = must_find(*tx, run_id).info;
  for (auto& s : tx->steps(snap.run.id)) {
    snap.steps.push_back(StepInfo{
        s.seq, s.name, s.kind, s.status,
        store::decode_stored_json(s.result, snap.run.id, "the result of step '" + s.name + "'"),
        s.completed_at_ms});
    if (s.kind == "llm" && s.status == "completed") snap.usage.add_llm_result(snap.steps.back().result);
  }
  for (auto& a : tx->artifacts(snap.run.id, true)) {
    snap.artifacts.push_back(detail::artifact_info(a, snap.run.id));
  }
  for (auto& s : tx->chunk_streams(snap.run.id)) {
    snap.streams.push_back(StreamInfo{s.stream, s.attempt_start, s.end_offset});
  }
  snap.last_event_id = tx->last_event_id(snap.run.id);
  return snap;
}

std::vector<ArtifactInfo> StoreReader::artifacts(std::string_view run_id) {
  auto tx = store_->begin_read();
  auto run = must_find(*tx, run_id);
  std::vector<ArtifactInfo> out;
  for (auto& a : tx->artifacts(run.info.id, false)) {
    out.push_back(detail::artifact_info(a, run.info.id));
  }
  return out;
}

ArtifactBytes StoreReader::artifact_bytes(std::string_view run_id, std::string_view key,
                                          int64_t version) {
  auto tx = store_->begin_read();
  auto run = must_find(*tx, run_id);
  return detail::read_artifact_bytes(*tx, run.info.id, key, version);
}

std::vector<Event> StoreReader::events(std::string_view run_id, int64_t after_id, size_t limit) {
  if (after_id < 0) throw Error(ErrorCode::invalid_argument, "after id must not be negative");
  if (limit < 1 || limit > 10000) {
    throw Error(ErrorCode::invalid_argument,
                "limit must be between 1 and 10000, got " + std::to_string(limit));
  }
  auto tx = store_->begin_read();
  auto run = must_find(*tx, run_id);
  std::vector<Event> out;
  for (const auto& r : tx->events(run.info.id, after_id, limit)) out.push_back(detail::to_event(r));
  return out;
}

}  // namespace storyloom
