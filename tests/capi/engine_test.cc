// sl_engine_*: opening, registering, starting and managing runs, and every
// error a caller can reach through them (code and message).
#include <condition_variable>
#include <cstring>
#include <fstream>
#include <mutex>
#include <thread>

#include "capi_test_util.h"

using namespace capi_test;

namespace {

int open_with(sl_engine** out, const std::string& store) {
  sl_engine_options opts = SL_ENGINE_OPTIONS_INIT;
  opts.store = store.data();
  opts.store_len = store.size();
  return sl_engine_open(out, &opts);
}

std::string status_of(const Json& run) { return std::string(run.at("status").as_string()); }

void noop_workflow(void*, sl_execution* execution) {
  sl_execution_finish_completed(execution, "{}", 2);
}

}  // namespace

// ---- open / close ----

TEST(CapiEngineOpen, NullOptionsOpenAnInMemoryEngine) {
  sl_engine* engine = nullptr;
  ASSERT_EQ(sl_engine_open(&engine, nullptr), SL_OK) << last_message();
  ASSERT_NE(engine, nullptr);
  sl_engine_close(engine);
}

TEST(CapiEngineOpen, CloseAcceptsNull) { sl_engine_close(nullptr); }

TEST(CapiEngineOpen, CloseNowClosesAndAcceptsNull) {
  sl_engine_close_now(nullptr);
  sl_engine* engine = nullptr;
  ASSERT_EQ(sl_engine_open(&engine, nullptr), SL_OK) << last_message();
  sl_engine_close_now(engine);  // frees the handle, as sl_engine_close (ASan/valgrind would see a leak)
}

TEST(CapiEngineOpen, RejectsNullOut) {
  EXPECT_EQ(sl_engine_open(nullptr, nullptr), SL_EINVALID);
  EXPECT_EQ(last_message(), "sl_engine_open: out is NULL");
}

TEST(CapiEngineOpen, RejectsOptionsVersionZero) {
  sl_engine_options opts = SL_ENGINE_OPTIONS_INIT;
  opts.version = 0;
  sl_engine* engine = reinterpret_cast<sl_engine*>(&opts);  // must be reset to NULL
  EXPECT_EQ(sl_engine_open(&engine, &opts), SL_EINVALID);
  EXPECT_EQ(engine, nullptr);
  EXPECT_EQ(last_message(),
            "sl_engine_open: sl_engine_options.version is 0; initialise the struct with "
            "SL_ENGINE_OPTIONS_INIT");
}

TEST(CapiEngineOpen, RejectsUnknownOptionsVersion) {
  sl_engine_options opts = SL_ENGINE_OPTIONS_INIT;
  opts.version = 99;
  sl_engine* engine = nullptr;
  EXPECT_EQ(sl_engine_open(&engine, &opts), SL_EINVALID);
  EXPECT_EQ(last_message(),
            "sl_engine_open: sl_engine_options.version is 99, but this library knows versions 1 "
            "to 3 (was the caller built against a newer storyloom.h?)");
}

TEST(CapiEngineOpen, RejectsNegativeWorkers) {
  sl_engine_options opts = SL_ENGINE_OPTIONS_INIT;
  opts.workers = -1;
  sl_engine* engine = nullptr;
  EXPECT_EQ(sl_engine_open(&engine, &opts), SL_EINVALID);
  EXPECT_EQ(last_message(), "workers must be at least 1, got -1");
}

TEST(CapiEngineOpen, RejectsNegativeDurations) {
  sl_engine_options opts = SL_ENGINE_OPTIONS_INIT;
  opts.lease_ttl_ms = -5;
  sl_engine* engine = nullptr;
  EXPECT_EQ(sl_engine_open(&engine, &opts), SL_EINVALID);
  EXPECT_EQ(last_message(),
            "sl_engine_open: sl_engine_options.lease_ttl_ms is -5; it must not be negative");
}

TEST(CapiEngineOpen, RejectsTinyPayloadLimit) {
  sl_engine_options opts = SL_ENGINE_OPTIONS_INIT;
  opts.max_payload_bytes = 10;
  sl_engine* engine = nullptr;
  EXPECT_EQ(sl_engine_open(&engine, &opts), SL_EINVALID);
  EXPECT_EQ(last_message(), "max_payload_bytes must be at least 1024");
}

TEST(CapiEngineOpen, RejectsNullStoreWithLength) {
  sl_engine_options opts = SL_ENGINE_OPTIONS_INIT;
  opts.store_len = 4;
  sl_engine* engine = nullptr;
  EXPECT_EQ(sl_engine_open(&engine, &opts), SL_EINVALID);
  EXPECT_EQ(last_message(),
            "sl_engine_open: sl_engine_options.store is NULL but its length is 4");
}

TEST(CapiEngineOpen, ReportsAStorePathThatCannotBeOpened) {
  sl_engine* engine = nullptr;
  EXPECT_EQ(open_with(&engine, "/nonexistent-storyloom-dir/runs.db"), SL_ESTORE);
  EXPECT_EQ(engine, nullptr);
  EXPECT_NE(last_message().find("cannot open store '/nonexistent-storyloom-dir/runs.db'"),
            std::string::npos)
      << last_message();
}

