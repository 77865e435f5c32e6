#include "http/sse_parser.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
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
  bool discarded = false;  // finish() dropped an unterminated last block
  std::string last_event_id;
  std::optional<int64_t> retry;
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
  out.discarded = parser.finish(collect);
  out.comments = parser.comments();
  out.last_event_id = parser.last_event_id();
  out.retry = parser.retry();
  return out;
}

struct StreamCase {
  const char* name;
  std::string input;
  std::vector<SseEvent> events;
  size_t comments = 0;
  bool discarded = false;
  std::string last_event_id = {};
  std::optional<int64_t> retry = {};
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
      // WHATWG: an event with no blank line after it is discarded at the end.
      {"LastEventWithoutBlankLineDiscarded",
       "data: first\n\ndata: last",
       {{"", "first", ""}},
       0,
       true},
      {"LastEventEndsWithOneLineEndDiscarded", "event: end\ndata: last\r", {}, 0, true},
      {"UnterminatedIdNotCommitted",
       "id: 1\ndata: a\n\nid: 2\ndata: b\n",
       {{"", "a", "1"}},
       0,
       true,
       "1"},
      {"TrailingCommentIsNotACutBlock", "data: a\n\n: keep-alive\n", {{"", "a", ""}}, 1},
      {"IdCarriesOverAndResets",
       "id: 1\ndata: a\n\ndata: b\n\nid\ndata: c\n\nid: 9\n\ndata: d\n\n",
       {{"", "a", "1"}, {"", "b", "1"}, {"", "c", ""}, {"", "d", "9"}},
       0,
       false,
       "9"},
      {"IdWithNulIgnored",
       "id: 7\ndata: a\n\nid: 8\0x\ndata: b\n\n"s,
       {{"", "a", "7"}, {"", "b", "7"}},
       0,
       false,
       "7"},
      // A blank line commits the id even when no event is dispatched.
      {"IdCommittedWithoutData", "id: 5\n\n", {}, 0, false, "5"},
      {"EventTypeResetsAfterDispatch",
       "event: a\ndata: 1\n\ndata: 2\n\nevent: lost\n\ndata: 3\n\n",
       {{"a", "1", ""}, {"", "2", ""}, {"", "3", ""}}},
      {"RetryKeptUnknownFieldsIgnored",
       "retry: 1000\nfoo: bar\ndata : not data\nDATA: no\ndata: x\n\n",
       {{"", "x", ""}},
       0,
       false,
       "",
       1000},
      // web-platform-tests eventsource/format-*.htm, as byte streams.
      {"WptFieldRetryBogus",
       "retry:3000\nretry:1000x\nretry: 12 \nretry:-5\ndata:x\n\n",
       {{"", "x", ""}},
       0,
       false,
       "",
       3000},
      {"WptFieldRetryEmpty", "retry\nretry:\ndata:test\n\n", {{"", "test", ""}}},
      {"WptFieldRetryTooLargeIgnored",
       "retry:7\nretry:99999999999999999999999\ndata:t\n\n",
       {{"", "t", ""}},
       0,
       false,
       "",
       7},
      {"WptComments",
       "data:1\r:\0\n:\r\ndata:2\n:xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\rdata:3\n:data:fail\r:"
       "yyyyyyyyyyyyyyyyyyyyyyyyyyy\ndata:4\n\n"s,
       {{"", "1\n2\n3\n4", ""}},
       5},
      {"WptDataBeforeFinalEmptyLine",
       "retry:1000\ndata:test1\n\nid:test\ndata:test2",
       {{"", "test1", ""}},
       0,
       true,
       "",
       1000},
      {"WptFieldData",
       "data:\n\ndata\ndata\n\ndata:test\n\n",
       {{"", "", ""}, {"", "\n", ""}, {"", "test", ""}}},
      {"WptFieldEventEmpty", "event: \ndata:data\n\n", {{"", "data", ""}}},
      {"WptFieldEvent", "event:test\ndata:x\n\ndata:x\n\n", {{"test", "x", ""}, {"", "x", ""}}},
      {"WptFieldId",
       "id: 1\ndata: x\n\nid:2\ndata:y\n\n",
       {{"", "x", "1"}, {"", "y", "2"}},
       0,
       false,
       "2"},
      {"WptFieldParsing",
       "data:\0\ndata:  2\rData:1\ndata\0:2\ndata:1\r\0data:4\nda-ta:3\rdata_5\ndata:3\rdata:\r\n "
       "data:32\ndata:4\n\n"s,
       {{"", "\0\n 2\n1\n3\n\n4"s, ""}}},
      {"WptFieldUnknown",
       "data:test\n data\ndata\nfoobar:xxx\njustsometext\n:thisisacommentyay\ndata:test\n\n",
       {{"", "test\n\ntest", ""}},
       1},
      {"WptLeadingSpace", "data:\ttest\rdata: \ndata:test\n\n", {{"", "\ttest\n\ntest", ""}}},
      {"WptNewlines", "data:test\r\ndata\ndata:test\r\n\r", {{"", "test\n\ntest", ""}}},
      {"WptNullCharacter", "data:\0\n\n\n\n"s, {{"", "\0"s, ""}}},
      {"WptUtf8", "data:ok\xE2\x80\xA6\n\n", {{"", "ok\xE2\x80\xA6", ""}}},
      // The spec's own examples (HTML, 9.2.6 "Interpreting an event stream").
      {"SpecStockTicker", "data: YHOO\ndata: +2\ndata: 10\n\n", {{"", "YHOO\n+2\n10", ""}}},
      {"SpecFourBlocks",
       ": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third "
       "event\n",
       {{"", "first event", "1"}, {"", "second event", ""}},
       1,
       true},
      {"SpecTwoEventsAndCutOne",
       "data\n\ndata\ndata\n\ndata:",
       {{"", "", ""}, {"", "\n", ""}},
       0,
       true},
      {"SpecSpaceAfterColonOptional",
       "data:test\n\ndata: test\n\n",
       {{"", "test", ""}, {"", "test", ""}}},
      // Invalid UTF-8 becomes U+FFFD, one per maximal subpart (Encoding standard).
      {"InvalidUtf8Replaced",
       "data: a\xFF"
       "b\xE2\x82\n"
       "data: \xF0\x9F\x98x\xC0\xAF\xED\xA0\x80\n\n",
       {{"",
         "a\xEF\xBF\xBD"
         "b\xEF\xBF\xBD\n\xEF\xBF\xBDx\xEF\xBF\xBD\xEF\xBF\xBD"
         "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD",
         ""}}},
      {"InvalidUtf8InEventAndId",
       "event: t\x80\nid: \xFE\ndata: x\n\n",
       {{"t\xEF\xBF\xBD", "x", "\xEF\xBF\xBD"}},
       0,
       false,
       "\xEF\xBF\xBD"},
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
    EXPECT_EQ(got.discarded, c.discarded) << how;
    EXPECT_EQ(got.last_event_id, c.last_event_id) << how;
    EXPECT_EQ(got.retry, c.retry) << how;
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

TEST(SseParser, FinishDiscardsTheCutBlockAndResetsForANewStream) {
  SseParser parser;
  std::vector<SseEvent> events;
  const auto collect = [&](SseEvent&& e) { events.push_back(std::move(e)); };
  parser.feed("id: 3\ndata: kept\n\nid: 4\nevent: x\ndata: cut", collect);
  EXPECT_TRUE(parser.finish(collect));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(parser.last_event_id(), "3");  // the cut block's id is not committed
  parser.feed(
      "\xEF\xBB\xBF"
      "data: fresh\n\n",
      collect);
  ASSERT_EQ(events.size(), 2u);
  // The BOM of the new stream is skipped; the last event ID carries over (a reconnect).
  EXPECT_EQ(events[1], (SseEvent{"", "fresh", "3"}));
  EXPECT_FALSE(parser.finish(collect));  // nothing was pending
  EXPECT_EQ(events.size(), 2u);
}

TEST(SseParser, MultibyteSplitInvalidAcrossReadsStillOneReplacement) {
  // A truncated 3-byte sequence split across reads, then a valid one split too.
  const std::string stream = "data: \xE2\x82x\xE2\x82\xAC\n\n";
  for (size_t cut = 0; cut <= stream.size(); ++cut) {
    Parsed got = parse_cut(stream, {cut});
    ASSERT_EQ(got.events.size(), 1u) << "split at " << cut;
    EXPECT_EQ(got.events[0].data, "\xEF\xBF\xBDx\xE2\x82\xAC") << "split at " << cut;
  }
}

TEST(SseParser, Utf8WithReplacementsLeavesValidTextAlone) {
  EXPECT_EQ(utf8_with_replacements("caf\xC3\xA9 \xF0\x9F\x8C\x99"), "caf\xC3\xA9 \xF0\x9F\x8C\x99");
  EXPECT_EQ(utf8_with_replacements("\xF4\x90\x80\x80"),
            "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");      // above U+10FFFF
  EXPECT_EQ(utf8_with_replacements("\xF0\x9F\x8C"), "\xEF\xBF\xBD");  // truncated: one
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
