// The `storyloom` program run as a child process. An engine in this process
// writes the store first; for cancel, signal, retry and --follow it stays open
// and executes the runs while the program changes or watches them.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include <SQLiteCpp/SQLiteCpp.h>

#include "args.h"
#include "storyloom/engine.h"
#include "subprocess.h"

using namespace storyloom;
using namespace std::chrono_literals;
using storyloom::testing::ProgramResult;
using storyloom::testing::Subprocess;

namespace {

const std::string kCli = STORYLOOM_CLI_PATH;

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::vector<Json> json_lines(const std::string& text) {
  std::vector<Json> out;
  for (const auto& line : lines_of(text)) out.push_back(parse_json(line, "output line"));
  return out;
}

std::vector<std::string> types_of(const std::vector<Json>& events) {
  std::vector<std::string> types;
  for (const auto& e : events) types.emplace_back(e.at("type").as_string());
  return types;
}

bool contains(const std::vector<std::string>& items, const std::string& item) {
  return std::find(items.begin(), items.end(), item) != items.end();
}

int64_t system_now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::string usage_text() { return cli::usage(); }

class CliProgram : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/storyloom-cli-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    db_ = dir_ + "/store.db";
    open_engine();
  }

  void TearDown() override {
    engine_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  void open_engine() {
    EngineOptions options;
    options.store = db_;
    engine_ = Engine::open(options);
    engine_->launch();
    engine_->register_workflow("story", [](Context& ctx, const Json&) -> Json {
      auto outline = ctx.step("outline", [] {
        return Json(boost::json::object{{"title", "The Fox"}});
      });
      ctx.artifact("outline", boost::json::object{{"v", 1}});
      ctx.artifact("outline", boost::json::object{{"v", 2}});
      ctx.artifact("page-1", "Once upon a time");
      ctx.progress(boost::json::object{{"page", 1}, {"of", 1}});
      ctx.emit("note", boost::json::object{{"hello", "world"}});
      ctx.chunk("page-1", "Once upon\na time");
      auto page = ctx.step("page-1", [] { return Json("Once upon a time"); });
      return boost::json::object{{"title", outline.at("title")},
                                 {"pages", boost::json::array{page}}};
    });
    engine_->register_workflow("flaky", [this](Context& ctx, const Json& input) -> Json {
      auto a = ctx.step("a", [this] {
        ++a_calls_;
        return Json("a-ok");
      });
      auto b = ctx.step("b", [this]() -> Json {
        if (!fix_b_) throw Error(ErrorCode::step_failed, "boom", ErrorClass::fatal);
        return Json("b-ok");
      });
      if (input.as_object().contains("wait")) ctx.wait_for_signal("go");
      return boost::json::object{{"a", a}, {"b", b}};
    });
    engine_->register_workflow("approval", [](Context& ctx, const Json&) -> Json {
      auto payload = ctx.wait_for_signal("approve");
      return boost::json::object{{"approved", payload ? *payload : Json(nullptr)}};
    });
    engine_->register_workflow("spin", [this](Context& ctx, const Json&) -> Json {
      ctx.step("spin", [&] {
        spinning_ = true;
        auto deadline = std::chrono::steady_clock::now() + 10s;
        while (!ctx.cancelled() && std::chrono::steady_clock::now() < deadline) {
          std::this_thread::sleep_for(1ms);
        }
        if (ctx.cancelled()) cancel_seen_ms_ = system_now_ms();
        return Json("stopped");
      });
      return boost::json::object{};
    });
  }

  void close_engine() {
    engine_->close();
    engine_.reset();
  }

  // Runs `storyloom --db <store> args...` to its end.
  ProgramResult cli(std::vector<std::string> args) {
    args.insert(args.begin(), {kCli, "--db", db_});
    return storyloom::testing::run_program(args);
  }

  std::unique_ptr<Subprocess> spawn_cli(std::vector<std::string> args) {
    args.insert(args.begin(), {kCli, "--db", db_});
    return std::make_unique<Subprocess>(args);
  }

  // Polls the engine until the run has `status` (no fixed sleeps: a short
  // poll against a deadline).
  RunInfo wait_for(const std::string& id, RunStatus status, std::chrono::milliseconds limit = 5s) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
      auto run = engine_->get(id);
      if (run.status == status || std::chrono::steady_clock::now() > deadline) {
        EXPECT_EQ(to_string(run.status), std::string(to_string(status)))
            << "run " << id << " error: " << to_json_text(run.error);
        return run;
      }
      std::this_thread::sleep_for(2ms);
    }
  }

  struct Runs {
    std::string story;    // completed, owner alice
    std::string failed;   // flaky, failed at step b, owner bob
    std::string waiting;  // approval, waiting for "approve"
  };

  // Three runs in three end states, then the engine is closed.
  Runs make_runs() {
    StartOptions alice;
    alice.owner = "alice";
    StartOptions bob;
    bob.owner = "bob";
    Runs runs;
    runs.story = engine_->start("story", boost::json::object{{"pages", 1}}, alice).id;
    wait_for(runs.story, RunStatus::completed);
    runs.failed = engine_->start("flaky", boost::json::object{}, bob).id;
    wait_for(runs.failed, RunStatus::failed);
    runs.waiting = engine_->start("approval", boost::json::object{}).id;
    wait_for(runs.waiting, RunStatus::waiting);
    close_engine();
    return runs;
  }

  void expect_error(const ProgramResult& result, const std::string& stderr_text) {
    EXPECT_EQ(result.exit_code, 1) << result.err;
    EXPECT_EQ(result.out, "");
    EXPECT_EQ(result.err, stderr_text);
  }

  std::string dir_;
  std::string db_;
  std::atomic<bool> fix_b_{false};
  std::atomic<int> a_calls_{0};
  std::atomic<bool> spinning_{false};
  std::atomic<int64_t> cancel_seen_ms_{0};
  std::unique_ptr<Engine> engine_;
};