TEST(CapiEngineOpen, RefusesAFileThatIsNotAStoryloomDatabase) {
  TempStore store;
  std::ofstream(store.path()) << "Once upon a time, this was a text file and not a database.\n";
  sl_engine* engine = nullptr;
  EXPECT_EQ(open_with(&engine, "sqlite:" + store.path()), SL_ENOTADB);
  EXPECT_EQ(last_message(),
            "store '" + store.path() + "' is not a storyloom database (not an SQLite file)");
}

TEST(CapiEngineOpen, RefusesAnUnsupportedStoreScheme) {
  sl_engine* engine = nullptr;
  EXPECT_EQ(open_with(&engine, "mysql://localhost/db"), SL_EINVALID);
  EXPECT_EQ(last_message(),
            "store 'mysql://localhost/db' uses a scheme this build does not support (use "
            "sqlite:PATH or postgresql://...)");
}

TEST(CapiEngineOpen, APostgresServerThatIsDownIsAStoreErrorWithoutThePassword) {
  sl_engine* engine = nullptr;
  EXPECT_EQ(open_with(&engine, "postgres://app:s3cret-pw@127.0.0.1:1/db"), SL_ESTORE);
  EXPECT_EQ(last_message().rfind("cannot connect to store 'postgres://app:***@127.0.0.1:1/db': ", 0), 0u)
      << last_message();
  EXPECT_EQ(last_message().find("s3cret-pw"), std::string::npos);
}

// ---- the fixture's engine: a file store ----

using CapiEngine = EngineTest;

TEST_F(CapiEngine, RunsSurviveClosingAndReopening) {
  std::string id = start_waiting();
  close();
  open(options());
  Json again = get(id);
  EXPECT_EQ(again.at("id"), id.c_str());
  EXPECT_EQ(status_of(again), "waiting");
}

// ---- register ----

TEST_F(CapiEngine, RegisterRejectsNullCallback) {
  EXPECT_EQ(sl_engine_register_workflow(engine_, "w", 1, nullptr, nullptr, nullptr), SL_EINVALID);
  EXPECT_EQ(last_message(), "sl_engine_register_workflow: fn is NULL");
}

TEST_F(CapiEngine, RegisterRejectsNullEngine) {
  EXPECT_EQ(sl_engine_register_workflow(nullptr, "w", 1, nullptr, noop_workflow, nullptr),
            SL_EINVALID);
  EXPECT_EQ(last_message(), "sl_engine_register_workflow: engine is NULL");
}

TEST_F(CapiEngine, RegisterRejectsEmptyName) {
  EXPECT_EQ(sl_engine_register_workflow(engine_, "", 0, nullptr, noop_workflow, nullptr),
            SL_EINVALID);
  EXPECT_EQ(last_message(), "workflow name is empty");
}

TEST_F(CapiEngine, RegisterRejectsOverlongName) {
  std::string name(129, 'w');
  EXPECT_EQ(sl_engine_register_workflow(engine_, name.data(), name.size(), nullptr, noop_workflow,
                                        nullptr),
            SL_EINVALID);
  EXPECT_EQ(last_message(), "workflow name '" + std::string(32, 'w') +
                                "...' is 129 bytes; the limit is 128");
}

TEST_F(CapiEngine, RegisterRejectsControlCharacters) {
  EXPECT_EQ(sl_engine_register_workflow(engine_, "a\0b", 3, nullptr, noop_workflow, nullptr),
            SL_EINVALID);
  EXPECT_EQ(last_message(), "workflow name contains a control character");
}

TEST_F(CapiEngine, RegisterRejectsDuplicateName) {
  ASSERT_EQ(sl_engine_register_workflow(engine_, "w", 1, nullptr, noop_workflow, nullptr), SL_OK);
  EXPECT_EQ(sl_engine_register_workflow(engine_, "w", 1, nullptr, noop_workflow, nullptr),
            SL_EINVALID);
  EXPECT_EQ(last_message(), "workflow 'w' is already registered");
}

TEST_F(CapiEngine, RegisterChecksWorkflowOptionsVersion) {
  sl_workflow_options opts = SL_WORKFLOW_OPTIONS_INIT;
  ASSERT_EQ(sl_engine_register_workflow(engine_, "w", 1, &opts, noop_workflow, nullptr), SL_OK)
      << last_message();
  opts.version = 0;
  EXPECT_EQ(sl_engine_register_workflow(engine_, "x", 1, &opts, noop_workflow, nullptr),
            SL_EINVALID);
  EXPECT_EQ(last_message(),
            "sl_engine_register_workflow: sl_workflow_options.version is 0; initialise the "
            "struct with SL_WORKFLOW_OPTIONS_INIT");
}

// ---- start / get ----

