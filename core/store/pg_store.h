// The PostgreSQL store: one writer connection, a small pool of reader
// connections and one listening connection per Store.
#pragma once

#include <memory>
#include <string>

#include "store/store.h"

namespace storyloom::store {

// Opens postgresql://..., postgres://... or the bare "postgresql:" (PG*
// environment variables). Tables live in the first schema of the
// connection's search_path (public by default; "?options=-csearch_path%3Dname"
// picks another). Throws Error(store) naming the URL without its password.
// Whether `spec` names a PostgreSQL store (the forms above).
bool is_postgres_spec(const std::string& spec);
// `spec` with any password replaced by "***", for messages.
std::string redact_store_spec(const std::string& spec);

std::unique_ptr<Store> open_pg_store(const std::string& spec, const StoreOptions& options = {});
// For StoreReader: no migration, begin_write() throws Error(invalid_state); a
// schema of another version is refused (newer: schema_too_new; older or
// missing: invalid_state / not_a_database). Works with a read-only role.
std::unique_ptr<Store> open_pg_read_only_store(const std::string& spec);

}  // namespace storyloom::store