// ---- help and bad arguments ----

TEST_F(CliProgram, HelpPrintsUsageAndExitsZero) {
  for (std::vector<std::string> args : {std::vector<std::string>{"help"},
                                        {"--help"},
                                        {"-h"},
                                        {"--db", "nowhere.db", "list", "--help"}}) {
    args.insert(args.begin(), kCli);
    auto result = storyloom::testing::run_program(args);
    EXPECT_EQ(result.exit_code, 0) << args[1];
    EXPECT_EQ(result.out, usage_text()) << args[1];
    EXPECT_EQ(result.err, "") << args[1];
  }
}

TEST_F(CliProgram, BadArgumentsPrintAMessageAndUsageAndExitTwo) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::string db = "--db=" + db_;
  std::vector<Case> cases = {
      {{}, "missing command"},
      {{db}, "missing command"},
      {{db, "frobnicate"}, "unknown command 'frobnicate'"},
      {{"list"}, "missing --db PATH"},
      {{"status", "r1"}, "missing --db PATH"},
      {{"--db"}, "option --db needs a value"},
      {{db, "status"}, "missing RUN for 'status'"},
      {{db, "events"}, "missing RUN for 'events'"},
      {{db, "cancel"}, "missing RUN for 'cancel'"},
      {{db, "retry"}, "missing RUN for 'retry'"},
      {{db, "artifacts"}, "missing RUN for 'artifacts'"},
      {{db, "signal"}, "missing RUN for 'signal'"},
      {{db, "signal", "r1"}, "missing NAME for 'signal'"},
      {{db, "signal", "r1", "approve"}, "missing JSON for 'signal'"},
      {{db, "signal-many", "approve"}, "missing JSON for 'signal-many'"},
      {{db, "cancel", "r1", "r2"}, "unexpected argument 'r2' for 'cancel'"},
      {{db, "list", "--limit", "ten"}, "--limit expects a non-negative whole number, got 'ten'"},
      {{db, "list", "--limit=-3"}, "--limit expects a non-negative whole number, got '-3'"},
      {{db, "events", "r1", "--after", "1.5"},
       "--after expects a non-negative whole number, got '1.5'"},
      {{db, "list", "--status", "done"},
       "--status: 'done' is not a run status (queued, running, sleeping, waiting, completed, "
       "failed, "
       "cancelled)"},
      {{db, "list", "--bogus"}, "unknown option '--bogus' for 'list'"},
      {{db, "events", "r1", "--json"}, "unknown option '--json' for 'events'"},
      {{db, "--follow", "events", "r1"},
       "unknown option '--follow' (options of a command go after it)"},
      {{db, "list", "--sse=1"}, "unknown option '--sse' for 'list'"},
      {{db, "list", "--json=1"}, "option --json takes no value"},
      {{db, "list", "--owner"}, "option --owner needs a value"},
      {{db, "list", "--limit", "1", "--limit", "2"}, "option --limit given twice"},
      {{db, "signal", "r1", "approve", "{not json"},
       "signal payload is not valid JSON: syntax error"},
  };
  for (auto& c : cases) {
    c.args.insert(c.args.begin(), kCli);
    auto result = storyloom::testing::run_program(c.args);
    EXPECT_EQ(result.exit_code, 2) << c.message;
    EXPECT_EQ(result.out, "") << c.message;
    EXPECT_EQ(result.err, "storyloom: " + c.message + "\n\n" + usage_text()) << c.message;
  }
}

// ---- engine errors ----

TEST_F(CliProgram, UnknownRunIsNotFoundForEveryRunCommand) {
  make_runs();
  for (std::vector<std::string> args : {std::vector<std::string>{"status", "nope"},
                                        {"events", "nope"},
                                        {"events", "nope", "--follow"},
                                        {"cancel", "nope"},
                                        {"signal", "nope", "approve", "{}"},
                                        {"retry", "nope"},
                                        {"artifacts", "nope"}}) {
    auto result = cli(args);
    SCOPED_TRACE(args[0]);
    expect_error(result, "storyloom: not_found: no run with id 'nope'\n");
  }
}

TEST_F(CliProgram, ChangesToFinishedRunsAreInvalidState) {
  auto runs = make_runs();
  expect_error(cli({"cancel", runs.story}), "storyloom: invalid_state: run '" + runs.story +
                                                "' is already completed; it cannot be cancelled\n");
  expect_error(cli({"retry", runs.story}), "storyloom: invalid_state: run '" + runs.story +
                                               "' is completed; only failed runs can be retried\n");
  expect_error(cli({"retry", runs.waiting}), "storyloom: invalid_state: run '" + runs.waiting +
                                                 "' is waiting; only failed runs can be retried\n");
  expect_error(cli({"signal", runs.failed, "go", "1"}),
               "storyloom: invalid_state: run '" + runs.failed +
                   "' is already failed; signals can only be sent to unfinished runs\n");
}

TEST_F(CliProgram, ListArgumentsTheEngineRefusesAreInvalidArgument) {
  make_runs();
  expect_error(cli({"list", "--limit", "0"}),
               "storyloom: invalid_argument: limit must be between 1 and 1000, got 0\n");
  expect_error(
      cli({"list", "--after", "nope"}),
      "storyloom: invalid_argument: paging cursor 'nope' is not the id of an existing run\n");
}

TEST_F(CliProgram, AFileThatIsNotAStoreIsNotADatabase) {
  close_engine();
  std::string path = dir_ + "/notes.txt";
  std::ofstream(path) << "these are not the runs you are looking for\n";
  auto result = storyloom::testing::run_program({kCli, "--db", path, "list"});
  expect_error(result, "storyloom: not_a_database: store '" + path +
                           "' is not a storyloom database (not an SQLite file)\n");
}