TEST_F(CapiEngine, StartReturnsTheRunWithEveryField) {
  std::string input = R"({"title":"The Fox","pages":3})";
  sl_start_options opts = SL_START_OPTIONS_INIT;
  opts.owner = "user-7";
  opts.owner_len = 6;
  opts.priority = 5;
  opts.budget_llm_calls = 4;
  char* out = nullptr;
  size_t len = 0;
  workflow("story", [](sl_execution* e) { complete(e); });
  int status = sl_engine_start(&out, &len, engine_, "story", 5, input.data(), input.size(), &opts);
  ASSERT_EQ(status, SL_OK) << last_message();
  EXPECT_EQ(std::strlen(out), len);
  Json run = take_json(status, out);
  const auto& o = run.as_object();
  for (const char* field : {"id", "workflow", "status", "input", "output", "error", "progress",
                            "owner", "idempotency_key", "parent_id", "priority", "created_at_ms",
                            "updated_at_ms", "finished_at_ms", "budget"}) {
    EXPECT_TRUE(o.contains(field)) << field;
  }
  EXPECT_EQ(o.size(), 15u);
  EXPECT_EQ(o.at("budget"), boost::json::parse(R"({"llm_calls":4,"llm_tokens":0})"));
  EXPECT_EQ(o.at("workflow"), "story");
  // An idle engine starts a local run in the commit that creates it.
  EXPECT_TRUE(o.at("status") == "queued" || o.at("status") == "running") << o.at("status");
  EXPECT_EQ(o.at("input"), boost::json::parse(input));
  EXPECT_TRUE(o.at("output").is_null());
  EXPECT_TRUE(o.at("error").is_null());
  EXPECT_EQ(o.at("owner"), "user-7");
  EXPECT_EQ(o.at("idempotency_key"), "");
  EXPECT_EQ(o.at("parent_id"), "");
  EXPECT_EQ(o.at("priority"), 5);
  EXPECT_GT(o.at("created_at_ms").as_int64(), 0);
  EXPECT_EQ(o.at("finished_at_ms"), 0);
  EXPECT_EQ(get(std::string(o.at("id").as_string())).at("input"), o.at("input"));
}

TEST_F(CapiEngine, StartOptionsVersionOneHaveNoBudgetAndANegativeBudgetIsNamed) {
  workflow("w", [](sl_execution* e) { complete(e); });
  sl_start_options v1 = SL_START_OPTIONS_INIT;
  v1.version = 1;  // a caller built against the first version: no budget fields read
  v1.budget_llm_calls = -1;
  char* out = nullptr;
  Json run = take_json(sl_engine_start(&out, nullptr, engine_, "w", 1, "{}", 2, &v1), out);
  EXPECT_EQ(run.at("budget").at("llm_calls"), 0);
  sl_start_options bad = SL_START_OPTIONS_INIT;
  bad.budget_llm_tokens = -3;
  EXPECT_EQ(sl_engine_start(&out, nullptr, engine_, "w", 1, "{}", 2, &bad), SL_EINVALID);
  EXPECT_EQ(last_message(), "budget.llm_tokens must be >= 0 (0: no limit), got -3");
  const char* many = R"([{"workflow":"w","budget":{"llm_calls":2}},{"workflow":"w","budget":{"calls":1}}])";
  EXPECT_EQ(sl_engine_start_many(&out, nullptr, engine_, many, std::strlen(many)), SL_EINVALID);
  EXPECT_EQ(last_message(), "sl_engine_start_many: requests_json[1].budget has an unknown field "
                            "'calls' (known: llm_calls, llm_tokens)");
}

TEST_F(CapiEngine, StartWithTheSameIdempotencyKeyReturnsTheSameRun) {
  sl_start_options opts = SL_START_OPTIONS_INIT;
  opts.idempotency_key = "order-1";
  opts.idempotency_key_len = 7;
  workflow("w", [](sl_execution* e) { complete(e); });
  char* first = nullptr;
  char* second = nullptr;
  Json a = take_json(sl_engine_start(&first, nullptr, engine_, "w", 1, "{}", 2, &opts), first);
  Json b = take_json(sl_engine_start(&second, nullptr, engine_, "w", 1, "{\"x\":1}", 7, &opts),
                     second);
  EXPECT_EQ(a.at("id"), b.at("id"));
  EXPECT_EQ(b.at("idempotency_key"), "order-1");
  EXPECT_EQ(b.at("input"), boost::json::object{});
}

TEST_F(CapiEngine, StartOfAWorkflowNoEngineRegisteredIsNotFound) {
  char* out = nullptr;
  EXPECT_EQ(sl_engine_start(&out, nullptr, engine_, "ghost", 5, "{}", 2, nullptr), SL_ENOTFOUND);
  EXPECT_EQ(last_message(), "workflow 'ghost' is not registered by any engine on this store");
}

TEST_F(CapiEngine, StartAcceptsAWorkflowAnotherEngineOnTheStoreRuns) {
  sl_engine* other = nullptr;
  sl_engine_options opts = options();
  ASSERT_EQ(sl_engine_open(&other, &opts), SL_OK) << last_message();
  ASSERT_EQ(sl_engine_register_workflow(other, "remote", 6, nullptr, noop_workflow, nullptr),
            SL_OK);
  ASSERT_EQ(sl_engine_launch(other), SL_OK) << last_message();
  std::string id(start("remote").at("id").as_string());
  EXPECT_EQ(status_of(wait_finished(id)), "completed");
  sl_engine_close(other);
}

TEST_F(CapiEngine, StartRejectsNullOut) {
  EXPECT_EQ(sl_engine_start(nullptr, nullptr, engine_, "w", 1, "{}", 2, nullptr), SL_EINVALID);
  EXPECT_EQ(last_message(), "sl_engine_start: run_json is NULL");
}

TEST_F(CapiEngine, StartRejectsNullEngine) {
  char* out = nullptr;
  EXPECT_EQ(sl_engine_start(&out, nullptr, nullptr, "w", 1, "{}", 2, nullptr), SL_EINVALID);
  EXPECT_EQ(last_message(), "sl_engine_start: engine is NULL");
}

