// The SQLite store: WAL, one writer connection, a pool of reader connections.
#pragma once

#include <memory>
#include <string>

#include "store/store.h"

namespace storyloom::store {

// path ":memory:" keeps everything in one private in-memory database.
std::unique_ptr<Store> open_sqlite_store(const std::string& path, const StoreOptions& options = {});

}  // namespace storyloom::store
