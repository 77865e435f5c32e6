// StoreReader lookups used by inspectors: a run by its idempotency key, and a
// run's children.
#include "store/store.h"
#include "storyloom/error.h"
#include "storyloom/store_reader.h"

namespace storyloom {

std::optional<RunInfo> StoreReader::find_by_idempotency_key(std::string_view key) {
  if (key.empty()) return std::nullopt;
  auto tx = store_->begin_read();
  auto run = tx->find_run_by_key(std::string(key));
  if (!run) return std::nullopt;
  return run->info;
}

std::vector<std::string> StoreReader::children(std::string_view run_id) {
  auto tx = store_->begin_read();
  return tx->children(std::string(run_id));
}

}  // namespace storyloom
