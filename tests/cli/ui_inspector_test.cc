// The inspector's JSON API (tools/cli/ui/inspector.cc) called directly: reads
// over a store an engine wrote, actions refused when read-only, and every bad
// parameter answered with a 4xx naming it.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <functional>
#include <future>
#include <thread>

#include "inspector.h"
#include "args.h"
#include "query_params.h"
#include "ui_command.h"
#include "storyloom/engine.h"

using namespace storyloom;
using storyloom::cli::ui::ApiRequest;
using storyloom::cli::ui::ApiResponse;
using storyloom::cli::ui::Inspector;

namespace {

class InspectorApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("storyloom-ui-test-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
            "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    store_ = (dir_ / "s.db").string();
    EngineOptions options;
    options.store = store_;
    auto engine = Engine::open(options);
    engine->register_workflow("story", [](Context&, const Json&) -> Json { return nullptr; });
    for (int i = 0; i < 3; ++i) {
      StartOptions o;
      o.idempotency_key = "key-" + std::to_string(i);
      o.owner = i == 0 ? "ada" : "bob";
      ids_.push_back(engine->start("story", boost::json::object{{"n", i}}, o).id);
    }
    engine->close();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  Inspector read_only() { return Inspector(StoreReader::open(store_), nullptr); }

  static Json body(const ApiResponse& r) { return boost::json::parse(r.body); }
  static std::string error(const ApiResponse& r) {
    return std::string(body(r).at("error").as_string());
  }

  std::filesystem::path dir_;
  std::string store_;
  std::vector<std::string> ids_;
};

TEST_F(InspectorApiTest, ListsPagesAndFilters) {
  Inspector inspector = read_only();
  auto r = inspector.handle({"GET", "/api/runs?limit=2", "", ""});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(body(r).at("runs").as_array().size(), 2u);
  std::string cursor(body(r).at("next_cursor").as_string());
  r = inspector.handle({"GET", "/api/runs?limit=2&cursor=" + cursor, "", ""});
  ASSERT_EQ(body(r).at("runs").as_array().size(), 1u);
  EXPECT_EQ(body(r).at("runs").at(0).at("id").as_string(), ids_[2]);
  r = inspector.handle({"GET", "/api/runs?owner=ada", "", ""});
  ASSERT_EQ(body(r).at("runs").as_array().size(), 1u);
  EXPECT_EQ(body(r).at("runs").at(0).at("id").as_string(), ids_[0]);
}

TEST_F(InspectorApiTest, SearchFindsARunByIdOrIdempotencyKey) {
  Inspector inspector = read_only();
  auto r = inspector.handle({"GET", "/api/runs?q=key-1", "", ""});
  ASSERT_EQ(body(r).at("runs").as_array().size(), 1u);
  EXPECT_EQ(body(r).at("runs").at(0).at("id").as_string(), ids_[1]);
  r = inspector.handle({"GET", "/api/runs?q=" + ids_[2], "", ""});
  EXPECT_EQ(body(r).at("runs").at(0).at("id").as_string(), ids_[2]);
  r = inspector.handle({"GET", "/api/runs?q=nothing%20here", "", ""});
  EXPECT_TRUE(body(r).at("runs").as_array().empty());
}

TEST_F(InspectorApiTest, RunDetailHasChildrenAndStreamText) {
  Inspector inspector = read_only();
  auto r = inspector.handle({"GET", "/api/runs/" + ids_[0], "", ""});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(body(r).at("run").at("id").as_string(), ids_[0]);
  EXPECT_TRUE(body(r).at("children").as_array().empty());
  EXPECT_TRUE(body(r).at("stream_text").as_object().empty());
}

TEST_F(InspectorApiTest, BadParametersAre400sNamingThem) {
  Inspector inspector = read_only();
  struct Case {
    std::string target;
    int status;
    std::string message;
  };
  for (const auto& c : std::vector<Case>{
           {"/api/runs?limit=abc", 400, "limit must be a whole number, got 'abc'"},
           {"/api/runs?limit=1001", 400, "limit must be between 1 and 1000, got 1001"},
           {"/api/runs?error_class=oops", 400, "error_class must be retryable, fatal, rate_limited or timeout, got 'oops'"},
           {"/api/runs?colour=red", 400, "unknown query parameter 'colour'"},
           {"/api/runs?limit=1&limit=2", 400, "query parameter 'limit' given twice"},
           {"/api/runs?q=%4", 400, "q: bad percent escape in '%4'"},
           {"/api/runs?finished_after=-5", 400, "finished_after must be between 0 and"},
           {"/api/runs/nope", 404, "no run with id 'nope'"},
           {"/api/runs/%01x", 400, "run id has a control character"},
           {"/api/runs/" + ids_[0] + "/events?after=1.5", 400, "after must be a whole number, got '1.5'"},
           {"/api/nothing", 404, "no such API route: /api/nothing"},
       }) {
    auto r = inspector.handle({"GET", c.target, "", ""});
    EXPECT_EQ(r.status, c.status) << c.target << ": " << r.body;
    EXPECT_NE(error(r).find(c.message), std::string::npos) << c.target << ": " << error(r);
  }
}

TEST_F(InspectorApiTest, ReadOnlyRefusesEveryAction) {
  Inspector inspector = read_only();
  for (std::string action : {"cancel", "retry", "rewind", "signal", "priority"}) {
    auto r = inspector.handle({"POST", "/api/runs/" + ids_[0] + "/" + action, "application/json", "{}"});
    EXPECT_EQ(r.status, 403) << action;
    EXPECT_EQ(error(r), "the inspector is read-only (--read-only): " + action + " is refused");
  }
  auto r = inspector.handle({"POST", "/api/dead-letter/retry", "application/json", "{}"});
  EXPECT_EQ(r.status, 403);
}

TEST_F(InspectorApiTest, ActionsChangeTheStoreAndCheckTheirBodies) {
  EngineOptions options;
  options.store = store_;
  Inspector inspector(StoreReader::open(store_), Engine::open(options));
  std::string base = "/api/runs/" + ids_[1];
  auto r = inspector.handle({"POST", base + "/priority", "application/json", R"({"priority": 7})"});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(body(r).at("run").at("priority").as_int64(), 7);
  r = inspector.handle({"POST", base + "/priority", "application/json", R"({"priority": "high"})"});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(error(r), "field 'priority' must be a whole number");
  r = inspector.handle({"POST", base + "/signal", "application/json", R"({"name": "ok", "payload": {"a": 1}})"});
  EXPECT_EQ(r.status, 200) << r.body;
  r = inspector.handle({"POST", base + "/signal", "application/json", R"({"payload": 1})"});
  EXPECT_EQ(error(r), "missing field 'name'");
  r = inspector.handle({"POST", base + "/signal", "application/json", R"({"name": "x", "extra": 1})"});
  EXPECT_EQ(error(r), "unknown field 'extra'");
  r = inspector.handle({"POST", base + "/signal", "application/json", "[1]"});
  EXPECT_EQ(error(r), "request body must be a JSON object");
  r = inspector.handle({"POST", base + "/cancel", "text/plain", "x"});
  EXPECT_EQ(r.status, 415);
  r = inspector.handle({"POST", base + "/cancel", "application/json", ""});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(body(r).at("run").at("status").as_string(), "cancelled");
  r = inspector.handle({"POST", base + "/retry", "application/json", ""});
  EXPECT_EQ(r.status, 409) << r.body;
  r = inspector.handle({"POST", "/api/dead-letter/retry", "application/json", R"({"error_class": "nope"})"});
  EXPECT_EQ(r.status, 400);
  r = inspector.handle({"POST", "/api/dead-letter/retry", "application/json", R"({"workflow": "story"})"});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(body(r).at("queued").to_number<int64_t>(), 0);  // none failed
  inspector.close();
}

std::string ui_usage_error(std::vector<std::string_view> args) {
  try {
    cli::ui::parse_ui_args(args);
  } catch (const cli::UsageError& e) {
    return e.what();
  }
  return "no error";
}

TEST(UiCommandArgs, FindsTheUiCommandWhereverDbIs) {
  using cli::ui::names_ui_command;
  EXPECT_TRUE(names_ui_command({"ui", "--db", "x.db"}));
  EXPECT_TRUE(names_ui_command({"--db", "x.db", "ui"}));
  EXPECT_TRUE(names_ui_command({"--db=x.db", "ui", "--read-only"}));
  EXPECT_FALSE(names_ui_command({"--db", "ui", "list"}));
  EXPECT_FALSE(names_ui_command({"list", "--workflow", "ui"}));
}

TEST(UiCommandArgs, ParsesOptionsAndNamesBadOnes) {
  auto o = cli::ui::parse_ui_args({"ui", "--db", "x.db", "--port=0", "--host", "::1", "--read-only"});
  EXPECT_EQ(o.db, "x.db");
  EXPECT_EQ(o.port, 0);
  EXPECT_EQ(o.host, "::1");
  EXPECT_TRUE(o.read_only);
  EXPECT_EQ(cli::ui::parse_ui_args({"ui", "--db", "x.db"}).host, "127.0.0.1");
  EXPECT_EQ(ui_usage_error({"ui"}), "missing --db PATH");
  EXPECT_EQ(ui_usage_error({"ui", "--db", "x", "--port", "70000"}),
            "--port must be between 0 and 65535, got 70000");
  EXPECT_EQ(ui_usage_error({"ui", "--db", "x", "--port", "web"}), "--port must be a whole number, got 'web'");
  EXPECT_EQ(ui_usage_error({"ui", "--db", "x", "--host", "example.com"}),
            "--host expects an IP address (or localhost), got 'example.com'");
  EXPECT_EQ(ui_usage_error({"ui", "--db", "x", "--colour"}), "unknown option '--colour' for 'ui'");
  EXPECT_EQ(ui_usage_error({"ui", "--db", "x", "--db", "y"}), "option --db given twice");
  EXPECT_EQ(ui_usage_error({"ui", "--db", "x", "extra"}), "unexpected argument 'extra' for 'ui'");
  EXPECT_EQ(ui_usage_error({"ui", "--db", "x", "--read-only=yes"}), "option --read-only takes no value");
}

}  // namespace

