// The terminal view shows only the current attempt's text of a stream: a
// retried (or, after a crash, re-executed) llm step starts its page again.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>

#include "terminal_view.h"

using storyloom::Event;
using storyloom::EventKind;

namespace {

Event chunk(const std::string& stream, int64_t offset, const std::string& text, int64_t start) {
  Event e;
  e.kind = EventKind::stored;
  e.type = "chunk";
  e.data = boost::json::object{
      {"stream", stream}, {"offset", offset}, {"text", text}, {"attempt_start", start}};
  return e;
}

Event stage(const std::string& stream) {
  Event e;
  e.kind = EventKind::stored;
  e.type = "progress";
  e.data = boost::json::object{{"stage", "writing"}, {"stream", stream}, {"pages_total", 1}};
  return e;
}

std::string shown(const std::function<void(story::TerminalView&)>& feed) {
  char* buffer = nullptr;
  size_t size = 0;
  std::FILE* out = open_memstream(&buffer, &size);
  {
    story::TerminalView view(out, /*live=*/false, 80, 1);
    feed(view);
    view.finish();
  }
  std::fclose(out);
  std::string text(buffer, size);
  std::free(buffer);
  return text;
}

}  // namespace

TEST(TerminalView, ANewAttemptStartsThePageAgainAndLateTextOfTheOldOneIsDropped) {
  auto text = shown([](story::TerminalView& view) {
    view.on_event(stage("page/1"));
    view.on_event(chunk("page/1", 0, "In the betwee", 0));
    view.on_event(chunk("page/1", 13, "Just past the old bridge.", 13));
    view.on_event(chunk("page/1", 12, "e", 0));  // the old attempt, arriving late
  });
  EXPECT_NE(text.find("In the betwee"), std::string::npos) << text;
  EXPECT_NE(text.find("(the text starts again: a new attempt)\nJust past the old bridge."),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("betweeJust"), std::string::npos) << text;
  EXPECT_EQ(text.find("bridge.e"), std::string::npos) << text;
}
