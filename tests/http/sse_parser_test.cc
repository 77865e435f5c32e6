#include "http/sse_parser.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <ostream>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace storyloom::detail {

// Test-only: the parser's contract is the events, so compare them whole.
bool operator==(const SseEvent& a, const SseEvent& b) {
  return a.event == b.event && a.data == b.data && a.id == b.id;
}

void PrintTo(const SseEvent& e, std::ostream* os) {
  *os << "{event=\"" << e.event << "\" data=\"" << e.data << "\" id=\"" << e.id << "\"}";
}

namespace {

using namespace std::string_literals;

struct Parsed {
  std::vector<SseEvent> events;
  size_t comments = 0;
};

// Feeds `input` cut at `cuts` (ascending offsets), then finishes the stream.
Parsed parse_cut(std::string_view input, const std::vector<size_t>& cuts) {
  SseParser parser;
  Parsed out;
  const auto collect = [&](SseEvent&& e) { out.events.push_back(std::move(e)); };
  size_t from = 0;
  for (size_t cut : cuts) {
    parser.feed(input.substr(from, cut - from), collect);
    from = cut;
  }
  parser.feed(input.substr(from), collect);
  parser.finish(collect);
  out.comments = parser.comments();
  return out;
}

struct StreamCase {
  const char* name;
  std::string input;
  std::vector<SseEvent> events;
  size_t comments = 0;
};

// gtest would otherwise print the case's raw bytes, padding included.
void PrintTo(const StreamCase& c, std::ostream* os) { *os << c.name; }

std::vector<StreamCase> stream_cases() {
  return {
      {"OpenAiChunksAndDone",
       "data: {\"choices\":[{\"delta\":{\"content\":\"Once\"}}]}\n\n"
       "data: {\"choices\":[{\"delta\":{\"content\":\" upon\"}}]}\n\n"
       "data: [DONE]\n\n",
       {{"", "{\"choices\":[{\"delta\":{\"content\":\"Once\"}}]}", ""},
        {"", "{\"choices\":[{\"delta\":{\"content\":\" upon\"}}]}", ""},
        {"", "[DONE]", ""}}},
      {"AnthropicNamedEvents",
       "event: message_start\r\ndata: {\"type\":\"message_start\"}\r\n\r\n"
       "event: ping\r\ndata: {\"type\": \"ping\"}\r\n\r\n"
       "event: content_block_delta\r\n"
       "data: "
       "{\"type\":\"content_block_delta\",\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}"
       "\r\n\r\n"
       "event: message_stop\r\ndata: {\"type\":\"message_stop\"}\r\n\r\n",
       {{"message_start", "{\"type\":\"message_start\"}", ""},
        {"ping", "{\"type\": \"ping\"}", ""},
        {"content_block_delta",
         "{\"type\":\"content_block_delta\",\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}",
         ""},
        {"message_stop", "{\"type\":\"message_stop\"}", ""}}},
      {"OpenRouterCommentsInterleaved",
       ": OPENROUTER PROCESSING\n\n: OPENROUTER PROCESSING\n\n"
       "data: {\"n\":1}\n\n"
       ": OPENROUTER PROCESSING\ndata: {\"n\":2}\n: OPENROUTER PROCESSING\n\n",
       {{"", "{\"n\":1}", ""}, {"", "{\"n\":2}", ""}},
       4},
      {"CrlfLineEnds", "data: a\r\n\r\ndata: b\r\n\r\n", {{"", "a", ""}, {"", "b", ""}}},
      {"CrLineEnds", "data: a\r\rdata: b\r\r", {{"", "a", ""}, {"", "b", ""}}},
      {"MixedLineEnds",
       "data: a\r\ndata: b\rdata: c\n\r\ndata: d\n\r",
       {{"", "a\nb\nc", ""}, {"", "d", ""}}},
      {"MultiLineData",
       "data: one\ndata: two\ndata:\ndata:  three\n\n",
       {{"", "one\ntwo\n\n three", ""}}},
      {"EmptyDataLine", "data:\n\ndata\n\n", {{"", "", ""}, {"", "", ""}}},
      {"NoSpaceAfterColonAndColonsInValue",
       "data:tight\n\ndata: a:b: c\n\n",
       {{"", "tight", ""}, {"", "a:b: c", ""}}},
      {"LastEventWithoutBlankLine",
       "data: first\n\ndata: last",
       {{"", "first", ""}, {"", "last", ""}}},
      {"LastEventEndsWithOneLineEnd", "event: end\ndata: last\r", {{"end", "last", ""}}},
      {"IdCarriesOverAndResets",
       "id: 1\ndata: a\n\ndata: b\n\nid\ndata: c\n\nid: 9\n\ndata: d\n\n",
       {{"", "a", "1"}, {"", "b", "1"}, {"", "c", ""}, {"", "d", "9"}}},
      {"IdWithNulIgnored",
       "id: 7\ndata: a\n\nid: 8\0x\ndata: b\n\n"s,
       {{"", "a", "7"}, {"", "b", "7"}}},
      {"EventTypeResetsAfterDispatch",
       "event: a\ndata: 1\n\ndata: 2\n\nevent: lost\n\ndata: 3\n\n",
       {{"a", "1", ""}, {"", "2", ""}, {"", "3", ""}}},
      {"RetryAndUnknownFieldsIgnored",
       "retry: 1000\nfoo: bar\ndata : not data\nDATA: no\ndata: x\n\n",
       {{"", "x", ""}}},
      {"BlankLinesAndCommentsOnly", "\n\r\n\r: keep-alive\n\n\n", {}, 1},
      {"LeadingBomSkipped",
       "\xEF\xBB\xBF"
       "data: bom\n\n",
       {{"", "bom", ""}}},
      // Only one BOM is skipped; a second one makes the field name unknown.
      {"OnlyOneBomSkipped",
       "\xEF\xBB\xBF\xEF\xBB\xBF"
       "data: x\n\ndata: y\n\n",
       {{"", "y", ""}}},
      {"BomLaterIsNotSkipped",
       "data: a\n\n\xEF\xBB\xBF"
       "data: b\n\n",
       {{"", "a", ""}}},
      {"PartialBomIsLineText",
       "\xEF\xBB"
       "data: x\n\ndata: y\n\n",
       {{"", "y", ""}}},
      {"MultibyteUtf8",
       "event: \xC3\xBCnicode\ndata: \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x98\x80 ok\n\n",
       {{"\xC3\xBCnicode", "\xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x98\x80 ok", ""}}},
  };
}

class SseStream : public testing::TestWithParam<StreamCase> {
 protected:
  void expect_parsed(const Parsed& got, const std::string& how) {
    const StreamCase& c = GetParam();
    EXPECT_EQ(got.events, c.events) << how;
    EXPECT_EQ(got.comments, c.comments) << how;
  }
};

TEST_P(SseStream, Whole) { expect_parsed(parse_cut(GetParam().input, {}), "fed whole"); }

TEST_P(SseStream, OneByteAtATime) {
  std::vector<size_t> cuts;
  for (size_t i = 1; i < GetParam().input.size(); ++i) cuts.push_back(i);
  expect_parsed(parse_cut(GetParam().input, cuts), "fed one byte at a time");
}

TEST_P(SseStream, EverySingleSplitPoint) {
  for (size_t cut = 0; cut <= GetParam().input.size(); ++cut) {
    expect_parsed(parse_cut(GetParam().input, {cut}), "split at " + std::to_string(cut));
  }
}

TEST_P(SseStream, RandomSplits) {
  const std::string& input = GetParam().input;
  std::mt19937 random(20240611);
  for (int round = 0; round < 200; ++round) {
    std::uniform_int_distribution<size_t> count(1, input.size() + 1);
    std::uniform_int_distribution<size_t> offset(0, input.size());
    std::vector<size_t> cuts(count(random));
    for (size_t& cut : cuts) cut = offset(random);
    std::sort(cuts.begin(), cuts.end());
    std::string how = "cut at";
    for (size_t cut : cuts) how += " " + std::to_string(cut);
    expect_parsed(parse_cut(input, cuts), how);
  }
}

INSTANTIATE_TEST_SUITE_P(Streams, SseStream, testing::ValuesIn(stream_cases()),
                         [](const testing::TestParamInfo<StreamCase>& param) {
                           return std::string(param.param.name);
                         });

TEST(SseParser, CrlfSplitAcrossFeedsIsOneLineEnd) {
  SseParser parser;
  std::vector<SseEvent> events;
  const auto collect = [&](SseEvent&& e) { events.push_back(std::move(e)); };
  parser.feed("data: a\r", collect);
  // Were the LF a line end of its own, it would be a blank line dispatching "a".
  parser.feed("\ndata: b\r", collect);
  parser.feed("\n\r", collect);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].data, "a\nb");
  parser.feed("\n", collect);  // the LF of the last CRLF, not another blank line
  parser.feed("data: c\n\n", collect);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].data, "c");
}