TEST_F(CapiEngine, StartRejectsNullWorkflowWithLength) {
  char* out = nullptr;
  EXPECT_EQ(sl_engine_start(&out, nullptr, engine_, nullptr, 3, "{}", 2, nullptr), SL_EINVALID);
  EXPECT_EQ(last_message(), "sl_engine_start: workflow is NULL but its length is 3");
}

TEST_F(CapiEngine, StartRejectsNullInput) {
  char* out = nullptr;
  EXPECT_EQ(sl_engine_start(&out, nullptr, engine_, "w", 1, nullptr, 0, nullptr), SL_EINVALID);
  EXPECT_EQ(last_message(), "sl_engine_start: input_json is NULL");
}

TEST_F(CapiEngine, StartRejectsInvalidJsonNamingTheArgument) {
  char* out = nullptr;
  size_t len = 99;
  EXPECT_EQ(sl_engine_start(&out, &len, engine_, "w", 1, "{\"a\":", 5, nullptr), SL_EINVALID);
  EXPECT_EQ(out, nullptr);
  EXPECT_EQ(len, 0u);
  EXPECT_EQ(last_message().rfind("sl_engine_start: input_json is not valid JSON: ", 0), 0u)
      << last_message();
}

TEST_F(CapiEngine, StartRejectsInputThatIsNotAnObject) {
  char* out = nullptr;
  EXPECT_EQ(sl_engine_start(&out, nullptr, engine_, "w", 1, "[1,2]", 5, nullptr), SL_EINVALID);
  EXPECT_EQ(last_message(), "run input must be a JSON object, not an array");
}

TEST_F(CapiEngine, StartRejectsOversizedInput) {
  close();
  sl_engine_options opts = options();
  opts.max_payload_bytes = 1024;
  open(opts);
  std::string input = "{\"text\":\"" + std::string(2000, 'a') + "\"}";
  char* out = nullptr;
  EXPECT_EQ(sl_engine_start(&out, nullptr, engine_, "w", 1, input.data(), input.size(), nullptr),
            SL_ETOOLARGE);
  EXPECT_EQ(last_message(), "run input is 2011 bytes of JSON; the limit is 1024");
}

TEST_F(CapiEngine, StartRejectsOverlongOwner) {
  std::string owner(257, 'o');
  sl_start_options opts = SL_START_OPTIONS_INIT;
  opts.owner = owner.data();
  opts.owner_len = owner.size();
  char* out = nullptr;
  EXPECT_EQ(sl_engine_start(&out, nullptr, engine_, "w", 1, "{}", 2, &opts), SL_EINVALID);
  EXPECT_EQ(last_message(), "owner is 257 bytes; the limit is 256");
}

TEST_F(CapiEngine, StartChecksStartOptionsVersion) {
  sl_start_options opts = SL_START_OPTIONS_INIT;
  opts.version = 0;
  char* out = nullptr;
  EXPECT_EQ(sl_engine_start(&out, nullptr, engine_, "w", 1, "{}", 2, &opts), SL_EINVALID);
  EXPECT_EQ(last_message(),
            "sl_engine_start: sl_start_options.version is 0; initialise the struct with "
            "SL_START_OPTIONS_INIT");
}

TEST_F(CapiEngine, GetRunOfAnUnknownIdIsNotFound) {
  char* out = nullptr;
  EXPECT_EQ(sl_engine_get_run(&out, nullptr, engine_, "nope", 4), SL_ENOTFOUND);
  EXPECT_EQ(sl_last_error_code(), SL_ENOTFOUND);
  EXPECT_EQ(last_message(), "no run with id 'nope'");
}

TEST_F(CapiEngine, GetRunOfAnEmptyIdIsInvalid) {
  char* out = nullptr;
  EXPECT_EQ(sl_engine_get_run(&out, nullptr, engine_, nullptr, 0), SL_EINVALID);
  EXPECT_EQ(last_message(), "run id is empty");
}

// ---- list ----

TEST_F(CapiEngine, ListRunsPagesWithTheCursor) {
  workflow("w", [](sl_execution* e) { complete(e); });
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(std::string(start("w").at("id").as_string()));
  sl_list_options opts = SL_LIST_OPTIONS_INIT;
  opts.limit = 2;
  std::vector<std::string> seen;
  std::string cursor;
  for (int page = 0; page < 3; ++page) {
    opts.after = cursor.data();
    opts.after_len = cursor.size();
    char* out = nullptr;
    Json json = take_json(sl_engine_list_runs(&out, nullptr, engine_, &opts), out);
    for (const auto& run : json.at("runs").as_array()) {
      seen.push_back(std::string(run.at("id").as_string()));
    }
    cursor = std::string(json.at("next_cursor").as_string());
  }
  EXPECT_EQ(seen, ids);
  EXPECT_EQ(cursor, "");
}

