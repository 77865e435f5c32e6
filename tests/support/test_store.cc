#include "test_store.h"

#include <libpq-fe.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <random>

namespace storyloom::testing {

bool testing_on_postgres() {
  const char* url = std::getenv("STORYLOOM_TEST_STORE");
  return url && *url;
}

std::string fresh_postgres_schema() {
  std::string url = std::getenv("STORYLOOM_TEST_STORE");
  static std::atomic<int> counter{0};
  static const unsigned salt = std::random_device{}();
  std::string schema = "t_" + std::to_string(getpid()) + "_" + std::to_string(salt % 100000) + "_" +
                       std::to_string(counter++);
  PGconn* conn = PQconnectdb(url.c_str());
  PGresult* r = nullptr;
  if (PQstatus(conn) == CONNECTION_OK) r = PQexec(conn, ("CREATE SCHEMA " + schema).c_str());
  if (!r || PQresultStatus(r) != PGRES_COMMAND_OK) {
    std::fprintf(stderr, "test_store: cannot create a schema on STORYLOOM_TEST_STORE: %s\n",
                 PQerrorMessage(conn));
    std::abort();
  }
  PQclear(r);
  PQfinish(conn);
  return url + (url.find('?') == std::string::npos ? "?" : "&") + "options=-csearch_path%3D" + schema;
}

std::string test_store(const std::string& sqlite_default) {
  if (!testing_on_postgres()) return sqlite_default;
  if (sqlite_default == ":memory:") return fresh_postgres_schema();
  static std::mutex mutex;
  static std::map<std::string, std::string> by_path;
  std::lock_guard lock(mutex);
  auto it = by_path.find(sqlite_default);
  if (it == by_path.end()) it = by_path.emplace(sqlite_default, fresh_postgres_schema()).first;
  return it->second;
}

}  // namespace storyloom::testing
