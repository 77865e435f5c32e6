// The SQLite schema and its forward migrations.
#pragma once

#include <cstdint>
#include <vector>

namespace storyloom::store {

// Identifies a storyloom database (PRAGMA application_id): "SLOM".
inline constexpr int32_t kApplicationId = 0x534C4F4D;

// migrations()[i] upgrades schema version i to i + 1. The current version is
// migrations().size(); never edit a shipped entry, append a new one.
const std::vector<const char*>& migrations();

inline int64_t current_schema_version() { return static_cast<int64_t>(migrations().size()); }

}  // namespace storyloom::store
