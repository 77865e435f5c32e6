// Read-only access to a store, for tools that inspect runs (the storyloom
// CLI's list, status, events and artifacts) without ever writing: it opens the
// file read-only (no migration, no engine registration, no background
// thread), so it works on a read-only file or directory and on a full disk.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storyloom/events.h"
#include "storyloom/limits.h"
#include "storyloom/run.h"

namespace storyloom {

namespace store {
class Store;
}

class StoreReader {
 public:
  // `store` as in EngineOptions::store ("sqlite:PATH" or PATH; not :memory:).
  // Throws Error: not_found when the file does not exist (it is never
  // created), not_a_database, schema_too_new, invalid_state for a store of an
  // older schema (open it read-write once to migrate), store.
  static std::unique_ptr<StoreReader> open(const std::string& store);
  ~StoreReader();

  // The same answers, and errors, as the Engine methods of the same names.
  RunInfo get(std::string_view run_id);
  RunPage list(const RunFilter& filter = {});
  Snapshot snapshot(std::string_view run_id);
  std::vector<ArtifactInfo> artifacts(std::string_view run_id);
  ArtifactBytes artifact_bytes(std::string_view run_id, std::string_view key, int64_t version = 0);
  std::vector<Event> events(std::string_view run_id, int64_t after_id, size_t limit = 1000);

  // For inspectors (storyloom ui), in store_reader_lookup.cc: the run started
  // with this idempotency key, if any (an empty key finds nothing); the ids of
  // a run's child runs (invoke), in start order. Throw Error(store).
  std::optional<RunInfo> find_by_idempotency_key(std::string_view key);
  std::vector<std::string> children(std::string_view run_id);

  // Resources, concurrency keys and throttle windows of every engine on the
  // store (storyloom/limits.h), in store_reader_limits.cc. `now_ms` is the
  // engines' clock (wall time); an engine's requests in flight count while
  // its heartbeat is newer than `lease_ms` (the engines' lease_ttl); at most
  // `top` keys and windows. An in-memory store has none. Throws Error(store).
  LimitsView limits(int64_t now_ms, int64_t lease_ms = 10000, size_t top = 20);

 private:
  explicit StoreReader(std::unique_ptr<store::Store> store);
  std::unique_ptr<store::Store> store_;
};

}  // namespace storyloom
