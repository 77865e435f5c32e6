#include <gtest/gtest.h>

#include "storyloom/error.h"
#include "storyloom/events.h"

using namespace storyloom;

TEST(Sse, FormatsIdTypeAndData) {
  EXPECT_EQ(format_sse(7, "progress", "{\"a\":1}"), "id: 7\nevent: progress\ndata: {\"a\":1}\n\n");
}

TEST(Sse, SplitsMultiLineDataOnEveryLineEnding) {
  EXPECT_EQ(format_sse(0, "note", "one\ntwo\r\nthree\rfour"),
            "event: note\ndata: one\ndata: two\ndata: three\ndata: four\n\n");
}

TEST(Sse, KeepsEmptyLinesAndTrailingNewline) {
  EXPECT_EQ(format_sse(1, "x", "a\n\nb\n"), "id: 1\nevent: x\ndata: a\ndata: \ndata: b\ndata: \n\n");
}

TEST(Sse, CursorIsIdOnly) {
  Event e;
  e.id = 42;
  e.kind = EventKind::cursor;
  e.type = "chunk";
  EXPECT_EQ(format_sse(e), "id: 42\n\n");
}

TEST(Sse, TransientChunkHasNoId) {
  Event e;
  e.kind = EventKind::transient;
  e.type = "chunk";
  e.data = boost::json::object{{"stream", "s"}, {"offset", 0}, {"text", "hi\nthere"}};
  // JSON escapes the newline, so the data stays on one line.
  EXPECT_EQ(format_sse(e),
            "event: chunk\ndata: {\"stream\":\"s\",\"offset\":0,\"text\":\"hi\\nthere\"}\n\n");
}

TEST(Sse, HeartbeatAndRetry) {
  EXPECT_EQ(sse_heartbeat(), ": heartbeat\n\n");
  EXPECT_EQ(sse_retry(3000), "retry: 3000\n\n");
}

TEST(Sse, RefusesLineBreaksInTheEventType) {
  for (const char* type : {"progress\ndata: injected", "a\rb", "a\r\nid: 99"}) {
    try {
      format_sse(1, type, "{}");
      ADD_FAILURE() << "accepted " << type;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::invalid_argument);
      EXPECT_STREQ(e.what(),
                   "SSE event type contains a control character (CR, LF or another); it would "
                   "break the SSE record");
    }
  }
  Event cursor;
  cursor.kind = EventKind::cursor;
  cursor.id = -3;
  try {
    format_sse(cursor);
    ADD_FAILURE() << "accepted a negative id";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "SSE event id must not be negative, got -3");
  }
}