TEST(SseParser, EmojiSplitAtEachByteComesOutIntact) {
  const std::string emoji = "\xF0\x9F\x98\x80";
  const std::string stream = "data: " + emoji + "\n\n";
  for (size_t i = 1; i < emoji.size(); ++i) {
    const size_t cut = std::string("data: ").size() + i;
    SseParser parser;
    std::vector<SseEvent> events;
    const auto collect = [&](SseEvent&& e) { events.push_back(std::move(e)); };
    parser.feed(std::string_view(stream).substr(0, cut), collect);
    EXPECT_TRUE(events.empty());
    parser.feed(std::string_view(stream).substr(cut), collect);
    ASSERT_EQ(events.size(), 1u) << "split after byte " << i << " of the emoji";
    EXPECT_EQ(events[0].data, emoji) << "split after byte " << i << " of the emoji";
  }
}

TEST(SseParser, EventComesOnlyAtItsBlankLine) {
  SseParser parser;
  std::vector<SseEvent> events;
  const auto collect = [&](SseEvent&& e) { events.push_back(std::move(e)); };
  parser.feed("data: a\n", collect);
  EXPECT_TRUE(events.empty());
  parser.feed("\n", collect);
  EXPECT_EQ(events.size(), 1u);
}

TEST(SseParser, CountsCommentsWithoutDispatching) {
  SseParser parser;
  int events = 0;
  const auto count = [&](SseEvent&&) { ++events; };
  parser.feed(": OPENROUTER PROCESSING\n\n:\n\n", count);
  EXPECT_EQ(parser.comments(), 2u);
  EXPECT_EQ(events, 0);
}

