// The SQLite store: the writer connection and a pool of readers (SqliteStore),
// the read-only store the CLI inspects with, and open_store(). The queries
// are SqliteTx's (sqlite_tx.h).
#include "store/sqlite_store.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <sqlite3.h>

#include <mutex>
#include <vector>

#include "storyloom/error.h"
#include "store/pg_store.h"
#include "store/schema.h"
#include "store/shared_resources.h"
#include "store/sqlite_checkpointer.h"
#include "store/sqlite_connection.h"
#include "store/sqlite_tx.h"

namespace storyloom::store {
namespace {

using sqlite::configure;
using sqlite::configure_writer;
using sqlite::Connection;
using sqlite::LeaseCache;
using sqlite::migrate;
using sqlite::pragma_int;
using sqlite::store_error;
using sqlite::SqliteTx;

class SqliteStore final : public Store {
 public:
  SqliteStore(const std::string& path, const StoreOptions& options)
      : path_(path), memory_(path == ":memory:") {
    try {
      writer_ = std::make_unique<Connection>(path, memory_);
      configure_writer(*writer_, memory_, options);
    } catch (const Error&) {
      throw;
    } catch (const SQLite::Exception& e) {
      if (e.getErrorCode() == SQLITE_NOTADB) {
        throw Error(ErrorCode::not_a_database,
                    "store '" + path + "' is not a storyloom database (not an SQLite file)");
      }
      throw Error(ErrorCode::store, "cannot open store '" + path + "': " + e.what());
    }
    migrate(*writer_, path);
    if (!memory_) checkpointer_ = std::make_unique<Checkpointer>(path, writer_->db().getHandle());
  }

  ~SqliteStore() override { checkpointer_.reset(); }

  std::unique_ptr<ReadTx> begin_read() override {
    if (memory_) {
      // One private database: reads share the writer's connection and lock.
      return std::make_unique<SqliteTx>(*writer_, std::unique_lock(write_mutex_), false, nullptr);
    }
    Connection* conn = acquire_reader();
    return std::make_unique<SqliteTx>(*conn, std::unique_lock<std::mutex>(), false,
                                      [this, conn] { release_reader(conn); });
  }

  std::unique_ptr<WriteTx> begin_write() override {
    return std::make_unique<SqliteTx>(*writer_, std::unique_lock(write_mutex_), true, nullptr,
                                      &leases_);
  }

  std::shared_ptr<SharedResources> shared_resources() override {
    if (memory_) return nullptr;
    std::lock_guard lock(readers_mutex_);
    if (!shared_) shared_ = open_sqlite_shared_resources(path_, false);
    return shared_;
  }

 private:
  Connection* acquire_reader() {
    {
      std::lock_guard lock(readers_mutex_);
      if (!idle_readers_.empty()) {
        Connection* c = idle_readers_.back();
        idle_readers_.pop_back();
        return c;
      }
    }
    auto conn = std::make_unique<Connection>(path_, false);
    configure(*conn, 16384);
    Connection* raw = conn.get();
    std::lock_guard lock(readers_mutex_);
    all_readers_.push_back(std::move(conn));
    return raw;
  }

  void release_reader(Connection* conn) {
    std::lock_guard lock(readers_mutex_);
    idle_readers_.push_back(conn);
  }

  std::string path_;
  bool memory_;
  std::mutex write_mutex_;
  std::unique_ptr<Connection> writer_;
  LeaseCache leases_;  // used under write_mutex_ only
  std::mutex readers_mutex_;
  std::vector<std::unique_ptr<Connection>> all_readers_;
  std::vector<Connection*> idle_readers_;
  std::shared_ptr<SharedResources> shared_;  // under readers_mutex_
  std::unique_ptr<Checkpointer> checkpointer_;  // declared last: stops first
};

// A store opened for reading only (SQLITE_OPEN_READONLY): no migration, no
// writer connection, no checkpointer, so it works on a read-only file or
// directory and on a full disk. One connection, one reader at a time.
class ReadOnlySqliteStore : public Store {
 public:
  explicit ReadOnlySqliteStore(const std::string& path) : path_(path) {
    // A WAL database whose -shm file is missing and cannot be created (a
    // read-only directory) opens only as immutable; no writer can be running
    // then, since a writer keeps the -shm file.
    try {
      conn_ = open_checked(uri(false));
    } catch (const Error& e) {
      if (e.code() != ErrorCode::store) throw;
      conn_ = open_checked(uri(true));
    }
  }

  std::unique_ptr<ReadTx> begin_read() override {
    return std::make_unique<SqliteTx>(*conn_, std::unique_lock(mutex_), false, nullptr);
  }

  std::unique_ptr<WriteTx> begin_write() override {
    throw Error(ErrorCode::invalid_state,
                "store '" + path_ + "' is open read-only; nothing can be changed through it");
  }

