// Internal to the SQLite store (core/store/sqlite_*.cc).
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>

#include "storyloom/run.h"

namespace storyloom::store::sqlite {

// The status and lease owner of runs this process's writer has read or
// written, so an execution's writes skip the lease re-check query. It is only
// trusted while no other connection has committed (PRAGMA data_version, read
// once per write transaction), and forgotten whenever a write rolls back.
class LeaseCache {
 public:
  using Lease = std::pair<RunStatus, std::string>;
  // At the start of each write transaction, with the connection's data_version.
  void begin(int64_t data_version) {
    if (data_version != data_version_) entries_.clear();
    data_version_ = data_version;
  }
  const Lease* find(const std::string& run_id) const {
    auto it = entries_.find(run_id);
    return it == entries_.end() ? nullptr : &it->second;
  }
  void put(const std::string& run_id, RunStatus status, const std::string& owner) {
    if (entries_.size() >= kMaxEntries) entries_.clear();  // bounded; refilled on demand
    entries_[run_id] = Lease{status, owner};
  }
  void forget(const std::string& run_id) { entries_.erase(run_id); }
  void clear() { entries_.clear(); }

 private:
  static constexpr size_t kMaxEntries = 65536;
  std::unordered_map<std::string, Lease> entries_;
  int64_t data_version_ = -1;
};

}  // namespace storyloom::store::sqlite
