// A run's LLM budget: the llm step refuses to call once the run has used its
// calls or tokens, counted on the fake LLM server; usage in the snapshot.
#include <gtest/gtest.h>

#include "fake_llm_server.h"
#include "support/test_support.h"

namespace storyloom::testing {
namespace {

class LlmBudget : public ::testing::Test {
 protected:
  // A "story" workflow asking the fake provider for `pages` pages in turn.
  std::unique_ptr<Engine> open(std::string store = ":memory:", RetryPolicy retry = {}) {
    EngineOptions o = fast_options(std::move(store));
    o.llm.use_environment = false;
    LlmProviderConfig fake;
    fake.name = "fake";
    fake.kind = LlmProviderKind::openai;
    fake.base_url = server.base_url("normal") + "/v1";
    fake.api_key = "test-key-not-a-secret-budget";
    fake.model = "fake-model";
    o.llm.providers = {fake};
    o.llm.default_provider = "fake";
    auto engine = Engine::open(o);
    engine->register_workflow(
        "story",
        [](Context& ctx, const Json& input) -> Json {
          int64_t pages = input.at("pages").as_int64();
          for (int64_t i = 1; i <= pages; ++i) {
            LlmRequest r;
            r.messages = {{"user", "Write page " + std::to_string(i) + " about a brave owl."}};
            r.max_tokens = 50;
            ctx.llm("page-" + std::to_string(i), r);
          }
          return Json(pages);
        },
        WorkflowOptions{.retry = retry});
    engine->launch();
    return engine;
  }

  RunInfo run_story(Engine& engine, int pages, RunBudget budget) {
    StartOptions options;
    options.budget = budget;
    auto run = engine.start("story", boost::json::object{{"pages", pages}}, options);
    return wait_finished(engine, run.id, std::chrono::seconds(20));
  }

