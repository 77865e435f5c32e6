// The PostgreSQL store's own behaviour: its errors, migrations, claims and
// event order across connections (each Store here stands for one process).
// Runs only against a server (STORYLOOM_TEST_STORE; ctest registers this
// suite only when a test cluster is configured).
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <atomic>
#include <random>
#include <regex>
#include <set>
#include <thread>

#include "store/store.h"
#include "support/test_store.h"
#include "support/test_support.h"

using namespace storyloom;
using storyloom::testing::error_of;
using storyloom::testing::fresh_postgres_schema;

namespace {

std::string server_url() {
  const char* url = std::getenv("STORYLOOM_TEST_STORE");
  return url ? url : "";
}

// host:port of the test server, from its URL.
std::string host_port() {
  std::smatch m;
  std::string url = server_url();
  EXPECT_TRUE(std::regex_search(url, m, std::regex("@([^/]+)/")));
  return m[1];
}

void admin(const std::string& sql, const std::string& url = server_url()) {
  PGconn* conn = PQconnectdb(url.c_str());
  ASSERT_EQ(PQstatus(conn), CONNECTION_OK) << PQerrorMessage(conn);
  PGresult* r = PQexec(conn, sql.c_str());
  EXPECT_TRUE(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK)
      << PQresultErrorMessage(r);
  PQclear(r);
  PQfinish(conn);
}

class PgStore : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!storyloom::testing::testing_on_postgres()) GTEST_SKIP() << "STORYLOOM_TEST_STORE is not set";
  }
};

store::RunRecord queued_run(const std::string& id, const std::string& workflow = "w") {
  store::RunRecord r;
  r.info.id = id;
  r.info.workflow = workflow;
  r.info.status = RunStatus::queued;
  r.info.input = boost::json::object{{"k", "a"}};
  r.info.created_at_ms = r.info.updated_at_ms = 1;
  return r;
}

}  // namespace

TEST_F(PgStore, BadUrlIsAStoreErrorNamingTheUrl) {
  auto e = error_of([] { store::open_store("postgresql://127.0.0.1/db?bogus_option=1"); });
  EXPECT_EQ(e.code(), ErrorCode::store);
  EXPECT_NE(std::string(e.what()).find("is not a valid PostgreSQL URL"), std::string::npos) << e.what();
  EXPECT_NE(std::string(e.what()).find("bogus_option"), std::string::npos) << e.what();
}

TEST_F(PgStore, WrongPasswordNeverShowsThePassword) {
  // What an earlier run on this cluster left (the role owns its schema then).
  admin("DO $$ BEGIN IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'sl_pw_user') THEN "
        "DROP SCHEMA IF EXISTS sl_pw_user CASCADE; DROP OWNED BY sl_pw_user; DROP ROLE sl_pw_user; "
        "END IF; END $$");
  admin("CREATE ROLE sl_pw_user LOGIN PASSWORD 'the-right-one'");
  std::string url = "postgresql://sl_pw_user:wrong-secret-42@" + host_port() + "/postgres";
  auto e = error_of([&] { store::open_store(url); });
  std::string message = e.what();
  EXPECT_EQ(e.code(), ErrorCode::store);
  EXPECT_NE(message.find("password authentication failed"), std::string::npos) << message;
  EXPECT_EQ(message.find("wrong-secret-42"), std::string::npos) << message;
  EXPECT_NE(message.find("postgresql://sl_pw_user:***@"), std::string::npos) << message;
  e = error_of([&] { store::open_store(url + "?password=wrong-secret-42"); });
  EXPECT_EQ(std::string(e.what()).find("wrong-secret-42"), std::string::npos) << e.what();
  // The right password opens it.
  admin("GRANT CREATE ON DATABASE postgres TO sl_pw_user");
  admin("CREATE SCHEMA IF NOT EXISTS sl_pw_user AUTHORIZATION sl_pw_user");
  EXPECT_NO_THROW(store::open_store("postgresql://sl_pw_user:the-right-one@" + host_port() + "/postgres"));
}

TEST_F(PgStore, MissingDatabaseIsAStoreError) {
  auto e = error_of([&] { store::open_store("postgres://storyloom@" + host_port() + "/no_such_db"); });
  EXPECT_EQ(e.code(), ErrorCode::store);
  EXPECT_NE(std::string(e.what()).find("database \"no_such_db\" does not exist"), std::string::npos)
      << e.what();
}