TEST_F(CliProgram, AMissingFileIsNotFoundAndNotCreated) {
  close_engine();
  std::string path = dir_ + "/missing.db";
  for (const std::string& db : {path, "sqlite:" + path}) {
    auto result = storyloom::testing::run_program({kCli, "--db", db, "list"});
    expect_error(result, "storyloom: not_found: no storyloom database at '" + path +
                             "': the file does not exist (this tool never creates one)\n");
  }
  EXPECT_FALSE(std::filesystem::exists(path));
}

// ---- reading ----

TEST_F(CliProgram, ListPrintsOneLinePerRunOldestFirst) {
  auto runs = make_runs();
  auto result = cli({"list"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.err, "");
  auto lines = lines_of(result.out);
  ASSERT_EQ(lines.size(), 3u) << result.out;
  const std::string time = R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)";
  auto matches = [](const std::string& line, const std::string& pattern) {
    return std::regex_match(line, std::regex(pattern));
  };
  EXPECT_TRUE(matches(lines[0], runs.story + " +completed +story +alice +" + time)) << lines[0];
  EXPECT_TRUE(matches(lines[1], runs.failed + " +failed +flaky +bob +" + time)) << lines[1];
  EXPECT_TRUE(matches(lines[2], runs.waiting + " +waiting +approval +- +" + time)) << lines[2];
}

TEST_F(CliProgram, ListFilters) {
  auto runs = make_runs();
  auto failed = cli({"list", "--status", "failed"});
  ASSERT_EQ(failed.exit_code, 0) << failed.err;
  ASSERT_EQ(lines_of(failed.out).size(), 1u) << failed.out;
  EXPECT_EQ(lines_of(failed.out)[0].substr(0, runs.failed.size()), runs.failed);

  auto story = cli({"list", "--workflow", "story"});
  ASSERT_EQ(lines_of(story.out).size(), 1u) << story.out;
  EXPECT_EQ(lines_of(story.out)[0].substr(0, runs.story.size()), runs.story);

  auto bob = cli({"list", "--owner=bob"});
  ASSERT_EQ(lines_of(bob.out).size(), 1u) << bob.out;
  EXPECT_EQ(lines_of(bob.out)[0].substr(0, runs.failed.size()), runs.failed);

  auto none = cli({"list", "--status", "cancelled"});
  EXPECT_EQ(none.exit_code, 0);
  EXPECT_EQ(none.out, "");
}