TEST_F(CapiEngine, ListRunsFiltersByStatusWorkflowAndOwner) {
  sl_start_options mine = SL_START_OPTIONS_INIT;
  mine.owner = "me";
  mine.owner_len = 2;
  workflow("a", [](sl_execution* e) { complete(e); });
  char* out = nullptr;
  Json a = take_json(sl_engine_start(&out, nullptr, engine_, "a", 1, "{}", 2, &mine), out);
  start("a");
  std::string b_id = start_waiting("b");
  ASSERT_EQ(sl_engine_cancel(engine_, b_id.data(), b_id.size()), SL_OK) << last_message();

  auto ids = [&](const sl_list_options& opts) {
    char* page = nullptr;
    Json json = take_json(sl_engine_list_runs(&page, nullptr, engine_, &opts), page);
    std::vector<std::string> out_ids;
    for (const auto& run : json.at("runs").as_array()) {
      out_ids.push_back(std::string(run.at("id").as_string()));
    }
    return out_ids;
  };
  sl_list_options by_status = SL_LIST_OPTIONS_INIT;
  by_status.status = "cancelled";
  by_status.status_len = 9;
  EXPECT_EQ(ids(by_status), std::vector<std::string>{b_id});
  sl_list_options by_workflow = SL_LIST_OPTIONS_INIT;
  by_workflow.workflow = "a";
  by_workflow.workflow_len = 1;
  EXPECT_EQ(ids(by_workflow).size(), 2u);
  sl_list_options by_owner = SL_LIST_OPTIONS_INIT;
  by_owner.owner = "me";
  by_owner.owner_len = 2;
  EXPECT_EQ(ids(by_owner), std::vector<std::string>{std::string(a.at("id").as_string())});
  char* all = nullptr;
  Json every = take_json(sl_engine_list_runs(&all, nullptr, engine_, nullptr), all);
  EXPECT_EQ(every.at("runs").as_array().size(), 3u);
}

TEST_F(CapiEngine, ListRunsRejectsAnUnknownStatus) {
  sl_list_options opts = SL_LIST_OPTIONS_INIT;
  opts.status = "bogus";
  opts.status_len = 5;
  char* out = nullptr;
  EXPECT_EQ(sl_engine_list_runs(&out, nullptr, engine_, &opts), SL_EINVALID);
  EXPECT_EQ(last_message(),
            "'bogus' is not a run status (queued, running, sleeping, waiting, completed, failed, "
            "cancelled)");
}

TEST_F(CapiEngine, ListRunsRejectsALimitOver1000) {
  sl_list_options opts = SL_LIST_OPTIONS_INIT;
  opts.limit = 1001;
  char* out = nullptr;
  EXPECT_EQ(sl_engine_list_runs(&out, nullptr, engine_, &opts), SL_EINVALID);
  EXPECT_EQ(last_message(), "limit must be between 1 and 1000, got 1001");
}

TEST_F(CapiEngine, ListRunsRejectsAnUnknownCursor) {
  sl_list_options opts = SL_LIST_OPTIONS_INIT;
  opts.after = "gone";
  opts.after_len = 4;
  char* out = nullptr;
  EXPECT_EQ(sl_engine_list_runs(&out, nullptr, engine_, &opts), SL_EINVALID);
  EXPECT_EQ(last_message(), "paging cursor 'gone' is not the id of an existing run");
}

TEST_F(CapiEngine, ListRunsChecksListOptionsVersion) {
  sl_list_options opts = SL_LIST_OPTIONS_INIT;
  opts.version = 3;
  char* out = nullptr;
  EXPECT_EQ(sl_engine_list_runs(&out, nullptr, engine_, &opts), SL_EINVALID);
  EXPECT_EQ(last_message(),
            "sl_engine_list_runs: sl_list_options.version is 3, but this library knows versions "
            "1 to 2 (was the caller built against a newer storyloom.h?)");
}

// ---- delete / cancel / signal / retry ----

TEST_F(CapiEngine, DeleteRefusesAnUnfinishedRun) {
  std::string id = start_waiting();
  EXPECT_EQ(sl_engine_delete_run(engine_, id.data(), id.size()), SL_EINVALIDSTATE);
  EXPECT_EQ(last_message(),
            "run '" + id + "' is waiting; only finished runs can be deleted (cancel it first)");
}

TEST_F(CapiEngine, DeleteRemovesAFinishedRun) {
  std::string id = start_waiting();
  ASSERT_EQ(sl_engine_cancel(engine_, id.data(), id.size()), SL_OK) << last_message();
  ASSERT_EQ(sl_engine_delete_run(engine_, id.data(), id.size()), SL_OK) << last_message();
  char* out = nullptr;
  EXPECT_EQ(sl_engine_get_run(&out, nullptr, engine_, id.data(), id.size()), SL_ENOTFOUND);
  EXPECT_EQ(sl_engine_delete_run(engine_, id.data(), id.size()), SL_ENOTFOUND);
  EXPECT_EQ(last_message(), "no run with id '" + id + "'");
}

TEST_F(CapiEngine, CancelMarksAWaitingRunCancelled) {
  std::string id = start_waiting();
  ASSERT_EQ(sl_engine_cancel(engine_, id.data(), id.size()), SL_OK) << last_message();
  Json run = get(id);
  EXPECT_EQ(status_of(run), "cancelled");
  EXPECT_GT(run.at("finished_at_ms").as_int64(), 0);
}

TEST_F(CapiEngine, CancelOfAFinishedRunIsInvalidState) {
  std::string id = start_waiting();
  ASSERT_EQ(sl_engine_cancel(engine_, id.data(), id.size()), SL_OK);
  EXPECT_EQ(sl_engine_cancel(engine_, id.data(), id.size()), SL_EINVALIDSTATE);
  EXPECT_EQ(last_message(), "run '" + id + "' is already cancelled; it cannot be cancelled");
}

TEST_F(CapiEngine, CancelRejectsNullEngine) {
  EXPECT_EQ(sl_engine_cancel(nullptr, "x", 1), SL_EINVALID);
  EXPECT_EQ(last_message(), "sl_engine_cancel: engine is NULL");
}