TEST_F(PgStore, ServerDownIsAStoreError) {
  // A port nothing listens on: bind one, then close it.
  auto e = error_of([&] { store::open_store("postgresql://storyloom@127.0.0.1:1/postgres"); });
  EXPECT_EQ(e.code(), ErrorCode::store);
  EXPECT_NE(std::string(e.what()).find("cannot connect to store 'postgresql://storyloom@127.0.0.1:1/postgres'"),
            std::string::npos)
      << e.what();
  EXPECT_NE(std::string(e.what()).find("refused"), std::string::npos) << e.what();
}

TEST_F(PgStore, RefusesANewerSchema) {
  std::string url = fresh_postgres_schema();
  { store::open_store(url); }
  std::string schema = url.substr(url.find("%3D") + 3);
  admin("UPDATE " + schema + ".storyloom_meta SET version = 999");
  auto e = error_of([&] { store::open_store(url); });
  EXPECT_EQ(e.code(), ErrorCode::schema_too_new);
  EXPECT_NE(std::string(e.what()).find("has schema version 999, newer than this storyloom supports"),
            std::string::npos)
      << e.what();
}

TEST_F(PgStore, RefusesASchemaOfAnotherApplication) {
  std::string url = fresh_postgres_schema();
  std::string schema = url.substr(url.find("%3D") + 3);
  admin("CREATE TABLE " + schema + ".invoices (id int)");
  auto e = error_of([&] { store::open_store(url); });
  EXPECT_EQ(e.code(), ErrorCode::not_a_database);
  EXPECT_NE(std::string(e.what()).find("holds tables of another application"), std::string::npos) << e.what();
}

