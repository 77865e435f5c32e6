// The story pipeline in one process: input validation, outline parsing and
// approval, the steps a quality level produces, and a page that fails.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <mutex>

#include "fake_llm_server.h"
#include "outline.h"
#include "placeholder_picture.h"
#include "story_input.h"
#include "story_workflow.h"
#include "structured_answers.h"
#include "support/test_support.h"

namespace story {
namespace {

using storyloom::Engine;
using storyloom::Error;
using storyloom::ErrorClass;
using storyloom::ErrorCode;
using storyloom::Json;
using storyloom::RunStatus;
using storyloom::testing::error_of;
using storyloom::testing::eventually;
using storyloom::testing::fast_options;
using storyloom::testing::wait_finished;
using storyloom::testing::wait_status;

std::string input_error(const std::string& json) {
  return error_of([&] { parse_story_input(boost::json::parse(json)); }).what();
}

TEST(StoryInput, DefaultsAndLimits) {
  auto input = parse_story_input(boost::json::parse(R"({"topic": "a kite"})"));
  EXPECT_EQ(input.topic, "a kite");
  EXPECT_EQ(input.pages, 4);
  EXPECT_EQ(input.quality, 1);
  EXPECT_FALSE(input.approve_outline);
  EXPECT_EQ(input.author_style, kDefaultStyle);

  EXPECT_EQ(input_error(R"({"pages": 2})"), "story input: 'topic' is required");
  EXPECT_EQ(input_error(R"({"topic": "  "})"), "story input: 'topic' must not be blank");
  EXPECT_EQ(input_error(R"({"topic": 7})"), "story input: 'topic' must be a string");
  EXPECT_EQ(input_error(R"({"topic": "k", "pages": 0})"),
            "story input: 'pages' must be a whole number from 1 to 40, got 0");
  EXPECT_EQ(input_error(R"({"topic": "k", "quality": 4})"),
            "story input: 'quality' must be a whole number from 0 to 3, got 4");
  EXPECT_EQ(input_error(R"({"topic": "k", "approve_outline": "yes"})"),
            "story input: 'approve_outline' must be true or false");
  EXPECT_EQ(input_error(R"({"topic": ")" + std::string(201, 'x') + R"("})"),
            "story input: 'topic' is 201 bytes; the limit is 200");
  EXPECT_NE(input_error("[1]").find("must be a JSON object"), std::string::npos);
}

TEST(StoryInput, KeyDependsOnEveryField) {
  StoryInput a{"a kite", "plain", 3, 1, false};
  auto b = a;
  b.quality = 2;
  auto c = a;
  c.approve_outline = true;
  EXPECT_EQ(story_key(a), story_key(StoryInput{"a kite", "plain", 3, 1, false}));
  EXPECT_NE(story_key(a), story_key(b));
  EXPECT_NE(story_key(a), story_key(c));
  EXPECT_LE(story_key(StoryInput{std::string(200, 't'), std::string(200, 's'), 40, 3, true}).size(),
            storyloom::kMaxKeyBytes);
}

TEST(Outline, ParsesTheTextFormTolerantly) {
  StoryInput input{"a kite", "plain", 3, 0, false};
  auto outline = parse_outline(
      "Sure! Here is the outline.\n**TITLE:** The Brave Kite\r\nStyle: ink sketches\n"
      "PAGE 1: The kite is afraid.\n**Page 2:** A gust comes.\nPAGE 9: ignored\n",
      input);
  EXPECT_EQ(outline.title, "The Brave Kite");
  EXPECT_EQ(outline.visual_style, "ink sketches");
  ASSERT_EQ(outline.plans.size(), 3u);
  EXPECT_EQ(outline.plans[0], "The kite is afraid.");
  EXPECT_EQ(outline.plans[1], "A gust comes.");
  EXPECT_EQ(outline.plans[2], "Page 3 of the story of a kite.");  // missing: derived

  auto empty = parse_outline("no structure at all", input);
  EXPECT_EQ(empty.title, "A Story About a kite");
  EXPECT_EQ(outline_from_json(to_json(outline)).plans, outline.plans);
  EXPECT_EQ(parse_outline(outline_text(outline), input).title, outline.title);
}

TEST(Outline, ApprovalDecisions) {
  Outline outline{"T", "ink", {"one", "two"}};
  EXPECT_EQ(apply_outline_decision(outline, boost::json::object{}).title, "T");
  EXPECT_EQ(apply_outline_decision(outline, nullptr).plans, outline.plans);
  auto edited = apply_outline_decision(
      outline, boost::json::parse(R"({"title": "New", "plans": ["uno", "dos"]})"));
  EXPECT_EQ(edited.title, "New");
  EXPECT_EQ(edited.plans[1], "dos");
  EXPECT_EQ(apply_outline_decision(outline, boost::json::parse(R"({"characters": "a red fox"})"))
                .characters,
            "a red fox");
  EXPECT_STREQ(error_of([&] {
                 apply_outline_decision(outline, boost::json::parse(R"({"characters": " "})"));
               }).what(),
               "approve: 'characters' must not be blank");

  auto wrong_count = error_of([&] {
    apply_outline_decision(outline, boost::json::parse(R"({"plans": ["only one"]})"));
  });
  EXPECT_EQ(wrong_count.code(), ErrorCode::invalid_argument);
  EXPECT_STREQ(wrong_count.what(),
               "approve: 'plans' must be an array of exactly 2 strings, one per page");
  auto rejected = error_of([&] {
    apply_outline_decision(outline, boost::json::parse(R"({"approved": false, "reason": "dark"})"));
  });
  EXPECT_EQ(rejected.error_class(), ErrorClass::fatal);
  EXPECT_STREQ(rejected.what(), "the outline was rejected: dark");
}

class Pipeline : public ::testing::Test {
 protected:
  // The engine's own offline provider unless `providers` says otherwise.
  void open(TextSource source = llm_text_source("", ""),
            std::vector<storyloom::LlmProviderConfig> providers = {},
            std::function<std::string(const std::string& prompt)> pictures = {}) {
    auto options = fast_options();
    options.llm.use_environment = false;
    // Pictures from the image step's offline provider, drawn by `pictures`.
    options.images.use_environment = false;
    options.images.offline_drawer = [pictures](std::string_view prompt, int width, int height) {
      return pictures ? pictures(std::string(prompt))
                      : storyloom::book::placeholder_png(prompt, width, height);
    };
    options.llm.providers = std::move(providers);
    if (!options.llm.providers.empty()) options.llm.default_provider = options.llm.providers[0].name;
    engine_ = Engine::open(options);
    register_story_workflow(*engine_, {std::move(source), nullptr});
    engine_->launch();
  }
  std::string start(const std::string& input) {
    return engine_->start(std::string(kWorkflowName), boost::json::parse(input)).id;
  }
  std::vector<std::string> completed_steps(const std::string& run) {
    std::vector<std::string> names;
    for (const auto& s : engine_->snapshot(run).steps) {
      if (s.status == "completed") names.push_back(s.name);
    }
    return names;
  }
  Json latest(const std::string& run, const std::string& key) {
    Json value;
    int64_t version = 0;
    for (const auto& a : engine_->artifacts(run)) {
      if (a.key == key && a.version > version) value = a.value, version = a.version;
    }
    return value;
  }
  std::unique_ptr<Engine> engine_;
};

TEST_F(Pipeline, QualityTwoRunsTwoCritiqueAndReviseRoundsPerPage) {
  open();
  auto run = start(R"({"topic": "a kite", "pages": 2, "quality": 2})");
  ASSERT_EQ(wait_finished(*engine_, run).status, RunStatus::completed);
  std::vector<std::string> expected = {"outline"};
  for (std::string page : {"page/1", "page/2"}) {
    for (std::string step : {"/write", "/critique/1", "/revise/1", "/critique/2", "/revise/2",
                             "/illustration"}) {
      expected.push_back(page + step);
    }
  }
  expected.push_back("page/1/picture");
  expected.push_back("page/2/picture");
  EXPECT_EQ(completed_steps(run), expected);
  auto page = latest(run, "page/2").as_object();
  EXPECT_EQ(page.at("iteration").as_int64(), 2);
  EXPECT_FALSE(page.at("critique").as_string().empty());
  EXPECT_FALSE(page.at("illustration").as_string().empty());
  EXPECT_NE(page.at("content"), latest(run, "page/1").at("content"));
  auto story = latest(run, "story").as_object();
  EXPECT_EQ(story.at("pages").as_array().size(), 2u);
  EXPECT_EQ(story.at("written_by").at("provider"), "offline");
  EXPECT_EQ(story.at("written_by").at("language_model"), false);
  // The offline provider fills in the outline form the prompt asks for.
  auto outline = latest(run, "outline").as_object();
  EXPECT_EQ(outline.at("title").as_string().find("A Story About"), std::string::npos);
  // Every page's text was streamed live under its stream name.
  std::string streamed;
  for (const auto& e : engine_->events(run, 0, 10000)) {
    if (e.type == "chunk" && e.data.at("stream") == "page/1") {
      streamed += std::string(e.data.at("text").as_string());
    }
  }
  auto write = engine_->snapshot(run).steps;
  auto first = std::find_if(write.begin(), write.end(),
                            [](const auto& s) { return s.name == "page/1/write"; });
  ASSERT_NE(first, write.end());
  EXPECT_EQ(streamed, std::string(first->result.at("text").as_string()));
  auto progress = engine_->get(run).progress.as_object();
  EXPECT_EQ(progress.at("pages_completed").as_int64(), 2);
  EXPECT_EQ(progress.at("pages_failed").as_int64(), 0);
  EXPECT_EQ(progress.at("stage").as_string(), "done");
}

TEST_F(Pipeline, BadInputFailsTheRunNamingTheField) {
  open();
  auto run = start(R"({"topic": "a kite", "pages": 99})");
  auto info = wait_finished(*engine_, run);
  ASSERT_EQ(info.status, RunStatus::failed);
  EXPECT_EQ(info.error.at("message").as_string(),
            "story input: 'pages' must be a whole number from 1 to 40, got 99");
}

TEST_F(Pipeline, ApprovalWaitsAcceptsEditsAndRepeatsAfterAMalformedOne) {
  open();
  auto run = start(R"({"topic": "a kite", "pages": 2, "quality": 0, "approve_outline": true})");
  ASSERT_EQ(wait_status(*engine_, run, RunStatus::waiting).status, RunStatus::waiting);
  EXPECT_EQ(engine_->get(run).progress.at("stage").as_string(), kAwaitingApprovalStage);

  engine_->signal(run, "approve", boost::json::parse(R"({"plans": ["just one"]})"));
  ASSERT_TRUE(eventually([&] {
    for (const auto& e : engine_->events(run, 0, 1000)) {
      if (e.type == "outline.edit_rejected") return true;
    }
    return false;
  }));
  EXPECT_EQ(wait_status(*engine_, run, RunStatus::waiting).status, RunStatus::waiting);

  engine_->signal(run, "approve",
                  boost::json::parse(R"({"title": "Edited", "plans": ["First.", "Second."]})"));
  ASSERT_EQ(wait_finished(*engine_, run).status, RunStatus::completed);
  EXPECT_EQ(latest(run, "story").at("title").as_string(), "Edited");
  EXPECT_EQ(latest(run, "page/2").at("plan").as_string(), "Second.");
  EXPECT_EQ(latest(run, "outline").at("title").as_string(), "Edited");
}

TEST_F(Pipeline, RejectedOutlineFailsTheRun) {
  open();
  auto run = start(R"({"topic": "a kite", "pages": 1, "approve_outline": true})");
  ASSERT_EQ(wait_status(*engine_, run, RunStatus::waiting).status, RunStatus::waiting);
  engine_->signal(run, "approve", boost::json::parse(R"({"approved": false, "reason": "too dark"})"));
  auto info = wait_finished(*engine_, run);
  ASSERT_EQ(info.status, RunStatus::failed);
  EXPECT_EQ(info.error.at("message").as_string(), "the outline was rejected: too dark");
  EXPECT_TRUE(completed_steps(run) == std::vector<std::string>({"outline", "approve"}));
}

TEST_F(Pipeline, AFailingPageIsCountedAndRetryResumesAtIt) {
  std::atomic<bool> broken{true};
  auto offline = llm_text_source("", "");
  open([&, offline](storyloom::Context& ctx, const TextRequest& r) {
    if (broken && r.step == "page/2/write") {
      ctx.step(r.step, [&]() -> Json {
        throw Error(ErrorCode::step_failed, "the model refused", ErrorClass::fatal);
      });
    }
    return offline(ctx, r);
  });
  auto run = start(R"({"topic": "a kite", "pages": 3, "quality": 0})");
  auto info = wait_finished(*engine_, run);
  ASSERT_EQ(info.status, RunStatus::failed);
  auto progress = info.progress.as_object();
  EXPECT_EQ(progress.at("pages_completed").as_int64(), 1);
  EXPECT_EQ(progress.at("pages_failed").as_int64(), 1);
  EXPECT_EQ(progress.at("stage").as_string(), "page 2 of 3 failed: the model refused");

  broken = false;
  engine_->retry(run);
  ASSERT_EQ(wait_finished(*engine_, run).status, RunStatus::completed);
  size_t page1_writes = 0;
  for (const auto& e : engine_->events(run, 0, 10000)) {
    page1_writes += e.type == "step.completed" && e.data.at("name").as_string() == "page/1/write";
  }
  EXPECT_EQ(page1_writes, 1u);  // the finished page was not written again
}

TEST_F(Pipeline, AStoryFromAnOpenAiCompatibleServer) {
  storyloom::testing::FakeLlmServer server;
  storyloom::LlmProviderConfig fake;
  fake.name = "fake";
  fake.base_url = server.base_url("normal") + "/v1";
  fake.api_key = "test-key-not-a-secret";
  fake.model = "fake-model";
  open(llm_text_source("", ""), {fake});
  auto run = start(R"({"topic": "a kite", "pages": 2, "quality": 1})");
  auto info = wait_finished(*engine_, run);
  ASSERT_EQ(info.status, RunStatus::completed) << boost::json::serialize(info.error);
  // outline + 2 × (write, critique, revise, illustration), each asked once.
  EXPECT_EQ(server.requests("normal"), 9u);
  auto story = latest(run, "story").as_object();
  EXPECT_EQ(story.at("written_by").at("provider"), "fake");
  EXPECT_EQ(story.at("written_by").at("language_model"), true);
  EXPECT_EQ(story.at("pages").as_array().size(), 2u);
  EXPECT_NE(latest(run, "page/1").at("content").as_string().find("Fake reply"), std::string::npos);
  // The outline and the critique came back as JSON filling their schemas.
  auto outline = latest(run, "outline");
  EXPECT_EQ(outline.at("title").as_string().find("title of «Plan an illustrated"), 0u)
      << boost::json::serialize(outline);
  EXPECT_EQ(outline.at("visual_style").as_string().find("visual_style of «"), 0u);
  EXPECT_EQ(outline.at("characters").as_string().find("characters of «"), 0u);
  EXPECT_EQ(outline.at("plans").as_array().size(), 2u);
  EXPECT_EQ(outline.at("plans").at(1).as_string().find("pages of «"), 0u)
      << boost::json::serialize(outline);
  std::string critique(latest(run, "page/1").at("critique").as_string());
  EXPECT_EQ(critique.find("critique of «Critique page 1"), 0u) << critique;
  EXPECT_NE(critique.find(" Most useful change: change of «"), std::string::npos) << critique;
}

TEST(StructuredAnswers, OutlineAndCritiqueFromJsonOrText) {
  StoryInput input{"a kite", "plain", 3, 0, false};
  storyloom::LlmResult json_answer;
  json_answer.json = boost::json::parse(
      R"({"title": "The Brave Kite", "visual_style": "ink", "pages": ["One.", "", "Three."]})");
  auto outline = outline_from_answer(json_answer, input);
  EXPECT_EQ(outline.title, "The Brave Kite");
  EXPECT_EQ(outline.visual_style, "ink");
  // No characters in the answer: derived from the topic, never blank.
  EXPECT_EQ(outline.characters,
            "the characters of a story about a kite, each drawn the same way on every page");
  EXPECT_EQ(outline.plans, (std::vector<std::string>{"One.", "Page 2 of the story of a kite.",
                                                     "Three."}));
  storyloom::LlmResult text_answer;
  text_answer.text = "TITLE: Plain\nPAGE 1: Only.";
  EXPECT_EQ(outline_from_answer(text_answer, input).title, "Plain");
  // The schema asks for exactly `pages` plans.
  EXPECT_EQ(outline_schema(3).at("properties").at("pages").at("minItems").as_int64(), 3);
  EXPECT_EQ(outline_schema(3).at("properties").at("pages").at("maxItems").as_int64(), 3);

  storyloom::LlmResult critique;
  critique.json = boost::json::parse(R"({"critique": "Vivid.", "change": "Cut the ending."})");
  EXPECT_EQ(critique_from_answer(critique), "Vivid. Most useful change: Cut the ending.");
  critique.json = nullptr;
  critique.text = "free text";
  EXPECT_EQ(critique_from_answer(critique), "free text");
}


TEST_F(Pipeline, EveryPageGetsAPictureInTheOutlinesStyle) {
  std::mutex m;
  std::vector<std::string> prompts;
  open(llm_text_source("", ""), {}, [&](const std::string& prompt) {
    std::lock_guard lock(m);
    prompts.push_back(prompt);
    return storyloom::book::placeholder_png(prompt, 64, 64);
  });
  auto run = start(R"({"topic": "a kite", "pages": 2, "quality": 0})");
  ASSERT_EQ(wait_finished(*engine_, run).status, RunStatus::completed);
  auto outline = latest(run, "outline");
  ASSERT_EQ(prompts.size(), 2u);
  for (const auto& prompt : prompts) {
    // The same style, title and characters in every prompt, so the pictures stay alike.
    EXPECT_EQ(prompt.rfind("Style: " + std::string(outline.at("visual_style").as_string()) +
                               ". A picture for the story \"" +
                               std::string(outline.at("title").as_string()) + "\". Characters: " +
                               std::string(outline.at("characters").as_string()) + ". ",
                           0),
              0u)
        << prompt;
    EXPECT_FALSE(outline.at("characters").as_string().empty());
  }
  auto picture = engine_->artifact_bytes(run, "page/2/picture");
  EXPECT_EQ(picture.info.content_type, "image/png");
  EXPECT_EQ(picture.bytes, storyloom::book::placeholder_png(prompts[1], 64, 64));
  auto story = latest(run, "story");
  EXPECT_EQ(story.at("pages").at(0).at("picture"), "page/1/picture");
  auto progress = engine_->get(run).progress;
  EXPECT_EQ(progress.at("illustrations_total").as_int64(), 2);
  EXPECT_EQ(progress.at("illustrations_done").as_int64(), 2);
  EXPECT_EQ(progress.at("illustrations_failed").as_int64(), 0);
  EXPECT_EQ(progress.at("illustrations_in_progress").as_int64(), 0);
}

TEST_F(Pipeline, APictureThatKeepsFailingLeavesNoPictureAndARewindRedoesIt) {
  std::atomic<bool> broken{true};
  open(llm_text_source("", ""), {}, [&](const std::string& prompt) {
    if (broken) {
      throw Error(ErrorCode::step_failed, "the painter refused", ErrorClass::fatal);
    }
    return storyloom::book::placeholder_png(prompt, 64, 64);
  });
  auto run = start(R"({"topic": "a kite", "pages": 1, "quality": 0})");
  auto info = wait_finished(*engine_, run);
  ASSERT_EQ(info.status, RunStatus::completed) << boost::json::serialize(info.error);
  EXPECT_EQ(latest(run, "story").at("pages").at(0).at("picture"), nullptr);
  EXPECT_EQ(info.progress.at("illustrations_failed").as_int64(), 1);
  EXPECT_EQ(info.progress.at("illustrations_done").as_int64(), 0);
  EXPECT_EQ(error_of([&] { engine_->artifact_bytes(run, "page/1/picture"); }).code(),
            ErrorCode::not_found);
  bool reported = false;
  for (const auto& e : engine_->events(run, 0, 10000)) {
    if (e.type == "page.no_picture") {
      reported = true;
      EXPECT_EQ(e.data.at("message"),
                "image step 'page/1/picture': the offline drawer failed: the painter refused");
    }
  }
  EXPECT_TRUE(reported);

  // Redo the picture: the page's text is not written again.
  broken = false;
  engine_->rewind(run, "page/1/picture");
  ASSERT_EQ(wait_finished(*engine_, run).status, RunStatus::completed);
  EXPECT_EQ(latest(run, "story").at("pages").at(0).at("picture"), "page/1/picture");
  EXPECT_EQ(engine_->artifact_bytes(run, "page/1/picture").info.content_type, "image/png");
  size_t writes = 0;
  for (const auto& e : engine_->events(run, 0, 10000)) {
    writes += e.type == "step.completed" && e.data.at("name").as_string() == "page/1/write";
  }
  EXPECT_EQ(writes, 1u);
  EXPECT_EQ(engine_->get(run).progress.at("illustrations_done").as_int64(), 1);
}

}  // namespace
}  // namespace story