TEST_F(CliProgram, ListPagesWithNextAndAfter) {
  auto runs = make_runs();
  auto first = cli({"list", "--limit", "2"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  auto lines = lines_of(first.out);
  ASSERT_EQ(lines.size(), 3u) << first.out;
  EXPECT_EQ(lines[0].substr(0, runs.story.size()), runs.story);
  EXPECT_EQ(lines[1].substr(0, runs.failed.size()), runs.failed);
  EXPECT_EQ(lines[2], "next: " + runs.failed);

  auto second = cli({"list", "--limit", "2", "--after", runs.failed});
  ASSERT_EQ(second.exit_code, 0) << second.err;
  lines = lines_of(second.out);
  ASSERT_EQ(lines.size(), 1u) << second.out;  // a short page: no "next:"
  EXPECT_EQ(lines[0].substr(0, runs.waiting.size()), runs.waiting);
}

TEST_F(CliProgram, ListJsonPrintsTheRunPage) {
  auto runs = make_runs();
  auto result = cli({"list", "--json", "--limit", "2"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  Json page = parse_json(result.out, "list --json");
  ASSERT_EQ(page.at("runs").as_array().size(), 2u);
  EXPECT_EQ(page.at("runs").at(0).at("id").as_string(), runs.story);
  EXPECT_EQ(page.at("runs").at(0).at("status").as_string(), "completed");
  EXPECT_EQ(page.at("runs").at(0).at("owner").as_string(), "alice");
  EXPECT_EQ(page.at("runs").at(1).at("error").at("message").as_string(), "boom");
  EXPECT_EQ(page.at("next_cursor").as_string(), runs.failed);

  auto rest = cli({"list", "--json", "--after", runs.failed});
  Json last = parse_json(rest.out, "list --json");
  ASSERT_EQ(last.at("runs").as_array().size(), 1u);
  EXPECT_EQ(last.at("next_cursor").as_string(), "");
}

TEST_F(CliProgram, StatusPrintsTheRunAndItsStepsAsPrettyJson) {
  auto runs = make_runs();
  auto result = cli({"status", runs.story});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out.substr(0, 10), "{\n  \"id\": ");
  Json run = parse_json(result.out, "status");
  EXPECT_EQ(run.at("id").as_string(), runs.story);
  EXPECT_EQ(run.at("workflow").as_string(), "story");
  EXPECT_EQ(run.at("status").as_string(), "completed");
  EXPECT_EQ(to_json_text(run.at("input")), R"({"pages":1})");
  EXPECT_EQ(to_json_text(run.at("output")), R"({"title":"The Fox","pages":["Once upon a time"]})");
  EXPECT_TRUE(run.at("error").is_null());
  EXPECT_EQ(to_json_text(run.at("progress")), R"({"page":1,"of":1})");
  EXPECT_EQ(run.at("owner").as_string(), "alice");
  EXPECT_EQ(run.at("priority").as_int64(), 0);
  EXPECT_GT(run.at("created_at_ms").as_int64(), 0);
  EXPECT_GE(run.at("finished_at_ms").as_int64(), run.at("created_at_ms").as_int64());
  EXPECT_GT(run.at("last_event_id").as_int64(), 0);
  const auto& steps = run.at("steps").as_array();
  ASSERT_EQ(steps.size(), 2u);
  EXPECT_EQ(steps[0].at("name").as_string(), "outline");
  EXPECT_EQ(steps[0].at("kind").as_string(), "step");
  EXPECT_EQ(steps[0].at("status").as_string(), "completed");
  EXPECT_EQ(to_json_text(steps[0].at("result")), R"({"title":"The Fox"})");
  EXPECT_EQ(steps[1].at("name").as_string(), "page-1");

  auto failed = parse_json(cli({"status", runs.failed}).out, "status");
  EXPECT_EQ(failed.at("status").as_string(), "failed");
  EXPECT_EQ(failed.at("error").at("code").as_string(), "step_failed");
  EXPECT_EQ(failed.at("error").at("message").as_string(), "boom");
  EXPECT_EQ(failed.at("error").at("step").as_string(), "b");
  EXPECT_TRUE(failed.at("finished_at_ms").as_int64() > 0);

  auto waiting = parse_json(cli({"status", runs.waiting}).out, "status");
  EXPECT_EQ(waiting.at("status").as_string(), "waiting");
  EXPECT_EQ(waiting.at("finished_at_ms").as_int64(), 0);
  ASSERT_EQ(waiting.at("steps").as_array().size(), 1u);
  EXPECT_EQ(waiting.at("steps").at(0).at("kind").as_string(), "signal");
  EXPECT_EQ(waiting.at("steps").at(0).at("status").as_string(), "pending");
}

TEST_F(CliProgram, EventsPrintsStoredEventsAsJsonLines) {
  auto runs = make_runs();
  auto result = cli({"events", runs.story});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.err, "");
  auto events = json_lines(result.out);
  ASSERT_GE(events.size(), 5u) << result.out;
  int64_t previous = 0;
  for (const auto& e : events) {
    ASSERT_EQ(e.as_object().size(), 3u) << to_json_text(e);  // id, type, data
    EXPECT_GT(e.at("id").as_int64(), previous);
    previous = e.at("id").as_int64();
    EXPECT_TRUE(e.at("data").is_object());
  }
  auto types = types_of(events);
  EXPECT_EQ(types.front(), "run.created");
  EXPECT_EQ(types.back(), "run.completed");
  for (const char* type :
       {"run.started", "step.completed", "artifact", "progress", "note", "chunk"}) {
    EXPECT_TRUE(contains(types, type)) << type << " missing from\n" << result.out;
  }
  std::string chunk_text;
  for (const auto& e : events) {
    if (e.at("type") == "chunk") chunk_text += e.at("data").at("text").as_string().c_str();
  }
  EXPECT_EQ(chunk_text, "Once upon\na time");

  // --after skips what came before; the ids match the full listing.
  int64_t third = events[2].at("id").as_int64();
  auto later = cli({"events", runs.story, "--after", std::to_string(third)});
  ASSERT_EQ(later.exit_code, 0) << later.err;
  auto rest = json_lines(later.out);
  ASSERT_EQ(rest.size(), events.size() - 3);
  EXPECT_EQ(to_json_text(rest.front()), to_json_text(events[3]));

  auto after_end = cli({"events", runs.story, "--after", std::to_string(previous)});
  EXPECT_EQ(after_end.exit_code, 0);
  EXPECT_EQ(after_end.out, "");
}

TEST_F(CliProgram, EventsSsePrintsTheWireFormat) {
  auto runs = make_runs();
  auto json = json_lines(cli({"events", runs.story}).out);
  auto result = cli({"events", runs.story, "--sse"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  // One block per event: "id: N\nevent: TYPE\ndata: JSON\n\n".
  std::string expected;
  for (const auto& e : json) {
    expected += "id: " + std::to_string(e.at("id").as_int64()) + "\n";
    expected += "event: " + std::string(e.at("type").as_string()) + "\n";
    expected += "data: " + to_json_text(e.at("data")) + "\n\n";
  }
  EXPECT_EQ(result.out, expected);
  EXPECT_EQ(result.out.substr(0, 4), "id: ");
}

TEST_F(CliProgram, ArtifactsPrintsEveryVersion) {
  auto runs = make_runs();
  auto result = cli({"artifacts", runs.story});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  auto lines = json_lines(result.out);
  ASSERT_EQ(lines.size(), 3u) << result.out;
  std::vector<std::string> seen;
  for (const auto& a : lines) {
    ASSERT_EQ(a.as_object().size(), 4u);
    EXPECT_GT(a.at("created_at_ms").as_int64(), 0);
    seen.push_back(std::string(a.at("key").as_string()) + "@" +
                   std::to_string(a.at("version").as_int64()) + "=" + to_json_text(a.at("value")));
  }
  EXPECT_EQ(seen, (std::vector<std::string>{R"(outline@1={"v":1})", R"(outline@2={"v":2})",
                                            R"(page-1@1="Once upon a time")"}));

  auto none = cli({"artifacts", runs.waiting});
  EXPECT_EQ(none.exit_code, 0);
  EXPECT_EQ(none.out, "");
}

// ---- changing runs that an engine in this process executes ----

TEST_F(CliProgram, SignalResumesARunTheEngineIsWaitingOn) {
  auto id = engine_->start("approval", boost::json::object{}).id;
  wait_for(id, RunStatus::waiting);
  auto result = cli({"signal", id, "approve", R"({"ok":true,"by":"ed"})"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, "sent signal 'approve' to run " + id + "\n");
  EXPECT_EQ(result.err, "");
  auto run = wait_for(id, RunStatus::completed);
  EXPECT_EQ(to_json_text(run.output), R"({"approved":{"ok":true,"by":"ed"}})");
}

TEST_F(CliProgram, SignalManyWakesEveryListedRunAndNamesEachRefusal) {
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(engine_->start("approval", boost::json::object{}).id);
  for (const auto& id : ids) wait_for(id, RunStatus::waiting);
  auto file = dir_ + "/runs.txt";
  {
    std::ofstream out(file);
    out << "# waiting approvals\n";
    for (const auto& id : ids) out << "  " << id << "\r\n";
    out << "\nnope\n";
  }
  auto result = cli({"signal-many", "approve", R"({"ok":1})", "--runs", file});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, "refused nope: no run with id 'nope'\nsent signal 'approve' to 5 runs; 1 refused\n");
  for (const auto& id : ids) {
    EXPECT_EQ(to_json_text(wait_for(id, RunStatus::completed).output), R"({"approved":{"ok":1}})");
  }
  expect_error(cli({"signal-many", "approve", "1", "--runs", dir_ + "/missing.txt"}),
               "storyloom: not_found: cannot read run ids from '" + dir_ + "/missing.txt'\n");
}

TEST_F(CliProgram, SignalWithOtherNameIsKeptInTheMailbox) {
  auto id = engine_->start("approval", boost::json::object{}).id;
  wait_for(id, RunStatus::waiting);
  auto result = cli({"signal", id, "unrelated", "42"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(engine_->get(id).status, RunStatus::waiting);
  auto events = engine_->events(id, 0);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().type, "signal.received");
  EXPECT_EQ(to_json_text(events.back().data), R"({"name":"unrelated","payload":42})");
}

TEST_F(CliProgram, CancelOfAWaitingRunIsNoticedByTheEngine) {
  auto id = engine_->start("approval", boost::json::object{}).id;
  wait_for(id, RunStatus::waiting);
  std::atomic<int64_t> noticed_ms{0};
  auto subscription =
      engine_->subscribe(id, engine_->snapshot(id).last_event_id, [&](const Event& e) {
        if (e.type == "run.cancelled") noticed_ms = system_now_ms();
      });
  auto result = cli({"cancel", id});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, "cancelled run " + id + "\n");
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (noticed_ms == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(1ms);
  ASSERT_NE(noticed_ms.load(), 0) << "the engine never published run.cancelled";
  auto events = engine_->events(id, 0);
  ASSERT_EQ(events.back().type, "run.cancelled");
  int64_t latency = noticed_ms - events.back().created_at_ms;
  std::printf("[ cli ] cancel of a waiting run: engine notice %lld ms after the commit\n",
              static_cast<long long>(latency));
  EXPECT_LT(latency, 2000);
  EXPECT_EQ(engine_->get(id).status, RunStatus::cancelled);
}

TEST_F(CliProgram, CancelOfARunningRunStopsItsStep) {
  auto id = engine_->start("spin", boost::json::object{}).id;
  wait_for(id, RunStatus::running);
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!spinning_ && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(1ms);
  ASSERT_TRUE(spinning_);
  auto result = cli({"cancel", id});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, "cancelled run " + id + "\n");
  deadline = std::chrono::steady_clock::now() + 5s;
  while (cancel_seen_ms_ == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(1ms);
  }
  ASSERT_NE(cancel_seen_ms_.load(), 0) << "ctx.cancelled() never became true";
  int64_t committed_ms = 0;
  for (const auto& e : engine_->events(id, 0)) {
    if (e.type == "run.cancelled") committed_ms = e.created_at_ms;
  }
  ASSERT_NE(committed_ms, 0);
  int64_t latency = cancel_seen_ms_ - committed_ms;
  std::printf("[ cli ] cancel of a running run: ctx.cancelled() %lld ms after the commit\n",
              static_cast<long long>(latency));
  EXPECT_LT(latency, 2000);
  // The run stays cancelled after its execution ends.
  close_engine();
  open_engine();
  EXPECT_EQ(engine_->get(id).status, RunStatus::cancelled);
}

TEST_F(CliProgram, RetryOfAFailedRunRunsOnlyTheFailedStep) {
  auto id = engine_->start("flaky", boost::json::object{}).id;
  auto failed = wait_for(id, RunStatus::failed);
  EXPECT_EQ(failed.error.at("message").as_string(), "boom");
  EXPECT_EQ(a_calls_.load(), 1);
  fix_b_ = true;
  auto result = cli({"retry", id});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, "queued run " + id + " again (completed steps are kept)\n");
  auto run = wait_for(id, RunStatus::completed);
  EXPECT_EQ(to_json_text(run.output), R"({"a":"a-ok","b":"b-ok"})");
  EXPECT_EQ(a_calls_.load(), 1);  // step a was memoized
}

TEST_F(CliProgram, RetryFailedRetriesEveryMatchingFailedRun) {
  auto first = engine_->start("flaky", boost::json::object{}).id;
  auto second = engine_->start("flaky", boost::json::object{}).id;
  wait_for(first, RunStatus::failed);
  wait_for(second, RunStatus::failed);
  fix_b_ = true;
  auto result = cli({"retry", "--failed", "--workflow", "flaky"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, "queued 2 failed runs again (completed steps are kept)\n");
  EXPECT_EQ(wait_for(first, RunStatus::completed).status, RunStatus::completed);
  EXPECT_EQ(wait_for(second, RunStatus::completed).status, RunStatus::completed);
  auto none = cli({"retry", "--failed", "--workflow", "flaky"});
  EXPECT_EQ(none.out, "queued 0 failed runs again (completed steps are kept)\n");
}

// ---- following ----

TEST_F(CliProgram, FollowEndsWhenTheRunCompletes) {
  auto id = engine_->start("approval", boost::json::object{}).id;
  wait_for(id, RunStatus::waiting);
  auto follow = spawn_cli({"events", id, "--follow"});
  ASSERT_TRUE(follow->read_until(
      [](const std::string& out) { return out.find("\"run.started\"") != std::string::npos; }, 10s))
      << follow->out() << follow->err();
  EXPECT_FALSE(follow->exited());
  engine_->signal(id, "approve", Json("yes"));
  ASSERT_TRUE(follow->wait(10s)) << "--follow did not end with the run:\n" << follow->out();
  EXPECT_EQ(follow->exit_code(), 0) << follow->err();
  EXPECT_EQ(follow->err(), "");
  auto events = json_lines(follow->out());
  auto types = types_of(events);
  EXPECT_EQ(types.front(), "run.created");
  EXPECT_EQ(types.back(), "run.completed");
  EXPECT_TRUE(contains(types, "signal.received"));
  EXPECT_TRUE(contains(types, "run.resumed"));
  // No gap and no duplicate: the same events as the stored listing.
  EXPECT_EQ(follow->out(), cli({"events", id}).out);
}

TEST_F(CliProgram, FollowSseEndsWhenTheRunIsCancelled) {
  auto id = engine_->start("approval", boost::json::object{}).id;
  wait_for(id, RunStatus::waiting);
  auto follow = spawn_cli({"events", id, "--follow", "--sse"});
  ASSERT_TRUE(follow->read_until(
      [](const std::string& out) { return out.find("event: run.started\n") != std::string::npos; },
      10s))
      << follow->out() << follow->err();
  engine_->cancel(id);
  ASSERT_TRUE(follow->wait(10s)) << follow->out();
  EXPECT_EQ(follow->exit_code(), 0) << follow->err();
  const std::string& out = follow->out();
  EXPECT_EQ(out.substr(0, 4), "id: ");
  std::string tail = "event: run.cancelled\ndata: {}\n\n";
  ASSERT_GE(out.size(), tail.size());
  EXPECT_EQ(out.substr(out.size() - tail.size()), tail);
  EXPECT_EQ(out, cli({"events", id, "--sse"}).out);
}

TEST_F(CliProgram, FollowOfAFinishedRunPrintsItsEventsAndExits) {
  auto runs = make_runs();
  auto stored = cli({"events", runs.story});
  auto followed = cli({"events", runs.story, "--follow"});
  EXPECT_EQ(followed.exit_code, 0) << followed.err;
  EXPECT_EQ(followed.out, stored.out);

  auto failed = cli({"events", runs.failed, "--follow"});
  EXPECT_EQ(failed.exit_code, 0) << failed.err;
  EXPECT_EQ(types_of(json_lines(failed.out)).back(), "run.failed");

  int64_t last = json_lines(stored.out).back().at("id").as_int64();
  auto after_end = cli({"events", runs.story, "--follow", "--after", std::to_string(last)});
  EXPECT_EQ(after_end.exit_code, 0) << after_end.err;
  EXPECT_EQ(after_end.out, "");
}

TEST_F(CliProgram, FollowOfARetriedRunGoesPastTheEarlierFailure) {
  auto id = engine_->start("flaky", boost::json::object{{"wait", true}}).id;
  wait_for(id, RunStatus::failed);
  fix_b_ = true;
  engine_->retry(id);
  wait_for(id, RunStatus::waiting);
  auto follow = spawn_cli({"events", id, "--follow"});
  ASSERT_TRUE(follow->read_until(
      [](const std::string& out) { return out.find("\"run.retried\"") != std::string::npos; }, 10s))
      << follow->out() << follow->err();
  engine_->signal(id, "go", Json(1));
  ASSERT_TRUE(follow->wait(10s)) << follow->out();
  EXPECT_EQ(follow->exit_code(), 0) << follow->err();
  auto types = types_of(json_lines(follow->out()));
  EXPECT_TRUE(contains(types, "run.failed"));
  EXPECT_EQ(types.back(), "run.completed");
}

TEST_F(CliProgram, FollowStopsOnSigintAndSigterm) {
  auto id = engine_->start("approval", boost::json::object{}).id;
  wait_for(id, RunStatus::waiting);
  for (int sig : {SIGINT, SIGTERM}) {
    auto follow = spawn_cli({"events", id, "--follow"});
    // Output means the subscription (and so the signal handlers) are in place.
    ASSERT_TRUE(follow->read_until(
        [](const std::string& out) { return out.find("\"run.waiting\"") != std::string::npos; },
        10s))
        << follow->out() << follow->err();
    follow->send_signal(sig);
    auto sent = std::chrono::steady_clock::now();
    ASSERT_TRUE(follow->wait(5s)) << "signal " << sig << " did not stop --follow";
    auto took = std::chrono::duration_cast<std::chrono::milliseconds>(follow->exited_at() - sent);
    EXPECT_EQ(follow->exit_code(), 0) << "signal " << sig << ": " << follow->err();
    EXPECT_LT(took.count(), 2000);
    EXPECT_EQ(follow->out(), cli({"events", id}).out);
  }
  EXPECT_EQ(engine_->get(id).status, RunStatus::waiting);
}

TEST_F(CliProgram, CommandsWorkWhileAnotherEngineHasTheStoreOpen) {
  auto id = engine_->start("story", boost::json::object{{"pages", 1}}).id;
  wait_for(id, RunStatus::completed);
  auto list = cli({"list"});
  EXPECT_EQ(list.exit_code, 0) << list.err;
  EXPECT_EQ(lines_of(list.out).size(), 1u);
  auto status = cli({"status", id});
  EXPECT_EQ(status.exit_code, 0) << status.err;
  EXPECT_EQ(parse_json(status.out, "status").at("status").as_string(), "completed");
}

}  // namespace

// ---- scheduling ----

TEST_F(CliProgram, CancelByWorkflowCancelsItsUnfinishedRuns) {
  auto a = engine_->start("approval", boost::json::object{}).id;
  auto b = engine_->start("approval", boost::json::object{}).id;
  auto story = engine_->start("story", boost::json::object{}).id;
  wait_for(a, RunStatus::waiting);
  wait_for(b, RunStatus::waiting);
  wait_for(story, RunStatus::completed);
  auto result = cli({"cancel", "--workflow", "approval", "--status", "waiting"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, "cancelled 2 runs\n" + a + "\n" + b + "\n");
  EXPECT_EQ(engine_->get(a).status, RunStatus::cancelled);
  EXPECT_EQ(engine_->get(story).status, RunStatus::completed);
  auto finished = cli({"cancel", "--workflow", "story", "--status", "completed"});
  expect_error(finished, "storyloom: invalid_argument: cancel by filter takes unfinished runs only; "
                         "the filter asks for completed runs\n");
}

TEST_F(CliProgram, RewindRunsTheStepAgainAndPriorityNeedsAQueuedRun) {
  fix_b_ = true;
  auto id = engine_->start("flaky", boost::json::object{}).id;
  wait_for(id, RunStatus::completed);
  auto result = cli({"rewind", id, "a"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, "rewound run " + id + " to step 'a' (that step and every later one run again)\n");
  wait_for(id, RunStatus::completed);
  EXPECT_EQ(a_calls_.load(), 2);
  expect_error(cli({"priority", id, "3"}),
               "storyloom: invalid_state: run '" + id +
                   "' is completed; its priority can only be changed while it is queued\n");
  expect_error(cli({"rewind", id, "zzz"}),
               "storyloom: not_found: run '" + id + "' has no step named 'zzz'\n");
}

TEST_F(CliProgram, ControlCharactersInStoredTextNeverReachTheTerminal) {
  // Stored before owners were checked (or written by hand): the API refuses them now.
  auto run = engine_->start("story", boost::json::object{}, {"", "mallory", 0});
  close_engine();
  {
    SQLite::Database db(db_, SQLite::OPEN_READWRITE);
    SQLite::Statement q(db, "UPDATE runs SET owner = ? WHERE id = ?");
    q.bind(1, "mal\x1b]0;pwned\x07lory\x1b[2J");
    q.bind(2, run.id);
    ASSERT_EQ(q.exec(), 1);
  }
  auto list = cli({"list"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_EQ(list.out.find('\x1b'), std::string::npos) << list.out;
  EXPECT_EQ(list.out.find('\x07'), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("mal\\u001b]0;pwned\\u0007lory\\u001b[2J"), std::string::npos) << list.out;
  auto status = cli({"status", run.id});
  ASSERT_EQ(status.exit_code, 0) << status.err;
  EXPECT_EQ(status.out.find('\x1b'), std::string::npos) << status.out;
  // Errors too: an argument echoed in a message is escaped.
  auto missing = cli({"status", "ghost\x1b[2J"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_EQ(missing.err.find('\x1b'), std::string::npos) << missing.err;
  EXPECT_NE(missing.err.find("ghost\\u001b[2J"), std::string::npos) << missing.err;
}


namespace {

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::vector<std::string> dir_entries(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

TEST_F(CliProgram, ReadCommandsWorkOnAReadOnlyStoreAndNeverWrite) {
  Runs runs = make_runs();
  namespace fs = std::filesystem;
  fs::permissions(db_, fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read);
  fs::permissions(dir_, fs::perms::owner_read | fs::perms::owner_exec | fs::perms::group_read |
                            fs::perms::group_exec | fs::perms::others_read | fs::perms::others_exec);
  // As root the permission bits stop nothing, so the test also checks that
  // not one byte and not one file changed.
  const std::string before = file_bytes(db_);
  const auto entries = dir_entries(dir_);

  auto list = cli({"list"});
  EXPECT_EQ(list.exit_code, 0) << list.err;
  EXPECT_EQ(lines_of(list.out).size(), 3u) << list.out;
  auto status = cli({"status", runs.story});
  EXPECT_EQ(status.exit_code, 0) << status.err;
  EXPECT_NE(status.out.find("\"status\": \"completed\""), std::string::npos) << status.out;
  auto events = cli({"events", runs.story});
  EXPECT_EQ(events.exit_code, 0) << events.err;
  EXPECT_TRUE(contains(types_of(json_lines(events.out)), "run.completed")) << events.out;
  auto artifacts = cli({"artifacts", runs.story});
  EXPECT_EQ(artifacts.exit_code, 0) << artifacts.err;
  EXPECT_EQ(json_lines(artifacts.out).size(), 3u) << artifacts.out;

  EXPECT_TRUE(file_bytes(db_) == before) << "the store file changed";
  // Where it may (root ignores the mode bits), SQLite's read-only connection
  // opens the WAL index (-shm) and an empty -wal; nothing is written to them.
  for (const auto& name : dir_entries(dir_)) {
    if (std::find(entries.begin(), entries.end(), name) != entries.end()) continue;
    EXPECT_TRUE(name == "store.db-shm" || name == "store.db-wal") << name;
    if (name == "store.db-wal") {
      EXPECT_EQ(fs::file_size(dir_ + "/" + name), 0u);
    }
  }
  fs::permissions(dir_, fs::perms::owner_all);
  fs::permissions(db_, fs::perms::owner_read | fs::perms::owner_write);
}

// A real read-only file system and a real full disk: a small tmpfs, filled,
// then remounted read-only. Needs the privilege to mount (root in CI); skipped
// otherwise.
TEST_F(CliProgram, ReadCommandsWorkOnAFullDiskAndAReadOnlyMount) {
  const std::string mnt = dir_ + "/mnt";
  std::filesystem::create_directory(mnt);
  if (std::system(("mount -t tmpfs -o size=4m tmpfs " + mnt + " 2>/dev/null").c_str()) != 0) {
    GTEST_SKIP() << "cannot mount a tmpfs here (needs root)";
  }
  struct Unmount {
    std::string path;
    ~Unmount() { (void)std::system(("umount " + path + " 2>/dev/null").c_str()); }
  } unmount{mnt};
  close_engine();
  db_ = mnt + "/store.db";
  open_engine();
  Runs runs = make_runs();
  // Fill the disk to the last byte.
  (void)std::system(("dd if=/dev/zero of=" + mnt + "/fill bs=4k 2>/dev/null").c_str());
  auto check_reads = [&](const std::string& when) {
    auto list = cli({"list"});
    EXPECT_EQ(list.exit_code, 0) << when << ": " << list.err;
    EXPECT_EQ(lines_of(list.out).size(), 3u) << when << ": " << list.out;
    auto status = cli({"status", runs.failed});
    EXPECT_EQ(status.exit_code, 0) << when << ": " << status.err;
    auto events = cli({"events", runs.story});
    EXPECT_EQ(events.exit_code, 0) << when << ": " << events.err;
    auto artifacts = cli({"artifacts", runs.story});
    EXPECT_EQ(artifacts.exit_code, 0) << when << ": " << artifacts.err;
  };
  check_reads("full disk");
  ASSERT_EQ(std::system(("mount -o remount,ro " + mnt).c_str()), 0);
  check_reads("read-only mount");
  // A command that writes says why it cannot.
  auto cancel = cli({"cancel", runs.waiting});
  EXPECT_EQ(cancel.exit_code, 1);
  EXPECT_NE(cancel.err.find("storyloom: store: "), std::string::npos) << cancel.err;
}

TEST_F(CliProgram, AnUnreadableRunCanBeRemovedAndRetryingItSaysHow) {
  Runs runs = make_runs();
  {
    SQLite::Database db(db_, SQLite::OPEN_READWRITE);
    // A failed run whose error is corrupted, and a waiting run whose input is.
    SQLite::Statement error(db, "UPDATE runs SET error = '{\"code\":' WHERE id = ?");
    error.bind(1, runs.failed);
    ASSERT_EQ(error.exec(), 1);
    SQLite::Statement input(db, "UPDATE runs SET input = 'not json' WHERE id = ?");
    input.bind(1, runs.waiting);
    ASSERT_EQ(input.exec(), 1);
  }
  auto retry = cli({"retry", runs.failed});
  expect_error(retry, "storyloom: store: run '" + runs.failed +
                          "' cannot be read from the store: stored error is not valid JSON "
                          "(incomplete JSON); it cannot be retried (its input or state is "
                          "unknown): `storyloom remove " +
                          runs.failed + "` deletes it\n");
  auto removed = cli({"remove", runs.failed});
  EXPECT_EQ(removed.exit_code, 0) << removed.err;
  EXPECT_EQ(removed.out, "removed run " + runs.failed +
                             " with its steps, events, artifacts and child runs (its stored row "
                             "could not be read: stored error is not valid JSON (incomplete "
                             "JSON))\n");
  // Unreadable and waiting: removed all the same (nothing could ever resume it).
  auto waiting = cli({"remove", runs.waiting});
  EXPECT_EQ(waiting.exit_code, 0) << waiting.err;
  EXPECT_NE(waiting.out.find("(its stored row could not be read: stored input is not valid JSON"),
            std::string::npos)
      << waiting.out;
  // A readable run is removed only once finished, and then without the remark.
  auto story = cli({"remove", runs.story});
  EXPECT_EQ(story.exit_code, 0) << story.err;
  EXPECT_EQ(story.out,
            "removed run " + runs.story + " with its steps, events, artifacts and child runs\n");
  auto list = cli({"list"});
  EXPECT_EQ(list.exit_code, 0) << list.err;
  EXPECT_EQ(list.out, "");
  expect_error(cli({"remove", runs.story}),
               "storyloom: not_found: no run with id '" + runs.story + "'\n");
}

TEST_F(CliProgram, RemoveRefusesAnUnfinishedRun) {
  Runs runs = make_runs();
  expect_error(cli({"remove", runs.waiting}),
               "storyloom: invalid_state: run '" + runs.waiting +
                   "' is waiting; only finished runs can be deleted (cancel it first)\n");
}

TEST_F(CliProgram, AnUnreadableRunIsListedMarkedAndSkippedByRetry) {
  Runs runs = make_runs();
  {
    SQLite::Database db(db_, SQLite::OPEN_READWRITE);
    SQLite::Statement q(db, "UPDATE runs SET error = '{\"code\":' WHERE id = ?");
    q.bind(1, runs.failed);
    ASSERT_EQ(q.exec(), 1);
  }
  auto list = cli({"list"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  auto lines = lines_of(list.out);
  ASSERT_EQ(lines.size(), 3u) << list.out;
  EXPECT_NE(lines[1].find(runs.failed), std::string::npos) << list.out;
  EXPECT_NE(lines[1].find("UNREADABLE: stored error is not valid JSON (incomplete JSON)"),
            std::string::npos)
      << list.out;
  EXPECT_EQ(lines[0].find("UNREADABLE"), std::string::npos) << list.out;
  auto status = cli({"status", runs.failed});
  EXPECT_EQ(status.exit_code, 1);
  EXPECT_EQ(status.err, "storyloom: store: run '" + runs.failed +
                            "' cannot be read from the store: stored error is not valid JSON "
                            "(incomplete JSON)\n");
  auto retry = cli({"retry", "--failed"});
  EXPECT_EQ(retry.exit_code, 0) << retry.err;
  EXPECT_EQ(retry.out, "queued 0 failed runs again (completed steps are kept)\nskipped run " +
                           runs.failed +
                           ": its stored row cannot be read (see `storyloom list`)\n");
}