TEST_F(PgStore, ProcessesMigratingAtOnceMigrateOnce) {
  std::string url = fresh_postgres_schema();
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      try {
        store::open_store(url);
      } catch (const std::exception&) {
        ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  auto s = store::open_store(url);
  EXPECT_EQ(s->begin_read()->last_event_id(), 0);
}

TEST_F(PgStore, ClaimsAcrossStoresTakeEachRunOnceAndHoldAKeyLimit) {
  std::string url = fresh_postgres_schema();
  auto seed = store::open_store(url);
  {
    auto tx = seed->begin_write();
    for (int i = 0; i < 300; ++i) tx->insert_run(queued_run("r" + std::to_string(i)));
    tx->commit();
  }
  std::vector<std::unique_ptr<store::Store>> stores;
  for (int i = 0; i < 3; ++i) stores.push_back(store::open_store(url));
  std::mutex mutex;
  std::multiset<std::string> claimed;
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i) {
    threads.emplace_back([&, i] {
      for (int round = 0; round < 10; ++round) {
        auto tx = stores[static_cast<size_t>(i)]->begin_write();
        store::ClaimRequest req;
        req.owner = "e" + std::to_string(i);
        req.now_ms = 10;
        req.limit = 50;
        req.workflows_json_array = "[\"w\"]";
        auto result = tx->claim_runs(req);
        tx->commit();
        std::lock_guard lock(mutex);
        for (auto& r : result.runs) claimed.insert(r.info.id);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(claimed.size(), 300u);
  EXPECT_EQ(std::set<std::string>(claimed.begin(), claimed.end()).size(), 300u);

  // A concurrency key of 2: however many stores claim, two run at once.
  std::string keyed = fresh_postgres_schema();
  auto k = store::open_store(keyed);
  {
    auto tx = k->begin_write();
    for (int i = 0; i < 20; ++i) tx->insert_run(queued_run("k" + std::to_string(i)));
    tx->commit();
  }
  std::atomic<int> taken{0};
  threads.clear();
  for (int i = 0; i < 3; ++i) {
    threads.emplace_back([&, i] {
      auto s = store::open_store(keyed);
      auto tx = s->begin_write();
      store::ClaimRequest req;
      req.owner = "e" + std::to_string(i);
      req.now_ms = 10;
      req.limit = 10;
      req.workflows_json_array = "[\"w\"]";
      req.rules["w"].key_limit = 2;
      req.keys = [](const store::RunRecord&) { return store::RunKeys{std::string("\"a\""), std::nullopt}; };
      taken += static_cast<int>(tx->claim_runs(req).runs.size());
      tx->commit();
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(taken.load(), 2);
}

// Writers on separate connections commit events in random order of time; a
// reader that only ever asks for "events after the last id I saw" must see
// every event, in id order, none skipped.
TEST_F(PgStore, EventsReachAReaderGaplessUnderConcurrentWriters) {
  std::string url = fresh_postgres_schema();
  auto reader_store = store::open_store(url);
  constexpr int kWriters = 3, kTxPerWriter = 40, kEventsPerTx = 3;
  std::atomic<int> writers_done{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      auto s = store::open_store(url);
      std::mt19937 random(static_cast<unsigned>(w));
      for (int i = 0; i < kTxPerWriter; ++i) {
        auto tx = s->begin_write();
        for (int e = 0; e < kEventsPerTx; ++e) tx->append_event("run" + std::to_string(w), "x", "{}", 1);
        std::this_thread::sleep_for(std::chrono::microseconds(random() % 2000));  // commits late
        tx->commit();
      }
      ++writers_done;
    });
  }
  // Events show once every older transaction of the cluster has ended (other
  // tests' too), so after the writers are done the reader still reads until
  // it has them all, or a deadline passes.
  constexpr size_t kAll = kWriters * kTxPerWriter * kEventsPerTx;
  std::vector<int64_t> seen;
  int64_t last = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (seen.size() < kAll && std::chrono::steady_clock::now() < deadline) {
    for (auto& e : reader_store->begin_read()->events_since(last, 1000)) {
      seen.push_back(e.id);
      last = e.id;
    }
  }
  for (auto& t : writers) t.join();
  EXPECT_EQ(writers_done.load(), kWriters);
  std::vector<int64_t> all;
  for (auto& e : reader_store->begin_read()->events_since(0, 100000)) all.push_back(e.id);
  EXPECT_EQ(all.size(), kAll);
  EXPECT_EQ(seen, all);
}

TEST_F(PgStore, ACommitInOneStoreWakesTheWatcherOfAnother) {
  std::string url = fresh_postgres_schema();
  auto watcher = store::open_store(url);
  std::atomic<int> woken{0};
  watcher->watch_changes([&] { ++woken; });
  // The listener calls once when it connects (notifications before are lost).
  ASSERT_TRUE(storyloom::testing::eventually([&] { return woken.load() >= 1; }));
  int before = woken.load();
  auto other = store::open_store(url);
  {
    auto tx = other->begin_write();
    tx->append_event("r", "run.created", "{}", 1);
    tx->commit();
  }
  EXPECT_TRUE(storyloom::testing::eventually([&] { return woken.load() > before; }));
  watcher->watch_changes(nullptr);
}

// A claim that finds another engine claiming the same limited workflow (its
// lock held) takes nothing of it and asks to be tried again at the next
// poll: the engine may have nothing in flight whose end would prompt it.
TEST_F(PgStore, AClaimFindingTheWorkflowLockHeldAsksToBeRetriedSoon) {
  std::string url = fresh_postgres_schema();
  auto s = store::open_store(url);
  {
    auto tx = s->begin_write();
    tx->insert_run(queued_run("r1"));
    tx->commit();
  }
  PGconn* holder = PQconnectdb(url.c_str());
  ASSERT_EQ(PQstatus(holder), CONNECTION_OK);
  PQclear(PQexec(holder, "BEGIN"));
  PGresult* locked = PQexec(holder,
                            "SELECT pg_advisory_xact_lock(hashtext('storyloom.claim.' || "
                            "current_schema()), hashtext('w'))");
  ASSERT_EQ(PQresultStatus(locked), PGRES_TUPLES_OK) << PQresultErrorMessage(locked);
  PQclear(locked);
  store::ClaimRequest req;
  req.owner = "e";
  req.now_ms = 10;
  req.limit = 10;
  req.workflows_json_array = "[\"w\"]";
  req.rules["w"].key_limit = 2;
  req.keys = [](const store::RunRecord&) { return store::RunKeys{std::string("\"a\""), std::nullopt}; };
  {
    auto tx = s->begin_write();
    auto busy = tx->claim_runs(req);
    tx->commit();
    EXPECT_TRUE(busy.runs.empty());
    EXPECT_TRUE(busy.limited);
    EXPECT_EQ(busy.throttle_wake_ms, 11);
  }
  PQclear(PQexec(holder, "COMMIT"));
  PQfinish(holder);
  auto tx = s->begin_write();
  auto free = tx->claim_runs(req);
  tx->commit();
  ASSERT_EQ(free.runs.size(), 1u);
  EXPECT_EQ(free.throttle_wake_ms, 0);
}

// The fan-out's one-query read: the settled id and the events up to it, the
// same as settled_event_id() and events_since() in that transaction, and
// nothing of a newer transaction while an older one still runs.
TEST_F(PgStore, SettledEventsSinceStopsBelowAWriterStillRunning) {
  std::string url = fresh_postgres_schema();
  auto a = store::open_store(url);
  auto b = store::open_store(url);
  auto reader = store::open_store(url);
  {
    auto tx = a->begin_write();
    tx->append_event("a", "x", "{}", 1);
    tx->append_event("a", "x", "{}", 1);
    tx->commit();
  }
  auto older = b->begin_write();
  older->append_event("b", "x", "{}", 1);  // running: its id is taken, not yet visible
  int64_t newer_id;
  {
    auto tx = a->begin_write();
    newer_id = tx->append_event("c", "x", "{}", 1).id;
    tx->commit();
  }
  auto read = [&](int64_t after, int64_t* settled) {
    auto tx = reader->begin_read();
    auto events = tx->settled_events_since(after, 100, settled);
    EXPECT_EQ(*settled, tx->settled_event_id());
    auto same = tx->events_since(after, 100);
    EXPECT_EQ(events.size(), same.size());
    for (size_t i = 0; i < std::min(events.size(), same.size()); ++i) EXPECT_EQ(events[i].id, same[i].id);
    return events;
  };
  int64_t settled = 0;
  std::vector<store::EventRecord> seen;
  // Other tests' transactions may hold the settled id lower for a moment.
  ASSERT_TRUE(storyloom::testing::eventually([&] { return (seen = read(0, &settled)).size() == 2; }));
  EXPECT_LT(settled, newer_id);
  EXPECT_EQ(seen[0].run_id, "a");
  older->commit();
  ASSERT_TRUE(storyloom::testing::eventually([&] { return (seen = read(0, &settled)).size() == 4; }));
  EXPECT_GE(settled, newer_id);
  EXPECT_EQ(seen[2].run_id, "b");
  EXPECT_EQ(seen[3].run_id, "c");
  // Nothing after the last: no event, and the settled id all the same.
  EXPECT_TRUE(read(seen.back().id, &settled).empty());
  EXPECT_GE(settled, newer_id);
}

// A claim reads the steps of every run it took in one query; each run's
// steps come out as stored, and a second read of them still finds them.
TEST_F(PgStore, AClaimHandsOutTheStepsOfEachRunItTook) {
  std::string url = fresh_postgres_schema();
  auto s = store::open_store(url);
  {
    auto tx = s->begin_write();
    tx->insert_run(queued_run("r1"));
    tx->insert_run(queued_run("r2"));
    tx->upsert_step(store::StepRecord{"r1", 0, "outline", "step", "completed", "\"o\"", 0, "", 5, 0});
    tx->upsert_step(store::StepRecord{"r1", 1, "page", "step", "completed", "\"p\"", 0, "", 6, 0});
    tx->commit();
  }
  auto tx = s->begin_write();
  store::ClaimRequest req;
  req.owner = "e";
  req.now_ms = 10;
  req.limit = 10;
  req.workflows_json_array = "[\"w\"]";
  ASSERT_EQ(tx->claim_runs(req).runs.size(), 2u);
  auto r1 = tx->steps("r1");
  ASSERT_EQ(r1.size(), 2u);
  EXPECT_EQ(r1[0].name, "outline");
  EXPECT_EQ(r1[1].result, "\"p\"");
  EXPECT_EQ(r1[1].completed_at_ms, 6);
  EXPECT_TRUE(tx->steps("r2").empty());
  EXPECT_EQ(tx->steps("r1").size(), 2u);
  tx->append_event("r1", "run.started", "{}", 10);  // the claim holds its row: no wait, no error
  tx->commit();
}

// A transaction's events are sent without waiting for an answer (with the
// next statement or the COMMIT): their ids are handed out at once, a read in
// the same transaction sees them, and after the commit every reader finds
// them under those ids, in the order they were appended.
TEST_F(PgStore, ManyEventsInOneTransactionKeepTheirIdsAndOrder) {
  std::string url = fresh_postgres_schema();
  auto s = store::open_store(url);
  std::vector<store::EventRecord> appended;
  {
    auto tx = s->begin_write();
    tx->insert_run(queued_run("r1"));
    tx->insert_run(queued_run("r2"));
    for (int i = 0; i < 300; ++i) {
      std::string data = "{\"n\":" + std::to_string(i) + "}";
      appended.push_back(tx->append_event(i % 2 ? "r2" : "r1", "x", data, i));
    }
    for (size_t i = 1; i < appended.size(); ++i) EXPECT_LT(appended[i - 1].id, appended[i].id);
    auto inside = tx->events("r1", 0, 1000);  // read before the commit, in the same transaction
    ASSERT_EQ(inside.size(), 150u);
    EXPECT_EQ(inside[0].id, appended[0].id);
    EXPECT_EQ(inside[149].data, "{\"n\":298}");
    tx->commit();
  }
  std::vector<store::EventRecord> all;
  ASSERT_TRUE(storyloom::testing::eventually(
      [&] { return (all = s->begin_read()->events_since(0, 1000)).size() == appended.size(); }));
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i].id, appended[i].id);
    EXPECT_EQ(all[i].run_id, appended[i].run_id);
    EXPECT_EQ(all[i].data, appended[i].data);
    EXPECT_EQ(all[i].created_at_ms, appended[i].created_at_ms);
  }
  EXPECT_EQ(s->begin_read()->last_event_id("r2"), appended.back().id);
}

// An older transaction that appends to a run after a newer one committed
// events of it numbers its own after them (not in its own, lower range),
// event after event, so the run's events stay in id order.
TEST_F(PgStore, EventsAfterANewerTransactionsComeAfterItsIds) {
  std::string url = fresh_postgres_schema();
  auto a = store::open_store(url);
  auto b = store::open_store(url);
  auto older = a->begin_write();
  older->insert_run(queued_run("first"));  // takes its transaction id now
  std::vector<int64_t> newer_ids;
  {
    auto tx = b->begin_write();
    tx->insert_run(queued_run("r"));
    newer_ids.push_back(tx->append_event("r", "newer", "{}", 1).id);
    newer_ids.push_back(tx->append_event("r", "newer", "{}", 1).id);
    tx->commit();
  }
  int64_t own = older->append_event("first", "older", "{}", 1).id;  // in its own range
  EXPECT_LT(own, newer_ids[0]);
  int64_t o1 = older->append_event("r", "older", "{}", 2).id;
  int64_t o2 = older->append_event("r", "older", "{}", 2).id;
  EXPECT_GT(o1, newer_ids[1]);
  EXPECT_GT(o2, o1);
  older->commit();
  auto events = a->begin_read()->events("r", 0, 10);
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0].type, "newer");
  EXPECT_EQ(events[1].type, "newer");
  EXPECT_EQ(events[2].id, o1);
  EXPECT_EQ(events[3].id, o2);
}

