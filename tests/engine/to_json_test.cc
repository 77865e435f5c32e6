// The JSON shapes every host sees (storyloom.h documents them).
#include <gtest/gtest.h>

#include "storyloom/events.h"
#include "storyloom/run.h"

using namespace storyloom;

TEST(ToJson, RunHasEveryFieldWithItsStatusAsText) {
  RunInfo run;
  run.id = "r1";
  run.workflow = "story";
  run.status = RunStatus::waiting;
  run.input = boost::json::object{{"topic", "storm"}};
  run.priority = 2;
  EXPECT_EQ(boost::json::serialize(to_json(run)),
            R"({"id":"r1","workflow":"story","status":"waiting","input":{"topic":"storm"},)"
            R"("output":null,"error":null,"progress":null,"owner":"","idempotency_key":"",)"
            R"("parent_id":"","priority":2,"created_at_ms":0,"updated_at_ms":0,"finished_at_ms":0,)"
            R"("budget":{"llm_calls":0,"llm_tokens":0}})");
}

TEST(ToJson, SnapshotTotalsLlmUsagePerProviderAndModel) {
  Snapshot snap;
  snap.run.budget.llm_tokens = 100;
  for (const char* model : {"m2", "m1", "m2"}) {
    snap.usage.add_llm_result(boost::json::object{
        {"provider", "p"},
        {"model", model},
        {"usage", {{"input_tokens", 10}, {"output_tokens", 20}, {"total_tokens", 30}}}});
  }
  Json j = to_json(snap);
  EXPECT_EQ(boost::json::serialize(j.at("usage")),
            R"({"llm_calls":3,"input_tokens":30,"output_tokens":60,"total_tokens":90,"by_model":[)"
            R"({"provider":"p","model":"m1","calls":1,"input_tokens":10,"output_tokens":20,"total_tokens":30},)"
            R"({"provider":"p","model":"m2","calls":2,"input_tokens":20,"output_tokens":40,"total_tokens":60}]})");
  EXPECT_EQ(boost::json::serialize(j.at("budget")),
            R"({"llm_calls":0,"llm_tokens":100,"spent_llm_calls":3,"spent_llm_tokens":90,)"
            R"("remaining_llm_calls":null,"remaining_llm_tokens":10,"exceeded":false})");
}

TEST(ToJson, SnapshotPageStepArtifactAndEvent) {
  Snapshot snap;
  snap.run.id = "r1";
  snap.steps.push_back(StepInfo{0, "outline", "step", "completed", Json("plan"), 5});
  snap.artifacts.push_back(ArtifactInfo{"page/1", 2, Json("text"), 6, ""});
  snap.last_event_id = 9;
  Json j = to_json(snap);
  EXPECT_EQ(j.at("run").at("id"), "r1");
  EXPECT_EQ(boost::json::serialize(j.at("steps")),
            R"([{"seq":0,"name":"outline","kind":"step","status":"completed","result":"plan","completed_at_ms":5}])");
  EXPECT_EQ(boost::json::serialize(j.at("artifacts")),
            R"([{"key":"page/1","version":2,"value":"text","created_at_ms":6}])");
  EXPECT_EQ(j.at("last_event_id"), 9);

  RunPage page;
  page.runs.push_back(snap.run);
  page.next_cursor = "r1";
  EXPECT_EQ(to_json(page).at("runs").as_array().size(), 1u);
  EXPECT_EQ(to_json(page).at("next_cursor"), "r1");

  Event e;
  e.id = 3;
  e.run_id = "r1";
  e.type = "progress";
  e.data = boost::json::object{{"done", 1}};
  e.created_at_ms = 7;
  EXPECT_EQ(boost::json::serialize(to_json(e)),
            R"({"id":3,"run_id":"r1","type":"progress","data":{"done":1},"created_at_ms":7})");
}
