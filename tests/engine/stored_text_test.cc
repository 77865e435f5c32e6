// Only valid text reaches the store, and one undecodable row affects only its own run.
#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <stdexcept>

#include "support/test_support.h"

using namespace storyloom;
using namespace storyloom::testing;

namespace {

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// Fails every run until `healed`, then completes it.
void register_flaky(Engine& engine, std::atomic<bool>& healed) {
  engine.register_workflow("flaky", [&healed](Context& ctx, const Json&) -> Json {
    ctx.step("work", [] { return Json(1); });
    if (!healed) throw Error(ErrorCode::invalid_argument, "not yet", ErrorClass::fatal);
    return Json("done");
  });
}

}  // namespace

TEST(StoredText, ErrorMessageBytesThatAreNotUtf8BecomeReplacementCharacters) {
  auto engine = Engine::open(fast_options());
  engine->launch();
  engine->register_workflow("latin1", [](Context& ctx, const Json&) -> Json {
    ctx.step("open", []() -> Json {
      throw std::filesystem::filesystem_error("cannot open", std::filesystem::path("caf\xe9.txt"),
                                              std::make_error_code(std::errc::no_such_file_or_directory));
    });
    return nullptr;
  });
  auto run = engine->start("latin1", boost::json::object{});
  auto done = wait_finished(*engine, run.id);
  ASSERT_EQ(done.status, RunStatus::failed);
  std::string message(done.error.at("message").as_string());
  EXPECT_TRUE(contains(message, "caf\xEF\xBF\xBD.txt")) << message;
  EXPECT_EQ(valid_utf8(message), message);
  // The run stays readable everywhere.
  EXPECT_EQ(engine->list().runs.size(), 1u);
  EXPECT_NO_THROW(engine->snapshot(run.id));
  EXPECT_NO_THROW(engine->events(run.id, 0));
}

TEST(StoredText, ValidUtf8ReplacesEachBadByte) {
  EXPECT_EQ(valid_utf8("ok \xc3\xa9"), "ok \xc3\xa9");
  EXPECT_EQ(valid_utf8("a\xff" "b"), "a\xEF\xBF\xBD" "b");
  EXPECT_EQ(valid_utf8("\xc0\xaf"), "\xEF\xBF\xBD\xEF\xBF\xBD");  // overlong '/'
  EXPECT_EQ(valid_utf8("\xe2\x82"), "\xEF\xBF\xBD\xEF\xBF\xBD");  // truncated
  EXPECT_STREQ(Error(ErrorCode::step_failed, "x\xfe").what(), "x\xEF\xBF\xBD");
}