  std::shared_ptr<SharedResources> shared_resources() override {
    return open_sqlite_shared_resources(path_, true);
  }

 private:
  std::string uri(bool immutable) const {
    // Percent-encode what a URI path cannot hold as is.
    std::string out = "file:";
    for (unsigned char c : path_) {
      if (c == '%' || c == '?' || c == '#' || c < 0x20) {
        static const char* hex = "0123456789ABCDEF";
        out += '%';
        out += hex[c >> 4];
        out += hex[c & 0xf];
      } else {
        out += static_cast<char>(c);
      }
    }
    return out + (immutable ? "?mode=ro&immutable=1" : "?mode=ro");
  }

  std::unique_ptr<Connection> open_checked(const std::string& uri) {
    std::unique_ptr<Connection> conn;
    int64_t app_id = 0, version = 0, tables = 0;
    try {
      conn = std::make_unique<Connection>(uri, Connection::ReadOnly{});
      app_id = pragma_int(*conn, "PRAGMA application_id");
      version = pragma_int(*conn, "PRAGMA user_version");
      tables = pragma_int(*conn, "SELECT count(*) FROM sqlite_master");
    } catch (const SQLite::Exception& e) {
      if (e.getErrorCode() == SQLITE_NOTADB) {
        throw Error(ErrorCode::not_a_database,
                    "store '" + path_ + "' is not a storyloom database (not an SQLite file)");
      }
      throw store_error("cannot open store '" + path_ + "' read-only", e);
    }
    if (app_id != kApplicationId) {
      throw Error(ErrorCode::not_a_database,
                  "store '" + path_ + "' is not a storyloom database" +
                      (tables > 0 ? " (an SQLite file of another application)" : " (it is empty)"));
    }
    if (version > current_schema_version()) {
      throw Error(ErrorCode::schema_too_new,
                  "store '" + path_ + "' has schema version " + std::to_string(version) +
                      ", newer than this storyloom supports (" +
                      std::to_string(current_schema_version()) + "); upgrade storyloom");
    }
    if (version < current_schema_version()) {
      throw Error(ErrorCode::invalid_state,
                  "store '" + path_ + "' has schema version " + std::to_string(version) +
                      ", older than this storyloom's (" + std::to_string(current_schema_version()) +
                      "); open it once read-write (any engine) to migrate it");
    }
    configure_read_only(*conn);
    return conn;
  }

  static void configure_read_only(Connection& conn) {
    conn.db().exec("PRAGMA temp_store=MEMORY");
    conn.db().exec("PRAGMA cache_size=-16384");
  }

  std::string path_;
  std::mutex mutex_;
  std::unique_ptr<Connection> conn_;
};

// "file:..." would be an SQLite URI to SQLite but a plain path to storyloom;
// refusing it avoids both surprises.
void refuse_uri(const std::string& path) {
  if (path.rfind("file:", 0) == 0) {
    throw Error(ErrorCode::invalid_argument,
                "store '" + path + "': SQLite URIs (file:...) are not supported; give a plain "
                "path (sqlite:./story.db or ./story.db) or :memory:");
  }
}

std::string sqlite_path(const std::string& spec) {
  const std::string prefix = "sqlite:";
  std::string path = spec.rfind(prefix, 0) == 0 ? spec.substr(prefix.size()) : spec;
  if (spec.rfind(prefix, 0) != 0 && spec.find("://") != std::string::npos) {
    throw Error(ErrorCode::invalid_argument,
                "store '" + spec + "' uses a scheme this build does not support (use sqlite:PATH "
                "or postgresql://...)");
  }
  if (path.empty()) throw Error(ErrorCode::invalid_argument, "store path is empty");
  refuse_uri(path);
  return path;
}

}  // namespace

std::unique_ptr<Store> open_read_only_store(const std::string& spec) {
  if (is_postgres_spec(spec)) return open_pg_read_only_store(spec);
  std::string path = sqlite_path(spec);
  if (path == ":memory:") {
    throw Error(ErrorCode::invalid_argument,
                "store ':memory:' cannot be opened read-only: it would always be empty");
  }
  return std::make_unique<ReadOnlySqliteStore>(path);
}

std::unique_ptr<Store> open_sqlite_store(const std::string& path, const StoreOptions& options) {
  if (path.empty()) throw Error(ErrorCode::invalid_argument, "store path is empty");
  return std::make_unique<SqliteStore>(path, options);
}

std::unique_ptr<Store> open_store(const std::string& spec, const StoreOptions& options) {
  if (is_postgres_spec(spec)) return open_pg_store(spec, options);
  return open_sqlite_store(sqlite_path(spec), options);
}

}  // namespace storyloom::store