TEST_F(CapiEngine, SignalToAFinishedRunIsInvalidState) {
  std::string id = start_waiting();
  ASSERT_EQ(sl_engine_cancel(engine_, id.data(), id.size()), SL_OK);
  EXPECT_EQ(sl_engine_signal(engine_, id.data(), id.size(), "go", 2, "{}", 2), SL_EINVALIDSTATE);
  EXPECT_EQ(last_message(), "run '" + id +
                                "' is already cancelled; signals can only be sent to unfinished "
                                "runs");
}

TEST_F(CapiEngine, SignalRejectsInvalidPayloadJson) {
  std::string id = start_waiting();
  EXPECT_EQ(sl_engine_signal(engine_, id.data(), id.size(), "go", 2, "{oops}", 6), SL_EINVALID);
  EXPECT_EQ(last_message().rfind("sl_engine_signal: payload_json is not valid JSON: ", 0), 0u)
      << last_message();
}

TEST_F(CapiEngine, SignalRejectsAnEmptyName) {
  std::string id = start_waiting();
  EXPECT_EQ(sl_engine_signal(engine_, id.data(), id.size(), "", 0, "{}", 2), SL_EINVALID);
  EXPECT_EQ(last_message(), "signal name is empty");
}

TEST_F(CapiEngine, SignalToAnUnknownRunIsNotFound) {
  EXPECT_EQ(sl_engine_signal(engine_, "ghost", 5, "go", 2, "1", 1), SL_ENOTFOUND);
  EXPECT_EQ(last_message(), "no run with id 'ghost'");
}

TEST_F(CapiEngine, RetryRefusesARunThatDidNotFail) {
  std::string id = start_waiting();
  EXPECT_EQ(sl_engine_retry(engine_, id.data(), id.size()), SL_EINVALIDSTATE);
  EXPECT_EQ(last_message(), "run '" + id + "' is waiting; only failed runs can be retried");
}

TEST_F(CapiEngine, RetryOfAnUnknownRunIsNotFound) {
  EXPECT_EQ(sl_engine_retry(engine_, "ghost", 5), SL_ENOTFOUND);
  EXPECT_EQ(last_message(), "no run with id 'ghost'");
}

// ---- snapshot / artifacts / events ----

TEST_F(CapiEngine, SnapshotHoldsRunStepsLatestArtifactsAndLastEventId) {
  workflow("book", [](sl_execution* e) {
    step(e, "outline", [] { return std::string(R"({"pages":2})"); });
    sl_execution_artifact(e, "page-1", 6, "\"draft\"", 7);
    sl_execution_artifact(e, "page-1", 6, "\"final\"", 7);
    complete(e, R"({"done":true})");
  });
  std::string id(start("book").at("id").as_string());
  ASSERT_EQ(status_of(wait_finished(id)), "completed");
  char* out = nullptr;
  Json snap =
      take_json(sl_engine_snapshot(&out, nullptr, engine_, id.data(), id.size()), out);
  EXPECT_EQ(snap.at("run").at("id"), id.c_str());
  EXPECT_EQ(snap.at("run").at("output"), boost::json::parse(R"({"done":true})"));
  const auto& steps = snap.at("steps").as_array();
  ASSERT_EQ(steps.size(), 1u);
  EXPECT_EQ(steps[0].at("seq"), 0);
  EXPECT_EQ(steps[0].at("name"), "outline");
  EXPECT_EQ(steps[0].at("kind"), "step");
  EXPECT_EQ(steps[0].at("status"), "completed");
  EXPECT_EQ(steps[0].at("result"), boost::json::parse(R"({"pages":2})"));
  EXPECT_GT(steps[0].at("completed_at_ms").as_int64(), 0);
  const auto& artifacts = snap.at("artifacts").as_array();
  ASSERT_EQ(artifacts.size(), 1u);
  EXPECT_EQ(artifacts[0].at("key"), "page-1");
  EXPECT_EQ(artifacts[0].at("version"), 2);
  EXPECT_EQ(artifacts[0].at("value"), "final");
  Json all = events(id);
  EXPECT_EQ(snap.at("last_event_id"), all.as_array().back().at("id"));

  char* list = nullptr;
  Json versions =
      take_json(sl_engine_artifacts(&list, nullptr, engine_, id.data(), id.size()), list);
  ASSERT_EQ(versions.as_array().size(), 2u);
  EXPECT_EQ(versions.at(0).at("version"), 1);
  EXPECT_EQ(versions.at(0).at("value"), "draft");
  EXPECT_EQ(versions.at(1).at("value"), "final");
  EXPECT_GT(versions.at(1).at("created_at_ms").as_int64(), 0);
}

TEST_F(CapiEngine, SnapshotOfAnUnknownRunIsNotFound) {
  char* out = nullptr;
  EXPECT_EQ(sl_engine_snapshot(&out, nullptr, engine_, "ghost", 5), SL_ENOTFOUND);
  EXPECT_EQ(last_message(), "no run with id 'ghost'");
  EXPECT_EQ(sl_engine_artifacts(&out, nullptr, engine_, "ghost", 5), SL_ENOTFOUND);
  EXPECT_EQ(last_message(), "no run with id 'ghost'");
}