// A deferred write that fails is reported by the statement that carried it,
// which may belong to a later operation; the writer undoes that operation
// alone, so the earlier one's write is lost with it: the commit must fail,
// and nothing of the transaction is stored.
TEST_F(PgStore, ADeferredWriteThatFailsFailsTheCommit) {
  std::string url = fresh_postgres_schema();
  auto s = store::open_store(url);
  {
    auto tx = s->begin_write();
    tx->savepoint();
    tx->insert_run(queued_run("r1"));
    tx->append_event("r1", "x", "\xff\xfe not UTF-8", 1);  // the server refuses it, later
    tx->release();
    tx->savepoint();
    Error carried = error_of([&] { tx->find_run("r1"); });
    EXPECT_EQ(carried.code(), ErrorCode::store);
    EXPECT_NE(std::string(carried.what()).find("invalid byte sequence"), std::string::npos) << carried.what();
    tx->rollback_to_savepoint();
    Error commit = error_of([&] { tx->commit(); });
    EXPECT_EQ(commit.code(), ErrorCode::store);
    EXPECT_NE(std::string(commit.what()).find("a statement sent ahead of a later one failed"),
              std::string::npos)
        << commit.what();
  }
  auto read = s->begin_read();
  EXPECT_FALSE(read->find_run("r1").has_value());
  EXPECT_TRUE(read->events("r1", 0, 10).empty());
  // The store's writer is usable again.
  auto tx = s->begin_write();
  tx->insert_run(queued_run("r2"));
  tx->append_event("r2", "x", "{}", 1);
  tx->commit();
  EXPECT_EQ(s->begin_read()->events("r2", 0, 10).size(), 1u);
}

