#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include <fstream>

#include "store/schema.h"
#include "store/store.h"
#include "support/test_support.h"

using namespace storyloom;
using storyloom::testing::TempDir;
using storyloom::testing::error_of;

TEST(SqliteStore, CreatesSchemaAndReopens) {
  TempDir dir;
  auto path = dir.file("a.db");
  { store::open_store("sqlite:" + path); }
  auto store = store::open_store(path);
  SQLite::Database db(path);
  EXPECT_EQ(db.execAndGet("PRAGMA user_version").getInt64(), store::current_schema_version());
  EXPECT_EQ(db.execAndGet("PRAGMA application_id").getInt(), store::kApplicationId);
  EXPECT_EQ(db.execAndGet("PRAGMA journal_mode").getString(), "wal");
}

TEST(SqliteStore, RefusesNewerSchema) {
  TempDir dir;
  auto path = dir.file("new.db");
  { store::open_store(path); }
  {
    SQLite::Database db(path, SQLite::OPEN_READWRITE);
    db.exec("PRAGMA user_version=99");
  }
  auto e = error_of([&] { store::open_store(path); });
  EXPECT_EQ(e.code(), ErrorCode::schema_too_new);
  EXPECT_NE(std::string(e.what()).find("schema version 99"), std::string::npos) << e.what();
  EXPECT_NE(std::string(e.what()).find("upgrade storyloom"), std::string::npos) << e.what();
}

TEST(SqliteStore, RefusesTextFile) {
  TempDir dir;
  auto path = dir.file("notes.txt");
  std::ofstream(path) << "these are not the tables you are looking for, not at all, no sir\n";
  auto e = error_of([&] { store::open_store(path); });
  EXPECT_EQ(e.code(), ErrorCode::not_a_database);
  EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
}