namespace {

// Polls `condition` every 10 ms for up to 10 s.
bool soon(const std::function<bool()>& condition) {
  for (int i = 0; i < 1000; ++i) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return condition();
}

}  // namespace

// GET /api/limits while an engine works: the shared resource's bucket, its
// requests in flight and a pause; the busiest concurrency key with its limit;
// the throttle window in use.
TEST_F(InspectorApiTest, LimitsShowResourcesKeysAndThrottles) {
  EngineOptions options;
  options.store = store_;
  ResourceLimits api;
  api.requests = 5;
  api.max_in_flight = 3;
  options.resources["llm:test"] = api;
  options.resources["img"] = ResourceLimits{};
  auto engine = Engine::open(options);
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  WorkflowOptions keyed;
  keyed.concurrency = ConcurrencyKey{"user", 2};
  keyed.throttle = Throttle{"user", 10, std::chrono::milliseconds(60'000)};
  engine->register_workflow(
      "keyed",
      [released](Context& ctx, const Json&) -> Json {
        return ctx.step_using("llm:test", "call", [&]() -> Json {
          released.wait();
          return 1;
        });
      },
      keyed);
  engine->register_workflow("pauser", [](Context& ctx, const Json&) -> Json {
    return ctx.step_using("img", "draw", []() -> Json {
      throw Error(ErrorCode::provider, "HTTP 429", ErrorClass::rate_limited, 60'000);
    });
  });
  for (int i = 0; i < 3; ++i) engine->start("keyed", boost::json::object{{"user", "ada"}});
  engine->start("pauser", boost::json::object{});
  engine->launch();

  Inspector inspector = read_only();
  Json view;
  // The resource of that name (every engine also has its providers' own,
  // llm:offline and image:offline).
  auto resource = [&](std::string_view name) -> const boost::json::object* {
    for (const auto& r : view.at("resources").as_array()) {
      if (r.at("name").as_string() == name) return &r.as_object();
    }
    return nullptr;
  };
  auto ready = [&] {
    auto r = inspector.handle({"GET", "/api/limits", "", ""});
    if (r.status != 200) return false;
    view = body(r);
    return resource("llm:test") && resource("llm:test")->at("in_flight").as_int64() == 2 &&
           resource("img") && resource("img")->at("paused_until_ms").as_int64() > 0 &&
           !view.at("throttles").as_array().empty();
  };
  bool seen = soon(ready);
  release.set_value();
  engine->close();
  ASSERT_TRUE(seen) << boost::json::serialize(view);

  const auto& img = *resource("img");
  EXPECT_TRUE(img.at("available_requests").is_null()) << "no rate limit shows as null";
  EXPECT_GT(img.at("paused_until_ms").as_int64(), view.at("now_ms").as_int64() + 50'000);
  const auto& llm = *resource("llm:test");
  EXPECT_EQ(llm.at("limits").at("max_in_flight").as_int64(), 3);
  double available = llm.at("available_requests").as_double();
  EXPECT_GE(available, 3.0);  // 5, minus the two admitted, plus what refilled since
  EXPECT_LE(available, 5.0);

  const auto& key = view.at("concurrency_keys").at(0).as_object();
  EXPECT_EQ(key.at("workflow").as_string(), "keyed");
  EXPECT_EQ(key.at("key").as_string(), "\"ada\"");
  EXPECT_EQ(key.at("running").as_int64(), 2);
  EXPECT_EQ(key.at("limit").as_int64(), 2);
  const auto& window = view.at("throttles").at(0).as_object();
  EXPECT_EQ(window.at("workflow").as_string(), "keyed");
  EXPECT_EQ(window.at("started").as_int64(), 2);
  EXPECT_EQ(window.at("limit").as_int64(), 10);
  EXPECT_EQ(window.at("period_ms").as_int64(), 60'000);
}

TEST_F(InspectorApiTest, LimitsRefusesBadParameters) {
  Inspector inspector = read_only();
  auto r = inspector.handle({"GET", "/api/limits?top=0", "", ""});
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(error(r).find("top"), std::string::npos) << error(r);
  r = inspector.handle({"GET", "/api/limits?lease=5", "", ""});
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(error(r).find("lease"), std::string::npos) << error(r);
  r = inspector.handle({"POST", "/api/limits", "", ""});
  EXPECT_EQ(r.status, 405);
  r = inspector.handle({"GET", "/api/limits", "", ""});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(body(r).at("concurrency_keys").as_array().empty());
  EXPECT_TRUE(body(r).at("throttles").as_array().empty());
}