TEST(SseParser, BufferedBytesCoverTheUnfinishedLineAndEvent) {
  SseParser parser;
  const auto ignore = [](SseEvent&&) {};
  parser.feed("data: abc", ignore);
  EXPECT_EQ(parser.buffered_bytes(), 9u);
  parser.feed("\n", ignore);
  EXPECT_EQ(parser.buffered_bytes(), 3u);  // the event's data, waiting for its blank line
  parser.feed("\n", ignore);
  EXPECT_EQ(parser.buffered_bytes(), 0u);
}

TEST(SseParser, FinishResetsForANewStream) {
  SseParser parser;
  std::vector<SseEvent> events;
  const auto collect = [&](SseEvent&& e) { events.push_back(std::move(e)); };
  parser.feed("id: 4\nevent: x\ndata: cut", collect);
  parser.finish(collect);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0], (SseEvent{"x", "cut", "4"}));
  parser.feed(
      "\xEF\xBB\xBF"
      "data: fresh\n\n",
      collect);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1], (SseEvent{"", "fresh", ""}));
  parser.finish(collect);
  EXPECT_EQ(events.size(), 2u);  // nothing was pending
}

TEST(SseParser, ThrowingCallbackLeavesAUsableParser) {
  SseParser parser;
  std::vector<SseEvent> events;
  bool fail = true;
  const auto on_event = [&](SseEvent&& e) {
    if (fail) throw std::runtime_error("consumer failed");
    events.push_back(std::move(e));
  };
  EXPECT_THROW(parser.feed("event: a\ndata: 1\n\n", on_event), std::runtime_error);
  fail = false;
  parser.feed("data: 2\n\n", on_event);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0], (SseEvent{"", "2", ""}));
}

TEST(SseParser, ManyEventsInLargeReads) {
  std::string stream;
  for (int i = 0; i < 20000; ++i) stream += "id: " + std::to_string(i) + "\ndata: token\n\n";
  SseParser parser;
  int events = 0;
  std::string last_id;
  const auto count = [&](SseEvent&& e) {
    ++events;
    last_id = std::move(e.id);
  };
  for (size_t at = 0; at < stream.size(); at += 4093) {
    parser.feed(std::string_view(stream).substr(at, 4093), count);
  }
  EXPECT_EQ(events, 20000);
  EXPECT_EQ(last_id, "19999");
}

}  // namespace
}  // namespace storyloom::detail