TEST(StoredText, CorruptedRowAffectsOnlyItsRun) {
  TempDir dir;
  auto path = dir.file("corrupt.db");
  std::atomic<bool> healed{false};
  std::vector<std::string> ids;
  {
    auto engine = Engine::open(fast_options("sqlite:" + path));
    engine->launch();
    register_flaky(*engine, healed);
    for (int i = 0; i < 3; ++i) {
      ids.push_back(engine->start("flaky", boost::json::object{{"i", i}}).id);
      ASSERT_EQ(wait_finished(*engine, ids.back()).status, RunStatus::failed);
    }
    engine->close();
  }
  {
    SQLite::Database db(path, SQLite::OPEN_READWRITE);
    SQLite::Statement q(db, "UPDATE runs SET error = '{\"code\": \"st' WHERE id = ?");
    q.bind(1, ids[1]);
    ASSERT_EQ(q.exec(), 1);
    SQLite::Statement s(db, "UPDATE steps SET result = '[1,' WHERE run_id = ?");
    s.bind(1, ids[2]);
    ASSERT_EQ(s.exec(), 1);
  }
  auto engine = Engine::open(fast_options("sqlite:" + path));
  engine->launch();
  register_flaky(*engine, healed);

  // list: every run, the corrupted one marked.
  auto page = engine->list();
  ASSERT_EQ(page.runs.size(), 3u);
  EXPECT_TRUE(page.runs[0].unreadable.empty());
  EXPECT_EQ(page.runs[1].unreadable, "stored error is not valid JSON (incomplete JSON)")
      << page.runs[1].unreadable;
  EXPECT_TRUE(page.runs[1].error.is_null());
  EXPECT_EQ(to_json(page.runs[1]).at("unreadable").as_string(), page.runs[1].unreadable);
  EXPECT_FALSE(to_json(page.runs[0]).as_object().contains("unreadable"));
  RunFilter by_class;
  by_class.error_class = ErrorClass::fatal;
  EXPECT_EQ(engine->list(by_class).runs.size(), 2u);  // the corrupted error matches no class

  // get / snapshot: Error(store) naming the run, never a Boost exception.
  auto e = error_of([&] { engine->get(ids[1]); });
  EXPECT_EQ(e.code(), ErrorCode::store);
  EXPECT_EQ(std::string(e.what()), "run '" + ids[1] +
                                       "' cannot be read from the store: stored error is not "
                                       "valid JSON (incomplete JSON)");
  EXPECT_EQ(error_of([&] { engine->snapshot(ids[1]); }).code(), ErrorCode::store);
  e = error_of([&] { engine->snapshot(ids[2]); });
  EXPECT_EQ(e.code(), ErrorCode::store);
  EXPECT_TRUE(contains(e.what(), "run '" + ids[2] + "' cannot be read from the store: the result "
                                                    "of step 'work' is not valid JSON"))
      << e.what();

  // retry_failed: skips the corrupted run, says so, and the others complete.
  healed = true;
  std::vector<std::string> skipped;
  EXPECT_EQ(engine->retry_failed({}, &skipped), 2u);
  EXPECT_EQ(skipped, std::vector<std::string>{ids[1]});
  EXPECT_EQ(wait_finished(*engine, ids[0]).status, RunStatus::completed);
  // A stored step result is never recomputed, so the replay of the run whose
  // step result is corrupted fails, with a store error naming the run.
  auto replayed = wait_finished(*engine, ids[2]);
  EXPECT_EQ(replayed.status, RunStatus::failed);
  EXPECT_EQ(replayed.error.at("code").as_string(), "store") << boost::json::serialize(replayed.error);
  EXPECT_TRUE(contains(std::string(replayed.error.at("message").as_string()), ids[2]));
  EXPECT_EQ(engine->list().runs.size(), 3u);
}


TEST(StoredText, QueuedRunWithAnUndecodableInputFailsInsteadOfExecuting) {
  TempDir dir;
  auto path = dir.file("queued.db");
  std::atomic<int> executions{0};
  auto register_counter = [&](Engine& engine) {
    engine.register_workflow("count", [&](Context&, const Json&) -> Json {
      ++executions;
      return nullptr;
    });
  };
  std::string bad, good;
  {
    auto engine = Engine::open(fast_options("sqlite:" + path));
    engine->launch();
    register_counter(*engine);
    bad = engine->start("count", boost::json::object{{"n", 1}}).id;
    good = engine->start("count", boost::json::object{{"n", 2}}).id;
    ASSERT_EQ(wait_finished(*engine, good).status, RunStatus::completed);
    ASSERT_EQ(wait_finished(*engine, bad).status, RunStatus::completed);
    engine->close();
  }
  {
    SQLite::Database db(path, SQLite::OPEN_READWRITE);
    SQLite::Statement q(db,
                        "UPDATE runs SET status = 'queued', input = '{\"n\":', output = NULL, "
                        "finished_at = 0 WHERE id = ?");
    q.bind(1, bad);
    ASSERT_EQ(q.exec(), 1);
    SQLite::Statement r(db, "UPDATE runs SET status = 'queued', output = NULL, finished_at = 0 "
                            "WHERE id = ?");
    r.bind(1, good);
    ASSERT_EQ(r.exec(), 1);
  }
  executions = 0;
  auto engine = Engine::open(fast_options("sqlite:" + path));
  engine->launch();
  register_counter(*engine);
  EXPECT_EQ(wait_finished(*engine, good).status, RunStatus::completed);
  RunInfo listed;
  ASSERT_TRUE(eventually([&] {
    for (auto& run : engine->list().runs) {
      if (run.id == bad) listed = run;
    }
    return listed.status == RunStatus::failed;
  }));
  EXPECT_EQ(executions.load(), 1);  // only the good run executed again
  EXPECT_EQ(listed.unreadable, "stored input is not valid JSON (incomplete JSON)");
  EXPECT_EQ(listed.error.at("code").as_string(), "store");
  EXPECT_EQ(std::string(listed.error.at("message").as_string()),
            "run '" + bad + "' cannot be read from the store: stored input is not valid JSON "
            "(incomplete JSON)");
}