TEST_F(CapiEngine, EventsArePagedAfterAnId) {
  std::string id = start_waiting();
  size_t before = events(id).as_array().size();
  ASSERT_EQ(sl_engine_signal(engine_, id.data(), id.size(), "a", 1, "1", 1), SL_OK);
  ASSERT_EQ(sl_engine_signal(engine_, id.data(), id.size(), "b", 1, "2", 1), SL_OK);
  Json all = events(id);
  ASSERT_EQ(all.as_array().size(), before + 2);
  const auto& first = all.at(0).as_object();
  EXPECT_EQ(first.size(), 5u);
  EXPECT_EQ(first.at("run_id"), id.c_str());
  EXPECT_EQ(first.at("type"), "run.created");
  EXPECT_EQ(first.at("data").at("workflow"), "waits");
  EXPECT_GT(first.at("created_at_ms").as_int64(), 0);
  EXPECT_EQ(all.at(before).at("type"), "signal.received");
  EXPECT_EQ(all.at(before).at("data"), boost::json::parse(R"({"name":"a","payload":1})"));

  char* out = nullptr;
  Json page = take_json(sl_engine_events(&out, nullptr, engine_, id.data(), id.size(),
                                         all.at(before - 1).at("id").as_int64(), 1),
                        out);
  ASSERT_EQ(page.as_array().size(), 1u);
  EXPECT_EQ(page.at(0), all.at(before));
}

TEST_F(CapiEngine, EventsRejectANegativeAfterId) {
  std::string id = start_waiting();
  char* out = nullptr;
  EXPECT_EQ(sl_engine_events(&out, nullptr, engine_, id.data(), id.size(), -1, 0), SL_EINVALID);
  EXPECT_EQ(last_message(), "after id must not be negative");
}

TEST_F(CapiEngine, EventsRejectALimitOver10000) {
  std::string id = start_waiting();
  char* out = nullptr;
  EXPECT_EQ(sl_engine_events(&out, nullptr, engine_, id.data(), id.size(), 0, 10001),
            SL_EINVALID);
  EXPECT_EQ(last_message(), "limit must be between 1 and 10000, got 10001");
}

TEST_F(CapiEngine, EventsOfAnUnknownRunAreNotFound) {
  char* out = nullptr;
  EXPECT_EQ(sl_engine_events(&out, nullptr, engine_, "ghost", 5, 0, 0), SL_ENOTFOUND);
  EXPECT_EQ(last_message(), "no run with id 'ghost'");
}

// ---- launch, durability, start_many, signal_many ----

TEST_F(CapiEngine, NothingRunsBeforeLaunch) {
  sl_engine* other = nullptr;
  sl_engine_options opts = options();
  ASSERT_EQ(sl_engine_open(&other, &opts), SL_OK) << last_message();
  ASSERT_EQ(sl_engine_register_workflow(other, "later", 5, nullptr, noop_workflow, nullptr), SL_OK);
  char* out = nullptr;
  Json run = take_json(sl_engine_start(&out, nullptr, other, "later", 5, "{}", 2, nullptr), out);
  std::string id(run.at("id").as_string());
  std::this_thread::sleep_for(50ms);
  Json now = take_json(sl_engine_get_run(&out, nullptr, other, id.data(), id.size()), out);
  EXPECT_EQ(now.at("status"), "queued");
  ASSERT_EQ(sl_engine_launch(other), SL_OK) << last_message();
  EXPECT_EQ(status_of(wait_finished(id)), "completed");
  sl_engine_close(other);
  EXPECT_EQ(sl_engine_launch(nullptr), SL_EINVALID);
  EXPECT_EQ(last_message(), "sl_engine_launch: engine is NULL");
}

TEST(CapiEngineOpen, RejectsAnUnknownDurability) {
  TempStore store;
  sl_engine_options opts = SL_ENGINE_OPTIONS_INIT;
  opts.store = store.spec().c_str();
  opts.store_len = store.spec().size();
  opts.durability = 7;
  sl_engine* engine = nullptr;
  EXPECT_EQ(sl_engine_open(&engine, &opts), SL_EINVALID);
  EXPECT_EQ(last_message(),
            "sl_engine_open: sl_engine_options.durability is 7; use SL_DURABILITY_FULL or "
            "SL_DURABILITY_NORMAL");
  opts.durability = SL_DURABILITY_NORMAL;
  ASSERT_EQ(sl_engine_open(&engine, &opts), SL_OK) << last_message();
  sl_engine_close(engine);
}

