// The PostgreSQL schema and its forward migrations (a version line of its
// own: PostgreSQL version N is not SQLite version N).
#pragma once

#include <cstdint>
#include <vector>

#include "store/pg_connection.h"

namespace storyloom::store::pg {

// pg_migrations()[i] upgrades schema version i to i + 1; append, never edit.
const std::vector<const char*>& pg_migrations();

inline int64_t pg_schema_version() { return static_cast<int64_t>(pg_migrations().size()); }

// Checks that the connection's schema (the first of its search_path) is
// empty or ours, and brings it up to date under a transaction-scoped advisory
// lock, so processes opening the store at once migrate it once. Throws
// Error(not_a_database / schema_too_new / store).
void migrate(Connection& conn);
// For a read-only store: checks that the schema is ours and current, without
// changing anything.
void check_current(Connection& conn);

}  // namespace storyloom::store::pg
