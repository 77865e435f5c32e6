// Output formatting of the `storyloom` tool, from values built by hand (event
// kinds a separate process never receives live are covered here).
#include "format.h"

#include <gtest/gtest.h>

using namespace storyloom;
using namespace storyloom::cli;

TEST(Format, TimeIsUtcIsoWithMilliseconds) {
  EXPECT_EQ(format_time(1700000000123), "2023-11-14T22:13:20.123Z");
  EXPECT_EQ(format_time(1700000000000), "2023-11-14T22:13:20.000Z");
  EXPECT_EQ(format_time(0), "-");
}

TEST(Format, PrettyJsonIndentsNestedValues) {
  Json value = boost::json::object{{"a", 1},
                                   {"b", boost::json::array{true, nullptr, "x"}},
                                   {"c", boost::json::object{}},
                                   {"d", boost::json::array{}},
                                   {"e", boost::json::object{{"f", "line\nbreak"}}}};
  EXPECT_EQ(pretty_json(value),
            "{\n"
            "  \"a\": 1,\n"
            "  \"b\": [\n"
            "    true,\n"
            "    null,\n"
            "    \"x\"\n"
            "  ],\n"
            "  \"c\": {},\n"
            "  \"d\": [],\n"
            "  \"e\": {\n"
            "    \"f\": \"line\\nbreak\"\n"
            "  }\n"
            "}\n");
  EXPECT_EQ(pretty_json(Json(3)), "3\n");
}

TEST(Format, RunJsonHasEveryField) {
  RunInfo run;
  run.id = "r1";
  run.workflow = "story";
  run.status = RunStatus::failed;
  run.input = boost::json::object{{"pages", 2}};
  run.error = boost::json::object{{"code", "step_failed"}};
  run.owner = "alice";
  run.priority = 3;
  run.created_at_ms = 10;
  Json json = storyloom::to_json(run);
  EXPECT_EQ(
      to_json_text(json),
      R"({"id":"r1","workflow":"story","status":"failed","input":{"pages":2},"output":null,)"
      R"("error":{"code":"step_failed"},"progress":null,"owner":"alice","idempotency_key":"",)"
      R"("parent_id":"","priority":3,"created_at_ms":10,"updated_at_ms":0,"finished_at_ms":0,)"
      R"("budget":{"llm_calls":0,"llm_tokens":0}})");
}

TEST(Format, SnapshotAddsStepsAndLastEventId) {
  Snapshot snap;
  snap.run.id = "r1";
  snap.steps.push_back(StepInfo{0, "outline", "step", "completed", Json("o"), 5});
  snap.last_event_id = 17;
  Json json = snapshot_json(snap);
  EXPECT_EQ(json.at("last_event_id").as_int64(), 17);
  // What the llm steps used, and the run's budget against it (none here).
  EXPECT_EQ(to_json_text(json.at("usage")),
            R"({"llm_calls":0,"input_tokens":0,"output_tokens":0,"total_tokens":0,"by_model":[]})");
  EXPECT_EQ(to_json_text(json.at("budget")),
            R"({"llm_calls":0,"llm_tokens":0,"spent_llm_calls":0,"spent_llm_tokens":0,)"
            R"("remaining_llm_calls":null,"remaining_llm_tokens":null,"exceeded":false})");
  EXPECT_EQ(to_json_text(json.at("steps")),
            R"([{"seq":0,"name":"outline","kind":"step","status":"completed","result":"o",)"
            R"("completed_at_ms":5}])");
}

TEST(Format, RunPageJson) {
  RunPage page;
  page.runs.resize(2);
  page.runs[0].id = "a";
  page.runs[1].id = "b";
  page.next_cursor = "b";
  Json json = storyloom::to_json(page);
  EXPECT_EQ(json.at("runs").as_array().size(), 2u);
  EXPECT_EQ(json.at("runs").at(1).at("id").as_string(), "b");
  EXPECT_EQ(json.at("next_cursor").as_string(), "b");
}

TEST(Format, RunTableAlignsColumns) {
  std::vector<RunInfo> runs(2);
  runs[0].id = "aaaa";
  runs[0].status = RunStatus::completed;
  runs[0].workflow = "story";
  runs[0].owner = "alice";
  runs[0].created_at_ms = 1700000000123;
  runs[1].id = "bbbb";
  runs[1].status = RunStatus::queued;
  runs[1].workflow = "x";
  runs[1].created_at_ms = 1700000001000;
  EXPECT_EQ(run_table(runs),
            "aaaa  completed  story  alice  2023-11-14T22:13:20.123Z\n"
            "bbbb  queued     x      -      2023-11-14T22:13:21.000Z\n");
  EXPECT_EQ(run_table({}), "");
}

TEST(Format, EventLinesByKind) {
  Event stored;
  stored.id = 12;
  stored.type = "progress";
  stored.data = boost::json::object{{"page", 1}};
  EXPECT_EQ(event_json_line(stored), "{\"id\":12,\"type\":\"progress\",\"data\":{\"page\":1}}\n");

  Event transient;
  transient.kind = EventKind::transient;
  transient.type = "chunk";
  transient.data = boost::json::object{{"stream", "s"}, {"offset", 0}, {"text", "Once"}};
  EXPECT_EQ(event_json_line(transient),
            "{\"id\":null,\"type\":\"chunk\",\"data\":{\"stream\":\"s\",\"offset\":0,\"text\":"
            "\"Once\"},\"transient\":true}\n");

  Event cursor;
  cursor.kind = EventKind::cursor;
  cursor.id = 13;
  cursor.type = "chunk";
  EXPECT_EQ(event_json_line(cursor), "");
  // The SSE form of a cursor advances Last-Event-ID without dispatching an event.
  EXPECT_EQ(format_sse(cursor), "id: 13\n\n");
}

TEST(Format, ArtifactLine) {
  ArtifactInfo artifact{"outline", 2, boost::json::object{{"v", 2}}, 99, ""};
  EXPECT_EQ(artifact_json_line(artifact),
            "{\"key\":\"outline\",\"version\":2,\"value\":{\"v\":2},\"created_at_ms\":99}\n");
}

TEST(Format, TerminalSafeEscapesControlCharacters) {
  EXPECT_EQ(terminal_safe("plain text\twith tab\n"), "plain text\twith tab\n");
  EXPECT_EQ(terminal_safe("\x1b[2Jgone\r"), "\\u001b[2Jgone\\u000d");
  EXPECT_EQ(terminal_safe("del\x7f"), "del\\u007f");
  EXPECT_EQ(terminal_safe("csi\xc2\x9b" "31m"), "csi\\u009b31m");   // U+009B, the 8-bit CSI
  EXPECT_EQ(terminal_safe("caf\xc3\xa9 \xc2\xa9"), "caf\xc3\xa9 \xc2\xa9");  // é and © pass
  EXPECT_EQ(terminal_safe("end\xc2"), "end\xc2");
  // Escapes inside JSON strings are JSON escapes: the text parses to the same value.
  std::string json = "{\"owner\":\"a\x7f" "b\"}";
  EXPECT_EQ(parse_json(terminal_safe(json), "filtered").at("owner").as_string(), "a\x7f" "b");
}
