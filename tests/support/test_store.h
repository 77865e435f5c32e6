// Which store a test runs on. Unset STORYLOOM_TEST_STORE: SQLite (the default
// the test asked for). Set to a PostgreSQL URL (a throwaway cluster from
// scripts/pg_test_cluster.sh): every call makes a fresh schema there, so each
// test starts from an empty store and tests stay independent.
#pragma once

#include <string>

namespace storyloom::testing {

// True when STORYLOOM_TEST_STORE names a PostgreSQL server.
bool testing_on_postgres();

// `sqlite_default` (":memory:" or a file path) on SQLite. On PostgreSQL: for
// ":memory:" a URL of a new, empty schema; for a path, the same schema each
// time the process asks for that path (a store reopened). Aborts the test program when the server cannot
// be reached, so a broken cluster is not mistaken for passing tests.
std::string test_store(const std::string& sqlite_default = ":memory:");

// The URL of a new, empty schema on the test server (testing_on_postgres() only).
std::string fresh_postgres_schema();

}  // namespace storyloom::testing