// Only a commit that wrote sends a NOTIFY: a claim that took nothing would
// only make every other engine's listener read for nothing. A write without
// events (a heartbeat) still sends it: its transaction id may have held other
// commits' events back from being settled, and listeners read them now.
TEST_F(PgStore, OnlyACommitThatWroteNotifiesOtherEngines) {
  std::string url = fresh_postgres_schema();
  auto s = store::open_store(url);
  PGconn* listen = PQconnectdb(url.c_str());
  ASSERT_EQ(PQstatus(listen), CONNECTION_OK);
  PGresult* channel = PQexec(listen,
                             "SELECT 'storyloom_' || translate(hashtext('storyloom.write.' || "
                             "current_schema())::text, '-', 'n')");
  ASSERT_EQ(PQresultStatus(channel), PGRES_TUPLES_OK);
  std::string name = PQgetvalue(channel, 0, 0);
  PQclear(channel);
  PQclear(PQexec(listen, ("LISTEN " + name).c_str()));
  {
    auto tx = s->begin_write();
    store::ClaimRequest req;
    req.owner = "e";
    req.now_ms = 10;
    req.limit = 10;
    req.workflows_json_array = "[\"w\"]";
    EXPECT_TRUE(tx->claim_runs(req).runs.empty());  // nothing queued
    tx->commit();
  }
  {
    auto tx = s->begin_write();
    tx->upsert_engine("e", 1, "host", 10, "[\"w\"]");
    tx->commit();
  }
  // Notifications arrive in commit order: once this one is in, any of the
  // two commits above is too.
  admin("NOTIFY " + name + ", 'end'");
  int from_commits = 0;
  bool end = false;
  ASSERT_TRUE(storyloom::testing::eventually([&] {
    PQconsumeInput(listen);
    while (PGnotify* n = PQnotifies(listen)) {
      if (std::string(n->extra) == "end") {
        end = true;
      } else {
        ++from_commits;
      }
      PQfreemem(n);
    }
    return end;
  }));
  EXPECT_EQ(from_commits, 1);
  PQfinish(listen);
}