  FakeLlmServer server;
};

TEST_F(LlmBudget, ACallBudgetFailsTheRunAfterExactlyTheAffordableCalls) {
  RetryPolicy retry;  // a retrying policy: budget_exceeded must still not be retried
  retry.max_attempts = 3;
  retry.initial_backoff = std::chrono::milliseconds(10);
  auto engine = open(":memory:", retry);
  auto run = run_story(*engine, 5, RunBudget{.llm_calls = 3});
  ASSERT_EQ(run.status, RunStatus::failed);
  EXPECT_EQ(run.error.at("code"), "budget_exceeded");
  EXPECT_EQ(run.error.at("class"), "fatal");
  EXPECT_EQ(run.error.at("step"), "page-4");
  EXPECT_EQ(std::string(run.error.at("message").as_string()),
            "llm step 'page-4' was not sent: the run's budget is spent (its 3 of 3 LLM calls "
            "are used)");
  EXPECT_EQ(server.requests("normal"), 3u);

  auto snap = engine->snapshot(run.id);
  EXPECT_EQ(snap.run.budget.llm_calls, 3);
  EXPECT_EQ(snap.usage.llm_calls, 3);
  Json status = to_json(snap);
  EXPECT_EQ(status.at("budget").at("spent_llm_calls"), 3);
  EXPECT_EQ(status.at("budget").at("remaining_llm_calls"), 0);
  EXPECT_TRUE(status.at("budget").at("remaining_llm_tokens").is_null());
  EXPECT_EQ(status.at("budget").at("exceeded"), true);
  EXPECT_EQ(status.at("run").at("budget").at("llm_calls"), 3);
}

TEST_F(LlmBudget, AStoryWithinItsBudgetCompletes) {
  auto engine = open();
  auto run = run_story(*engine, 3, RunBudget{.llm_calls = 3});
  ASSERT_EQ(run.status, RunStatus::completed) << boost::json::serialize(run.error);
  EXPECT_EQ(server.requests("normal"), 3u);
  // Used exactly: nothing remains, so another llm step would be refused ("exceeded").
  Json budget = to_json(engine->snapshot(run.id)).at("budget");
  EXPECT_EQ(budget.at("remaining_llm_calls"), 0);
  EXPECT_EQ(budget.at("exceeded"), true);
}

TEST_F(LlmBudget, ATokenBudgetStopsOnceTheReportedTokensReachIt) {
  auto engine = open();
  // What one page costs, measured on a run without a budget.
  auto free_run = run_story(*engine, 1, RunBudget{});
  ASSERT_EQ(free_run.status, RunStatus::completed) << boost::json::serialize(free_run.error);
  int64_t per_page = engine->snapshot(free_run.id).usage.total_tokens;
  ASSERT_GT(per_page, 0);
  server.reset();
  // Two pages' worth (minus one token) allows the second call, not a third.
  auto run = run_story(*engine, 5, RunBudget{.llm_tokens = 2 * per_page - 1});
  ASSERT_EQ(run.status, RunStatus::failed);
  EXPECT_EQ(run.error.at("code"), "budget_exceeded");
  EXPECT_EQ(run.error.at("step"), "page-3");
  EXPECT_NE(std::string(run.error.at("message").as_string()).find("LLM tokens are used"),
            std::string::npos)
      << run.error;
  EXPECT_EQ(server.requests("normal"), 2u);
}

TEST_F(LlmBudget, UsageIsTotalledPerProviderAndModel) {
  auto engine = open();
  auto run = run_story(*engine, 2, RunBudget{});
  ASSERT_EQ(run.status, RunStatus::completed) << boost::json::serialize(run.error);
  auto snap = engine->snapshot(run.id);
  EXPECT_EQ(snap.usage.llm_calls, 2);
  ASSERT_EQ(snap.usage.by_model.size(), 1u);
  EXPECT_EQ(snap.usage.by_model[0].provider, "fake");
  EXPECT_EQ(snap.usage.by_model[0].model, "fake-model");
  EXPECT_EQ(snap.usage.by_model[0].calls, 2);
  EXPECT_EQ(snap.usage.by_model[0].total_tokens, snap.usage.total_tokens);
  EXPECT_EQ(snap.usage.total_tokens, snap.usage.input_tokens + snap.usage.output_tokens);
  // No budget: nothing is ever exceeded, nothing remains to count.
  Json budget = to_json(snap).at("budget");
  EXPECT_TRUE(budget.at("remaining_llm_calls").is_null());
  EXPECT_EQ(budget.at("exceeded"), false);
}

TEST_F(LlmBudget, TheBudgetIsKeptInTheStore) {
  TempDir dir;
  std::string db = "sqlite:" + dir.file("budget.db");
  std::string id;
  {
    auto engine = open(db);
    StartOptions options;
    options.budget = RunBudget{.llm_calls = 7, .llm_tokens = 900};
    // A run that only waits: what matters is its stored row.
    engine->register_workflow("parked", [](Context& ctx, const Json&) -> Json {
      ctx.wait_for_signal("never");
      return nullptr;
    });
    id = engine->start("parked", boost::json::object{}, options).id;
  }
  auto engine = open(db);
  auto run = engine->get(id);
  EXPECT_EQ(run.budget.llm_calls, 7);
  EXPECT_EQ(run.budget.llm_tokens, 900);
}

TEST_F(LlmBudget, ANegativeLimitIsRefusedByName) {
  auto engine = open();
  StartOptions options;
  options.budget.llm_tokens = -5;
  try {
    engine->start("story", boost::json::object{{"pages", 1}}, options);
    FAIL() << "a negative budget was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::invalid_argument);
    EXPECT_STREQ(e.what(), "budget.llm_tokens must be >= 0 (0: no limit), got -5");
  }
}

TEST(BudgetJson, UnknownOrNegativeFieldsAreNamed) {
  EXPECT_EQ(budget_from_json(boost::json::parse(R"({"llm_calls":4})"), "b").llm_calls, 4);
  auto message = [](const char* text) {
    try {
      budget_from_json(boost::json::parse(text), "start.budget");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_EQ(message(R"({"calls":4})"),
            "start.budget has an unknown field 'calls' (known: llm_calls, llm_tokens)");
  EXPECT_EQ(message(R"({"llm_calls":-1})"),
            "start.budget.llm_calls must be an integer >= 0 (0: no limit), got -1");
  EXPECT_EQ(message(R"([1])"),
            "start.budget must be an object {\"llm_calls\", \"llm_tokens\"}, got [1]");
}

}  // namespace
}  // namespace storyloom::testing