TEST_F(CapiEngine, StartManyAndSignalManyAnswerEachItem) {
  workflow("wait", [](sl_execution* e) {
    int state = 0;
    char* payload = nullptr;
    size_t len = 0;
    if (sl_execution_wait_for_signal(&state, &payload, &len, e, "go", 2, -1) != SL_OK) {
      sl_execution_finish_failed(e, SL_CLASS_FATAL, "wait failed", 11);
    } else if (state == SL_WAIT_PARKED) {
      sl_execution_finish_parked(e);
    } else {
      sl_execution_finish_completed(e, payload, len);
    }
    sl_free(payload);
  });
  char* out = nullptr;
  std::string requests =
      R"([{"workflow":"wait","input":{}},{"workflow":"wait","input":{},"owner":"u"},)"
      R"({"workflow":"ghost","input":{}}])";
  Json results = take_json(
      sl_engine_start_many(&out, nullptr, engine_, requests.data(), requests.size()), out);
  ASSERT_EQ(results.as_array().size(), 3u);
  std::string a(results.at(0).at("run").at("id").as_string());
  std::string b(results.at(1).at("run").at("id").as_string());
  EXPECT_EQ(results.at(1).at("run").at("owner"), "u");
  EXPECT_EQ(results.at(2).at("error").at("code"), "not_found");
  std::string signals = R"([{"run_id":")" + a + R"(","name":"go","payload":{"n":1}},{"run_id":")" +
                        b + R"(","name":"go","payload":{"n":2}},{"run_id":"nope","name":"go"}])";
  results = take_json(
      sl_engine_signal_many(&out, nullptr, engine_, signals.data(), signals.size()), out);
  ASSERT_EQ(results.as_array().size(), 3u);
  EXPECT_EQ(results.at(0).at("ok"), true);
  EXPECT_EQ(results.at(1).at("ok"), true);
  EXPECT_EQ(results.at(2).at("error").at("message"), "no run with id 'nope'");
  EXPECT_EQ(wait_finished(a).at("output").at("n"), 1);
  EXPECT_EQ(wait_finished(b).at("output").at("n"), 2);

  std::string bad = R"([{"workflow":5}])";
  EXPECT_EQ(sl_engine_start_many(&out, nullptr, engine_, bad.data(), bad.size()), SL_EINVALID);
  EXPECT_EQ(last_message(), "sl_engine_start_many: requests_json[0].workflow must be a string");
  bad = R"({"not":"an array"})";
  EXPECT_EQ(sl_engine_signal_many(&out, nullptr, engine_, bad.data(), bad.size()), SL_EINVALID);
  EXPECT_EQ(last_message(), "sl_engine_signal_many: signals_json must be a JSON array");
}

// ---- start_async ----

namespace {

// Collects the answers of sl_engine_start_async, from whatever thread.
struct StartAnswers {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<std::pair<int, std::string>> answers;  // status, run JSON or message

  static void record(void* self, int status, const char* run_json, size_t run_len,
                     const char* message, size_t message_len) {
    auto* a = static_cast<StartAnswers*>(self);
    std::lock_guard lock(a->mutex);
    a->answers.emplace_back(status, status == SL_OK ? std::string(run_json, run_len)
                                                    : std::string(message, message_len));
    a->changed.notify_all();
  }
  bool wait_for(size_t n) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, 10s, [&] { return answers.size() >= n; });
  }
};

}  // namespace

TEST_F(CapiEngine, StartAsyncAnswersEachStartOnceDurable) {
  ASSERT_EQ(sl_engine_register_workflow(engine_, "noop", 4, nullptr, noop_workflow, nullptr), SL_OK);
  ASSERT_EQ(sl_engine_launch(engine_), SL_OK);
  StartAnswers answers;
  sl_start_options keyed = SL_START_OPTIONS_INIT;
  keyed.idempotency_key = "k1";
  keyed.idempotency_key_len = 2;
  for (int i = 0; i < 50; ++i) {
    ASSERT_EQ(sl_engine_start_async(engine_, "noop", 4, "{}", 2, i % 10 == 0 ? &keyed : nullptr,
                                    StartAnswers::record, &answers),
              SL_OK)
        << last_message();
  }
  ASSERT_TRUE(answers.wait_for(50));
  std::set<std::string> ids;
  std::string keyed_id;
  for (const auto& [status, text] : answers.answers) {
    ASSERT_EQ(status, SL_OK) << text;
    Json run = boost::json::parse(text);
    std::string id(run.at("id").as_string());
    ids.insert(id);
    if (run.at("idempotency_key") == "k1") {
      if (keyed_id.empty()) keyed_id = id;
      EXPECT_EQ(id, keyed_id);  // the same key answers the same run
    }
    EXPECT_EQ(status_of(wait_finished(id)), "completed");
  }
  EXPECT_EQ(ids.size(), 46u);  // 40 unkeyed + one for the five keyed starts
}

TEST_F(CapiEngine, StartAsyncReportsErrorsFoundAtCommitThroughTheCallback) {
  StartAnswers answers;
  ASSERT_EQ(sl_engine_start_async(engine_, "ghost", 5, "{}", 2, nullptr, StartAnswers::record,
                                  &answers),
            SL_OK);
  ASSERT_TRUE(answers.wait_for(1));
  EXPECT_EQ(answers.answers[0].first, SL_ENOTFOUND);
  EXPECT_EQ(answers.answers[0].second,
            "workflow 'ghost' is not registered by any engine on this store");
}

TEST_F(CapiEngine, StartAsyncRefusesBadArgumentsWithoutCallingBack) {
  StartAnswers answers;
  EXPECT_EQ(sl_engine_start_async(engine_, "noop", 4, "{}", 2, nullptr, nullptr, nullptr),
            SL_EINVALID);
  EXPECT_EQ(last_message(), "sl_engine_start_async: fn is NULL");
  EXPECT_EQ(sl_engine_start_async(engine_, "noop", 4, "[1]", 3, nullptr, StartAnswers::record,
                                  &answers),
            SL_EINVALID);
  EXPECT_EQ(sl_engine_start_async(nullptr, "noop", 4, "{}", 2, nullptr, StartAnswers::record,
                                  &answers),
            SL_EINVALID);
  EXPECT_EQ(last_message(), "sl_engine_start_async: engine is NULL");
  std::this_thread::sleep_for(50ms);
  std::lock_guard lock(answers.mutex);
  EXPECT_TRUE(answers.answers.empty());
}