TEST(SqliteStore, RefusesOtherApplicationsDatabase) {
  TempDir dir;
  auto path = dir.file("other.db");
  {
    SQLite::Database db(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db.exec("CREATE TABLE customers (id INTEGER)");
  }
  auto e = error_of([&] { store::open_store(path); });
  EXPECT_EQ(e.code(), ErrorCode::not_a_database);
  EXPECT_NE(std::string(e.what()).find("another application"), std::string::npos) << e.what();
}

TEST(SqliteStore, ReportsUnopenablePath) {
  auto e = error_of([&] { store::open_store("/nonexistent-dir/x/y.db"); });
  EXPECT_EQ(e.code(), ErrorCode::store);
  EXPECT_NE(std::string(e.what()).find("/nonexistent-dir/x/y.db"), std::string::npos) << e.what();
}

TEST(SqliteStore, RefusesUnknownScheme) {
  auto e = error_of([&] { store::open_store("mysql://localhost/x"); });
  EXPECT_EQ(e.code(), ErrorCode::invalid_argument);
  EXPECT_NE(std::string(e.what()).find("mysql://localhost/x"), std::string::npos) << e.what();
}

TEST(SqliteStore, CompletedStepIsNeverOverwritten) {
  auto store = store::open_store(":memory:");
  auto tx = store->begin_write();
  store::StepRecord s;
  s.run_id = "r";
  s.seq = 0;
  s.name = "a";
  s.kind = "step";
  s.status = "completed";
  s.result = "1";
  EXPECT_TRUE(tx->upsert_step(s));
  s.result = "2";
  EXPECT_FALSE(tx->upsert_step(s));
  EXPECT_EQ(tx->steps("r").at(0).result, "1");
}

TEST(SqliteStore, EventIdsIncreaseAcrossTransactions) {
  TempDir dir;
  auto store = store::open_store(dir.file("e.db"));
  int64_t last = 0;
  for (int i = 0; i < 3; ++i) {
    auto tx = store->begin_write();
    auto e = tx->append_event("r", "t", "{}", 1);
    EXPECT_GT(e.id, last);
    last = e.id;
    tx->commit();
  }
  EXPECT_EQ(store->begin_read()->last_event_id(), last);
}

// A file written by schema version 1 (before scheduling limits) opens, gains
// the v2 columns, and its queued run is claimed under the new rules.
TEST(SqliteStore, MigratesAVersion1File) {
  TempDir dir;
  auto path = dir.file("v1.db");
  {
    SQLite::Database db(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db.exec(store::migrations()[0]);
    db.exec("PRAGMA application_id=" + std::to_string(store::kApplicationId));
    db.exec("PRAGMA user_version=1");
    db.exec(
        "INSERT INTO runs (id, workflow, status, input, created_at, updated_at) "
        "VALUES ('r1', 'page', 'queued', '{\"user_id\":1}', 1, 1)");
  }
  auto s = store::open_store(path);
  {
    SQLite::Database db(path);
    EXPECT_EQ(db.execAndGet("PRAGMA user_version").getInt64(), store::current_schema_version());
    EXPECT_EQ(db.execAndGet("SELECT count(*) FROM sqlite_master WHERE name = 'runs_running_key'").getInt(), 1);
    EXPECT_EQ(db.execAndGet("SELECT count(*) FROM pragma_table_info('chunk_streams') WHERE name = 'attempt_start'").getInt(), 1);
  }
  auto tx = s->begin_write();
  store::ClaimRequest req;
  req.owner = "e1";
  req.now_ms = 10;
  req.limit = 10;
  req.workflows_json_array = "[\"page\"]";
  req.rules["page"].key_limit = 1;
  req.rules["page"].run_timeout_ms = 100;
  req.keys = [](const store::RunRecord&) { return store::RunKeys{std::string("1"), std::nullopt}; };
  auto claimed = tx->claim_runs(req);
  ASSERT_EQ(claimed.runs.size(), 1u);
  EXPECT_EQ(claimed.runs[0].info.id, "r1");
  EXPECT_EQ(claimed.runs[0].deadline_at_ms, 110);
  EXPECT_EQ(claimed.runs[0].started_at_ms, 10);
  tx->commit();
}

// Due timers wake in one narrow write: only due sleeping/waiting runs, in
// wake order, up to the limit, each queued from now with its waits cleared.
TEST(SqliteStore, WakesDueParkedRunsUpToTheLimit) {
  auto store = store::open_store(":memory:");
  auto tx = store->begin_write();
  auto park = [&](const std::string& id, RunStatus status, int64_t wake_at) {
    store::RunRecord r;
    r.info.id = id;
    r.info.workflow = "w";
    r.info.status = status;
    r.info.input = boost::json::object{};
    r.wake_at_ms = wake_at;
    r.waiting_for = status == RunStatus::waiting ? "signal:go" : "";
    tx->insert_run(r);
  };
  park("late", RunStatus::sleeping, 500);
  park("first", RunStatus::waiting, 100);
  park("second", RunStatus::sleeping, 200);
  park("forever", RunStatus::waiting, 0);  // no timer: only a signal wakes it
  park("third", RunStatus::sleeping, 300);
  EXPECT_EQ(tx->wake_due_parked(300, 2), (std::vector<std::string>{"first", "second"}));
  EXPECT_EQ(tx->wake_due_parked(300, 10), (std::vector<std::string>{"third"}));
  EXPECT_TRUE(tx->wake_due_parked(300, 10).empty());
  auto first = tx->find_run("first");
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->info.status, RunStatus::queued);
  EXPECT_EQ(first->available_at_ms, 300);
  EXPECT_EQ(first->wake_at_ms, 0);
  EXPECT_EQ(first->waiting_for, "");
  EXPECT_EQ(tx->find_run("late")->info.status, RunStatus::sleeping);
  EXPECT_EQ(tx->find_run("forever")->info.status, RunStatus::waiting);
}

TEST(SqliteStore, ReadOnlyOpenNeverWritesAndRefusesWrites) {
  TempDir dir;
  auto path = dir.file("ro.db");
  { store::open_store(path); }
  auto ro = store::open_read_only_store("sqlite:" + path);
  EXPECT_EQ(ro->begin_read()->last_event_id(), 0);
  auto e = error_of([&] { ro->begin_write(); });
  EXPECT_EQ(e.code(), ErrorCode::invalid_state);
  EXPECT_EQ(std::string(e.what()),
            "store '" + path + "' is open read-only; nothing can be changed through it");
  e = error_of([&] { store::open_read_only_store(":memory:"); });
  EXPECT_EQ(e.code(), ErrorCode::invalid_argument);
  EXPECT_STREQ(e.what(), "store ':memory:' cannot be opened read-only: it would always be empty");
}

TEST(SqliteStore, ReadOnlyOpenRefusesAnOlderSchemaInsteadOfMigrating) {
  TempDir dir;
  auto path = dir.file("old.db");
  { store::open_store(path); }
  {
    SQLite::Database db(path, SQLite::OPEN_READWRITE);
    db.exec("PRAGMA user_version=1");
  }
  auto e = error_of([&] { store::open_read_only_store(path); });
  EXPECT_EQ(e.code(), ErrorCode::invalid_state);
  EXPECT_NE(std::string(e.what()).find("open it once read-write"), std::string::npos) << e.what();
  SQLite::Database db(path);
  EXPECT_EQ(db.execAndGet("PRAGMA user_version").getInt64(), 1);
}

TEST(SqliteStore, SqliteUrisAreRefusedWithAClearMessage) {
  for (std::string spec : {"file:story.db", "sqlite:file::memory:", "sqlite:file:x.db?mode=ro"}) {
    auto e = error_of([&] { store::open_store(spec); });
    EXPECT_EQ(e.code(), ErrorCode::invalid_argument) << spec;
    std::string path = spec.rfind("sqlite:", 0) == 0 ? spec.substr(7) : spec;
    EXPECT_EQ(std::string(e.what()),
              "store '" + path + "': SQLite URIs (file:...) are not supported; give a plain path "
              "(sqlite:./story.db or ./story.db) or :memory:");
  }
}

// ---- the writer's lease cache: never trusted past another process's commit ----

namespace {

store::RunRecord running_run(const std::string& id, const std::string& owner) {
  store::RunRecord r;
  r.info.id = id;
  r.info.workflow = "w";
  r.info.status = RunStatus::running;
  r.info.input = boost::json::object{};
  r.lease_owner = owner;
  return r;
}

}  // namespace

TEST(SqliteStore, LeaseSeenByTheWriterFollowsAnotherProcessCommit) {
  TempDir dir;
  auto path = dir.file("lease.db");
  auto mine = store::open_store(path);
  {
    auto tx = mine->begin_write();
    tx->insert_run(running_run("r1", "engine-a"));
    tx->commit();
  }
  {
    auto tx = mine->begin_write();
    EXPECT_EQ(tx->run_lease("r1")->second, "engine-a");  // now cached
    tx->commit();
  }
  // Another process (its own connection) cancels the run and another takes it.
  {
    auto other = store::open_store(path);
    auto tx = other->begin_write();
    auto r = tx->find_run("r1");
    r->info.status = RunStatus::cancelled;
    r->lease_owner = "";
    tx->update_run(*r);
    tx->commit();
  }
  auto tx = mine->begin_write();
  auto lease = tx->run_lease("r1");
  ASSERT_TRUE(lease.has_value());
  EXPECT_EQ(lease->first, RunStatus::cancelled);
  EXPECT_EQ(lease->second, "");
}

TEST(SqliteStore, LeaseWrittenInARolledBackTransactionIsNotBelieved) {
  TempDir dir;
  auto store = store::open_store(dir.file("rollback.db"));
  {
    auto tx = store->begin_write();
    tx->insert_run(running_run("r1", "engine-a"));
    tx->commit();
  }
  {
    auto tx = store->begin_write();
    auto r = tx->find_run("r1");
    r->lease_owner = "engine-b";
    tx->update_run(*r);
    EXPECT_EQ(tx->run_lease("r1")->second, "engine-b");
    // destroyed without commit: rolled back
  }
  {
    auto tx = store->begin_write();
    EXPECT_EQ(tx->run_lease("r1")->second, "engine-a");
    tx->savepoint();
    auto r = tx->find_run("r1");
    r->info.status = RunStatus::failed;
    tx->update_run(*r);
    tx->rollback_to_savepoint();
    EXPECT_EQ(tx->run_lease("r1")->first, RunStatus::running);
    tx->delete_run("r1");
    EXPECT_FALSE(tx->run_lease("r1").has_value());
  }
}