// The engine publishes what its writer committed by reading the settled
// events next, on the same thread: that read rides with the commit's round
// trip. So the writer thread's next read answers as of the commit (an event
// committed elsewhere a moment later is not in it yet), once; the next read,
// and a read on another thread, ask the server. A read after an id below the
// one read ahead from asks the server too.
TEST_F(PgStore, ACommitReadsTheSettledEventsForItsThreadsNextRead) {
  std::string url = fresh_postgres_schema();
  auto s = store::open_store(url);
  auto other = store::open_store(url);
  int64_t settled = 0;
  int64_t first = 0;
  {
    auto tx = s->begin_write();
    first = tx->append_event("r0", "x", "{}", 1).id;
    tx->commit();
  }
  // Nothing is read ahead until a read says from where (the engine's first publish).
  ASSERT_TRUE(storyloom::testing::eventually([&] {
    return s->begin_read()->settled_events_since(0, 500, &settled).size() == 1;
  }));
  const int64_t from = settled;  // what the engine would ask after next
  int64_t mine = 0;
  {
    auto tx = s->begin_write();
    mine = tx->append_event("r1", "x", "{}", 1).id;
    tx->commit();
  }
  {
    auto tx = other->begin_write();
    tx->append_event("r2", "x", "{}", 1);
    tx->commit();
  }
  // (Another client's transaction still running on the server could keep
  // `mine` unsettled for a moment: then the answer is empty, never wrong.)
  auto ahead = s->begin_read()->settled_events_since(from, 500, &settled);
  EXPECT_LE(ahead.size(), 1u);
  for (const auto& e : ahead) EXPECT_EQ(e.id, mine);
  // Used once: the next read asks the server and finds the other store's event too.
  std::vector<store::EventRecord> fresh;
  ASSERT_TRUE(storyloom::testing::eventually([&] {
    return (fresh = s->begin_read()->settled_events_since(from, 500, &settled)).size() == 2;
  }));
  EXPECT_EQ(fresh[0].id, mine);
  EXPECT_EQ(fresh[1].run_id, "r2");
  // Another thread never gets this thread's answer.
  {
    auto tx = s->begin_write();
    tx->append_event("r3", "x", "{}", 1);
    tx->commit();
  }
  std::vector<store::EventRecord> elsewhere;
  ASSERT_TRUE(storyloom::testing::eventually([&] {
    std::thread([&] { elsewhere = s->begin_read()->settled_events_since(from, 500, &settled); }).join();
    return elsewhere.size() == 3u;
  }));
  // A read from below the id read ahead from asks the server: the first event is in it.
  {
    auto tx = s->begin_write();
    tx->append_event("r4", "x", "{}", 1);
    tx->commit();
  }
  auto below = s->begin_read()->settled_events_since(0, 500, &settled);
  ASSERT_FALSE(below.empty());
  EXPECT_EQ(below[0].id, first);
}

// An unlimited claim reads the steps and last event ids of the runs it took
// in its own round trip, naming them as this engine's running runs updated
// at the claim's time: a run of its claimed earlier in the same millisecond
// matches too, and must not be handed out again or mixed in.
TEST_F(PgStore, AClaimInTheSameMillisecondAsAnEarlierOneHandsOutOnlyItsOwnRuns) {
  std::string url = fresh_postgres_schema();
  auto s = store::open_store(url);
  {
    auto tx = s->begin_write();
    auto r1 = queued_run("r1");
    r1.info.priority = 1;  // claimed first
    tx->insert_run(r1);
    tx->insert_run(queued_run("r2"));
    tx->upsert_step(store::StepRecord{"r1", 0, "outline", "step", "completed", "\"o\"", 0, "", 5, 0});
    tx->upsert_step(store::StepRecord{"r2", 0, "page", "step", "completed", "\"p\"", 0, "", 6, 0});
    tx->commit();
  }
  store::ClaimRequest req;
  req.owner = "e";
  req.now_ms = 10;
  req.limit = 1;
  req.workflows_json_array = "[\"w\"]";
  {
    auto tx = s->begin_write();
    auto first = tx->claim_runs(req);
    ASSERT_EQ(first.runs.size(), 1u);
    EXPECT_EQ(first.runs[0].info.id, "r1");
    tx->append_event("r1", "run.started", "{}", 10);
    tx->commit();
  }
  auto tx = s->begin_write();
  auto second = tx->claim_runs(req);
  ASSERT_EQ(second.runs.size(), 1u);
  EXPECT_EQ(second.runs[0].info.id, "r2");
  auto steps = tx->steps("r2");
  ASSERT_EQ(steps.size(), 1u);
  EXPECT_EQ(steps[0].name, "page");
  // r2's last event id was learned with the claim: its event follows r1's.
  auto started = tx->append_event("r2", "run.started", "{}", 10);
  tx->commit();
  // Events are read once settled: a transaction of another test on the same
  // cluster, begun earlier and still open, holds them back for a moment.
  std::vector<store::EventRecord> events;
  ASSERT_TRUE(storyloom::testing::eventually(
      [&] { return (events = s->begin_read()->events_since(0, 10)).size() == 2; }))
      << "events read: " << events.size();
  EXPECT_EQ(events[1].id, started.id);
  EXPECT_EQ(events[1].run_id, "r2");
}

// A read ends without waiting for its COMMIT's answer; the connection's next
// use takes that answer first, so the next read on it starts a transaction of
// its own and sees what committed in between.
TEST_F(PgStore, AReadEndedWithoutWaitingLeavesItsConnectionReadyForTheNext) {
  std::string url = fresh_postgres_schema();
  auto s = store::open_store(url);
  for (int i = 0; i < 3; ++i) {
    {
      auto tx = s->begin_write();
      tx->insert_run(queued_run("r" + std::to_string(i)));
      tx->commit();
    }
    auto read = s->begin_read();  // one reader connection, reused each time
    EXPECT_TRUE(read->find_run("r" + std::to_string(i)).has_value());
  }
}
