// The fake LLM server, checked on the wire with a tiny socket client of its
// own, so a bug in the engine's HTTP client cannot hide a bug in the fake.
#include "fake_llm_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <ctime>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

extern char** environ;

namespace storyloom::testing {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using Header = std::pair<std::string, std::string>;

// ---------------------------------------------------------------------------
// A tiny HTTP/1.1 client: one request per connection, read until the server closes.

class Socket {
 public:
  explicit Socket(int port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(static_cast<uint16_t>(port));
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  }
  ~Socket() { ::close(fd_); }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;

  bool connected() const { return connected_; }

  void send_all(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return;
      bytes.remove_prefix(static_cast<size_t>(n));
    }
  }

  // Appends what arrives to `received` until `done(received)` holds, the
  // server closes (returns true), or `limit` passes (returns false).
  template <typename Done>
  bool receive_until(std::string& received, Done done, std::chrono::milliseconds limit) {
    auto deadline = Clock::now() + limit;
    while (!done(received)) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      pollfd fds{fd_, POLLIN, 0};
      if (left.count() <= 0 || ::poll(&fds, 1, static_cast<int>(left.count())) <= 0) {
        return false;
      }
      char bytes[65536];
      ssize_t n = ::recv(fd_, bytes, sizeof bytes, 0);
      if (n <= 0) {
        closed_ = true;
        return true;
      }
      received.append(bytes, static_cast<size_t>(n));
    }
    return true;
  }
  bool closed() const { return closed_; }

 private:
  int fd_;
  bool connected_ = false;
  bool closed_ = false;
};

struct Response {
  int status = 0;
  std::vector<Header> headers;  // names lowercased
  std::string raw_body;         // as framed on the wire
  bool closed = false;          // the server closed the connection (rather than a timeout)

  std::optional<std::string> header(std::string_view name) const {
    for (const auto& [key, value] : headers) {
      if (key == name) return value;
    }
    return std::nullopt;
  }
};

Response parse_response(std::string_view raw, bool closed) {
  Response response;
  response.closed = closed;
  size_t head_end = raw.find("\r\n\r\n");
  if (head_end == std::string_view::npos) return response;
  std::string_view head = raw.substr(0, head_end);
  response.raw_body = std::string(raw.substr(head_end + 4));
  response.status = std::stoi(std::string(head.substr(9, 3)));
  size_t line_start = head.find("\r\n");
  while (line_start != std::string_view::npos) {
    size_t next = head.find("\r\n", line_start + 2);
    std::string_view line = head.substr(line_start + 2, next - line_start - 2);
    size_t colon = line.find(':');
    std::string name(line.substr(0, colon));
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    response.headers.emplace_back(name, std::string(value));
    line_start = next;
  }
  return response;
}

std::string request_text(std::string_view method, std::string_view target, std::string_view body,
                         const std::vector<Header>& headers) {
  std::string text = std::string(method) + " " + std::string(target) + " HTTP/1.1\r\n";
  text += "Host: 127.0.0.1\r\n";
  for (const auto& [name, value] : headers) text += name + ": " + value + "\r\n";
  if (method == "POST") {
    text += "Content-Type: application/json\r\n";
    text += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  return text + "\r\n" + std::string(body);
}

Response exchange(int port, std::string_view method, std::string_view target,
                  std::string_view body = "", const std::vector<Header>& headers = {}) {
  Socket socket(port);
  EXPECT_TRUE(socket.connected());
  socket.send_all(request_text(method, target, body, headers));
  std::string raw;
  socket.receive_until(
      raw, [](const std::string&) { return false; }, 3s);
  return parse_response(raw, socket.closed());
}

Response post(int port, std::string_view target, std::string_view body,
              const std::vector<Header>& headers = {}) {
  return exchange(port, "POST", target, body, headers);
}

struct Chunks {
  std::vector<std::string> pieces;
  bool terminated = false;  // the zero-length chunk and its CRLF arrived
  bool well_formed = true;  // every chunk that arrived was framed correctly

  std::string joined() const {
    std::string all;
    for (const auto& p : pieces) all += p;
    return all;
  }
};

Chunks dechunk(std::string_view raw) {
  Chunks chunks;
  while (!raw.empty()) {
    size_t line_end = raw.find("\r\n");
    if (line_end == std::string_view::npos) break;
    size_t size = std::stoul(std::string(raw.substr(0, line_end)), nullptr, 16);
    raw.remove_prefix(line_end + 2);
    if (size == 0) {
      chunks.terminated = raw == "\r\n";
      chunks.well_formed = chunks.terminated;
      return chunks;
    }
    if (raw.size() < size + 2 || raw.substr(size, 2) != "\r\n") {
      chunks.well_formed = false;
      return chunks;
    }
    chunks.pieces.emplace_back(raw.substr(0, size));
    raw.remove_prefix(size + 2);
  }
  chunks.well_formed = raw.empty();
  return chunks;
}

// ---------------------------------------------------------------------------
// SSE and JSON on the client side.

struct SseEvent {
  std::string event;  // the `event:` field, "" when absent
  std::string data;
  std::vector<std::string> comments;
};

// Complete events only; CRLF and LF line ends alike.
std::vector<SseEvent> parse_sse(std::string_view body) {
  std::string text;
  for (size_t i = 0; i < body.size(); ++i) {
    if (!(body[i] == '\r' && i + 1 < body.size() && body[i + 1] == '\n')) text += body[i];
  }
  std::vector<SseEvent> events;
  size_t start = 0, end;
  while ((end = text.find("\n\n", start)) != std::string::npos) {
    SseEvent event;
    std::string_view block = std::string_view(text).substr(start, end - start);
    while (!block.empty()) {
      std::string_view line = block.substr(0, block.find('\n'));
      block.remove_prefix(std::min(block.size(), line.size() + 1));
      if (line.substr(0, 1) == ":") event.comments.emplace_back(line.substr(1));
      if (line.substr(0, 7) == "event: ") event.event = std::string(line.substr(7));
      if (line.substr(0, 6) == "data: ") event.data = std::string(line.substr(6));
    }
    events.push_back(std::move(event));
    start = end + 2;
  }
  return events;
}

std::optional<json::value> try_parse(std::string_view text) {
  boost::system::error_code ec;
  json::value value = json::parse(text, ec);
  if (ec) return std::nullopt;
  return value;
}

json::value parse(std::string_view text) {
  auto value = try_parse(text);
  EXPECT_TRUE(value.has_value()) << "not JSON: " << text;
  return value ? *value : json::value();
}

std::vector<SseEvent> data_events(const std::vector<SseEvent>& events) {
  std::vector<SseEvent> out;
  for (const auto& e : events) {
    if (!e.data.empty()) out.push_back(e);
  }
  return out;
}

std::string openai_content(const std::vector<SseEvent>& events) {
  std::string text;
  for (const auto& e : data_events(events)) {
    auto value = try_parse(e.data);
    if (!value || !value->is_object()) continue;
    const auto* choices = value->as_object().if_contains("choices");
    if (!choices || choices->as_array().empty()) continue;
    const auto& delta = choices->as_array()[0].as_object().at("delta").as_object();
    if (const auto* content = delta.if_contains("content")) {
      text += std::string(content->as_string());
    }
  }
  return text;
}

std::string anthropic_content(const std::vector<SseEvent>& events) {
  std::string text;
  for (const auto& e : events) {
    if (e.event != "content_block_delta") continue;
    auto value = try_parse(e.data);
    if (value) text += std::string(value->at("delta").at("text").as_string());
  }
  return text;
}

std::string openai_request(bool stream, bool include_usage = false) {
  json::object request{{"model", "gpt-fake"},
                       {"messages",
                        {{{"role", "system"}, {"content", "You are a storyteller."}},
                         {{"role", "user"}, {"content", "Tell me a story about a lighthouse"}}}},
                       {"stream", stream}};
  if (include_usage) request["stream_options"] = {{"include_usage", true}};
  return json::serialize(request);
}

std::string anthropic_request(bool stream) {
  return json::serialize(json::object{
      {"model", "claude-fake"},
      {"max_tokens", 1024},
      {"system", "You are a storyteller."},
      {"messages", {{{"role", "user"}, {"content", "Tell me a story about a lighthouse"}}}},
      {"stream", stream}});
}

constexpr std::string_view kReply =
    "Fake reply to: «Tell me a story about a lighthouse» café — once upon a time a naïve "
    "lighthouse keeper";
constexpr long long kPromptWords = 11;  // "You are a storyteller." + the user message

std::string chat(std::string_view scenario) {
  return "/s/" + std::string(scenario) + "/v1/chat/completions";
}
std::string messages(std::string_view scenario) {
  return "/s/" + std::string(scenario) + "/v1/messages";
}

std::string error_message(const Response& r) {
  auto value = parse(r.raw_body);
  const auto* error = value.is_object() ? value.as_object().if_contains("error") : nullptr;
  if (!error || !error->is_object()) return "";
  const auto* message = error->as_object().if_contains("message");
  return message && message->is_string() ? std::string(message->as_string()) : "";
}

class FakeLlmServerTest : public ::testing::Test {
 protected:
  FakeLlmServer server;
  int port = server.port();
};

// ---------------------------------------------------------------------------
// Normal replies, both providers, streamed and whole.

TEST_F(FakeLlmServerTest, OpenAiStreamHasRealChunkShapeAndUsage) {
  Response r = post(port, chat("normal"), openai_request(true, true));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-type"), "text/event-stream; charset=utf-8");
  EXPECT_EQ(r.header("transfer-encoding"), "chunked");
  EXPECT_EQ(r.header("connection"), "close");
  EXPECT_FALSE(r.header("content-length"));
  Chunks chunks = dechunk(r.raw_body);
  ASSERT_TRUE(chunks.terminated);
  auto events = parse_sse(chunks.joined());
  // One SSE event per chunk.
  ASSERT_EQ(chunks.pieces.size(), events.size());
  for (const auto& piece : chunks.pieces) EXPECT_EQ(parse_sse(piece).size(), 1u) << piece;
  // role chunk, 20 words, finish chunk, usage chunk, [DONE]
  ASSERT_EQ(events.size(), 24u);
  EXPECT_EQ(openai_content(events), kReply);

  auto first = parse(events[0].data);
  EXPECT_EQ(first.at("object"), "chat.completion.chunk");
  EXPECT_EQ(first.at("model"), "gpt-fake");
  EXPECT_EQ(first.at("choices").at(0).at("delta").at("role"), "assistant");
  EXPECT_TRUE(first.at("choices").at(0).at("finish_reason").is_null());
  EXPECT_TRUE(first.at("usage").is_null());
  auto word = parse(events[1].data);
  EXPECT_EQ(word.at("choices").at(0).at("delta").at("content"), "Fake");
  EXPECT_EQ(word.at("id"), first.at("id"));

  auto finish = parse(events[21].data);
  EXPECT_EQ(finish.at("choices").at(0).at("finish_reason"), "stop");
  EXPECT_TRUE(finish.at("choices").at(0).at("delta").as_object().empty());
  auto usage = parse(events[22].data);
  EXPECT_TRUE(usage.at("choices").as_array().empty());
  EXPECT_EQ(usage.at("usage").at("prompt_tokens"), kPromptWords);
  EXPECT_EQ(usage.at("usage").at("completion_tokens"), 20);
  EXPECT_EQ(usage.at("usage").at("total_tokens"), kPromptWords + 20);
  EXPECT_EQ(events[23].data, "[DONE]");
}

TEST_F(FakeLlmServerTest, OpenAiStreamWithoutIncludeUsageHasNoUsageChunk) {
  Response r = post(port, chat("normal;words=3"), openai_request(true));
  auto events = parse_sse(dechunk(r.raw_body).joined());
  ASSERT_EQ(events.size(), 6u);  // role, 3 words, finish, [DONE]
  EXPECT_EQ(openai_content(events), "Fake reply to:");
  EXPECT_FALSE(parse(events[4].data).as_object().contains("usage"));
  EXPECT_EQ(events[5].data, "[DONE]");
}

TEST_F(FakeLlmServerTest, OpenAiWholeReplyIsOneChatCompletion) {
  Response r = post(port, chat("normal"), openai_request(false));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-type"), "application/json");
  EXPECT_EQ(r.header("content-length"), std::to_string(r.raw_body.size()));
  EXPECT_TRUE(r.header("x-request-id"));
  auto completion = parse(r.raw_body);
  EXPECT_EQ(completion.at("object"), "chat.completion");
  const auto& choice = completion.at("choices").at(0);
  EXPECT_EQ(choice.at("message").at("role"), "assistant");
  EXPECT_EQ(choice.at("message").at("content").as_string(), kReply);
  EXPECT_EQ(choice.at("finish_reason"), "stop");
  EXPECT_EQ(completion.at("usage").at("prompt_tokens"), kPromptWords);
  EXPECT_EQ(completion.at("usage").at("completion_tokens"), 20);
}

TEST_F(FakeLlmServerTest, AnthropicStreamHasTheMessagesEventSequence) {
  Response r = post(port, messages("normal;words=4"), anthropic_request(true));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-type"), "text/event-stream; charset=utf-8");
  EXPECT_TRUE(r.header("request-id"));
  Chunks chunks = dechunk(r.raw_body);
  ASSERT_TRUE(chunks.terminated);
  auto events = parse_sse(chunks.joined());
  ASSERT_EQ(chunks.pieces.size(), events.size());
  std::vector<std::string> names;
  for (const auto& e : events) {
    names.push_back(e.event);
    EXPECT_EQ(parse(e.data).at("type").as_string(), e.event) << "event and data.type agree";
  }
  EXPECT_EQ(names, (std::vector<std::string>{
                       "message_start", "content_block_start", "ping", "content_block_delta",
                       "content_block_delta", "content_block_delta", "content_block_delta",
                       "content_block_stop", "message_delta", "message_stop"}));
  EXPECT_EQ(anthropic_content(events), "Fake reply to: «Tell");
  auto start = parse(events[0].data);
  EXPECT_EQ(start.at("message").at("model"), "claude-fake");
  EXPECT_EQ(start.at("message").at("usage").at("input_tokens"), kPromptWords);
  EXPECT_EQ(parse(events[3].data).at("delta").at("type"), "text_delta");
  auto delta = parse(events[8].data);
  EXPECT_EQ(delta.at("delta").at("stop_reason"), "end_turn");
  EXPECT_EQ(delta.at("usage").at("output_tokens"), 4);
}

TEST_F(FakeLlmServerTest, AnthropicWholeReplyIsOneMessage) {
  Response r = post(port, messages("normal"), anthropic_request(false));
  EXPECT_EQ(r.status, 200);
  auto message = parse(r.raw_body);
  EXPECT_EQ(message.at("type"), "message");
  EXPECT_EQ(message.at("role"), "assistant");
  EXPECT_EQ(message.at("content").at(0).at("type"), "text");
  EXPECT_EQ(message.at("content").at(0).at("text").as_string(), kReply);
  EXPECT_EQ(message.at("stop_reason"), "end_turn");
  EXPECT_EQ(message.at("usage").at("input_tokens"), kPromptWords);
  EXPECT_EQ(message.at("usage").at("output_tokens"), 20);
}

TEST_F(FakeLlmServerTest, ReplyIsDeterministicAndHasMultibyteText) {
  Response a = post(port, chat("normal;words=40"), openai_request(false));
  Response b = post(port, chat("normal;chunks=40"), openai_request(false));
  std::string text(parse(a.raw_body).at("choices").at(0).at("message").at("content").as_string());
  EXPECT_EQ(text, parse(b.raw_body).at("choices").at(0).at("message").at("content").as_string());
  EXPECT_EQ(text.substr(0, kReply.size()), kReply);
  for (std::string_view multibyte : {"«", "é", "—", "ï", "🌙"}) {
    EXPECT_NE(text.find(multibyte), std::string::npos) << multibyte;
  }
}

TEST_F(FakeLlmServerTest, ReplyQuotesTheFirst40CodePointsOfTheLastUserMessage) {
  std::string body = json::serialize(
      json::object{{"model", "m"},
                   {"messages",
                    {{{"role", "user"}, {"content", "ignored"}},
                     {{"role", "assistant"}, {"content", "also ignored"}},
                     {{"role", "user"},
                      {"content",
                       {{{"type", "text"},
                         {"text", "ééééé ééééé ééééé ééééé ééééé ééééé ééééé ééééé tail"}}}}}}}});
  Response r = post(port, chat("normal;words=11"), body);
  EXPECT_EQ(parse(r.raw_body).at("choices").at(0).at("message").at("content"),
            "Fake reply to: «ééééé ééééé ééééé ééééé ééééé ééééé éééé» café");
}

// ---------------------------------------------------------------------------
// Failures first, then success.

TEST_F(FakeLlmServerTest, RateLimitedThenOkFailsTheFirstRequestOnly) {
  Response first = post(port, chat("rate_limited_then_ok"), openai_request(false));
  EXPECT_EQ(first.status, 429);
  EXPECT_EQ(first.header("retry-after"), "1");
  auto error = parse(first.raw_body).at("error");
  EXPECT_EQ(error.at("code"), "rate_limit_exceeded");
  EXPECT_NE(std::string(error.at("message").as_string()).find("Rate limit reached"),
            std::string::npos);
  Response second = post(port, chat("rate_limited_then_ok"), openai_request(false));
  EXPECT_EQ(second.status, 200);
  EXPECT_EQ(server.requests("rate_limited_then_ok"), 2u);
}

TEST_F(FakeLlmServerTest, RateLimitedThenOkHasTheAnthropicErrorShape) {
  Response first = post(port, messages("rate_limited_then_ok"), anthropic_request(true));
  EXPECT_EQ(first.status, 429);
  auto body = parse(first.raw_body);
  EXPECT_EQ(body.at("type"), "error");
  EXPECT_EQ(body.at("error").at("type"), "rate_limit_error");
  EXPECT_EQ(post(port, messages("rate_limited_then_ok"), anthropic_request(true)).status, 200);
}

TEST_F(FakeLlmServerTest, RateLimitedCanSendRetryAfterMs) {
  Response r = post(port, chat("rate_limited_then_ok;retry_after_ms=250"), openai_request(true));
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(r.header("retry-after-ms"), "250");
  EXPECT_FALSE(r.header("retry-after"));
}

TEST_F(FakeLlmServerTest, RateLimitedCanSendAnHttpDateTwoSecondsAhead) {
  Response r = post(port, chat("rate_limited_then_ok;retry_after=date"), openai_request(true));
  ASSERT_EQ(r.status, 429);
  std::string date = r.header("retry-after").value_or("");
  EXPECT_TRUE(std::regex_match(
      date, std::regex(R"([A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT)")))
      << date;
  std::tm parts{};
  ASSERT_NE(strptime(date.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &parts), nullptr);
  long long ahead = static_cast<long long>(timegm(&parts)) - std::time(nullptr);
  EXPECT_GE(ahead, 1);
  EXPECT_LE(ahead, 3);
}

TEST_F(FakeLlmServerTest, RateLimitedTimesAndSecondsAreParameters) {
  std::string s = "rate_limited_then_ok;times=2;retry_after=7";
  EXPECT_EQ(post(port, chat(s), openai_request(false)).header("retry-after"), "7");
  EXPECT_EQ(post(port, chat(s), openai_request(false)).status, 429);
  EXPECT_EQ(post(port, chat(s), openai_request(false)).status, 200);
}

TEST_F(FakeLlmServerTest, ServerErrorThenOkHonoursTimesAndStatus) {
  std::string s = "server_error_then_ok;times=2;status=503";
  Response first = post(port, chat(s), openai_request(true));
  EXPECT_EQ(first.status, 503);
  EXPECT_EQ(parse(first.raw_body).at("error").at("type"), "server_error");
  EXPECT_EQ(post(port, chat(s), openai_request(true)).status, 503);
  EXPECT_EQ(post(port, chat(s), openai_request(true)).status, 200);

  Response anthropic = post(port, messages("server_error_then_ok"), anthropic_request(false));
  EXPECT_EQ(anthropic.status, 500);
  EXPECT_EQ(parse(anthropic.raw_body).at("error").at("type"), "api_error");
  EXPECT_EQ(post(port, messages("server_error_then_ok"), anthropic_request(false)).status, 200);
}

TEST_F(FakeLlmServerTest, UnauthorizedHasEachProvidersShape) {
  Response openai = post(port, chat("unauthorized"), openai_request(true));
  EXPECT_EQ(openai.status, 401);
  auto error = parse(openai.raw_body).at("error");
  EXPECT_EQ(error.at("message"), "Incorrect API key provided");
  EXPECT_EQ(error.at("type"), "invalid_request_error");

  Response anthropic = post(port, messages("unauthorized"), anthropic_request(true));
  EXPECT_EQ(anthropic.status, 401);
  EXPECT_EQ(parse(anthropic.raw_body),
            parse(R"({"type":"error","error":{"type":"authentication_error",
                      "message":"invalid x-api-key"}})"));
}

TEST_F(FakeLlmServerTest, BadRequestNamesMaxTokens) {
  Response openai = post(port, chat("bad_request"), openai_request(false));
  EXPECT_EQ(openai.status, 400);
  EXPECT_TRUE(error_message(openai).starts_with("max_tokens: 999999 is too large"));
  Response anthropic = post(port, messages("bad_request"), anthropic_request(false));
  EXPECT_EQ(anthropic.status, 400);
  EXPECT_EQ(parse(anthropic.raw_body).at("error").at("type"), "invalid_request_error");
  EXPECT_TRUE(error_message(anthropic).starts_with("max_tokens: 999999 > 64000"));
}

// ---------------------------------------------------------------------------
// Broken, odd and slow streams.

TEST_F(FakeLlmServerTest, BreakMidwayClosesWithoutTheZeroChunk) {
  Response r = post(port, chat("break_midway"), openai_request(true));
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.closed);
  Chunks chunks = dechunk(r.raw_body);
  EXPECT_TRUE(chunks.well_formed);
  EXPECT_FALSE(chunks.terminated);
  auto events = parse_sse(chunks.joined());
  EXPECT_EQ(events.size(), 4u);  // role and 3 words
  EXPECT_EQ(openai_content(events), "Fake reply to:");
  EXPECT_EQ(r.raw_body.substr(r.raw_body.size() - 2), "\r\n");  // ends after a whole chunk

  Response anthropic = post(port, messages("break_midway;after=1"), anthropic_request(true));
  Chunks anthropic_chunks = dechunk(anthropic.raw_body);
  EXPECT_FALSE(anthropic_chunks.terminated);
  auto anthropic_events = parse_sse(anthropic_chunks.joined());
  ASSERT_EQ(anthropic_events.size(), 4u);
  EXPECT_EQ(anthropic_events.back().event, "content_block_delta");
}

TEST_F(FakeLlmServerTest, BreakMidwayWholeReplyIsCutShortOfItsContentLength) {
  Response r = post(port, chat("break_midway"), openai_request(false));
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.closed);
  size_t promised = std::stoul(r.header("content-length").value_or("0"));
  EXPECT_GT(promised, 0u);
  EXPECT_EQ(r.raw_body.size(), promised / 2);
}

TEST_F(FakeLlmServerTest, KeepaliveSendsACommentBeforeEveryEvent) {
  Response r = post(port, chat("keepalive;words=3"), openai_request(true));
  Chunks chunks = dechunk(r.raw_body);
  ASSERT_TRUE(chunks.terminated);
  auto events = parse_sse(chunks.joined());
  ASSERT_EQ(events.size(), 12u);  // 6 comments, 6 data events
  for (size_t i = 0; i < events.size(); i += 2) {
    EXPECT_EQ(events[i].comments.size(), 1u);
    EXPECT_TRUE(events[i].data.empty());
    EXPECT_FALSE(events[i + 1].data.empty());
  }
  EXPECT_EQ(events[0].comments[0], " OPENROUTER PROCESSING");
  EXPECT_EQ(events[2].comments[0], " keep-alive");
  EXPECT_EQ(openai_content(events), "Fake reply to:");
}

TEST_F(FakeLlmServerTest, SlowTrickleWaitsBetweenChunks) {
  auto start = Clock::now();
  Response r = post(port, chat("slow_trickle;delay_ms=20;words=4"), openai_request(true));
  auto elapsed = Clock::now() - start;
  EXPECT_TRUE(dechunk(r.raw_body).terminated);
  EXPECT_GE(elapsed, 6 * 20ms);  // 7 events: role, 4 words, finish, [DONE]
  EXPECT_LT(elapsed, 1s);
}

TEST_F(FakeLlmServerTest, MalformedChunkHasOneInvalidDataLineMidStream) {
  Response r = post(port, chat("malformed_chunk;words=6"), openai_request(true));
  Chunks chunks = dechunk(r.raw_body);
  ASSERT_TRUE(chunks.terminated);
  auto events = data_events(parse_sse(chunks.joined()));
  std::vector<size_t> invalid;
  for (size_t i = 0; i < events.size(); ++i) {
    if (events[i].data != "[DONE]" && !try_parse(events[i].data)) invalid.push_back(i);
  }
  EXPECT_EQ(invalid, std::vector<size_t>{4});  // after the role chunk and 3 of 6 words
  EXPECT_EQ(events.back().data, "[DONE]");
  EXPECT_EQ(openai_content(parse_sse(chunks.joined())).substr(0, 14), "Fake reply to:");

  Response anthropic = post(port, messages("malformed_chunk;at=0"), anthropic_request(true));
  auto anthropic_events = parse_sse(dechunk(anthropic.raw_body).joined());
  ASSERT_GT(anthropic_events.size(), 3u);
  EXPECT_EQ(anthropic_events[3].event, "content_block_delta");
  EXPECT_FALSE(try_parse(anthropic_events[3].data));
  EXPECT_EQ(anthropic_events.back().event, "message_stop");
}

TEST_F(FakeLlmServerTest, InStreamErrorEndsTheStreamWithAnErrorObject) {
  Response r = post(port, chat("in_stream_error"), openai_request(true));
  Chunks chunks = dechunk(r.raw_body);
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(chunks.terminated);
  auto events = parse_sse(chunks.joined());
  ASSERT_EQ(events.size(), 5u);  // role, 3 words, the error
  EXPECT_EQ(parse(events.back().data),
            parse(R"({"error":{"message":"The server is overloaded","type":"server_error"}})"));

  Response anthropic = post(port, messages("in_stream_error;after=2"), anthropic_request(true));
  auto anthropic_events = parse_sse(dechunk(anthropic.raw_body).joined());
  ASSERT_EQ(anthropic_events.size(), 6u);  // start, block start, ping, 2 deltas, the error
  EXPECT_EQ(anthropic_events.back().event, "error");
  EXPECT_EQ(
      parse(anthropic_events.back().data),
      parse(R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})"));
}

TEST_F(FakeLlmServerTest, CrlfBytewiseSendsEveryByteInItsOwnChunk) {
  Response r = post(port, chat("crlf_bytewise;split_delay_ms=0"), openai_request(true));
  Chunks chunks = dechunk(r.raw_body);
  ASSERT_TRUE(chunks.terminated);
  for (const auto& piece : chunks.pieces) ASSERT_EQ(piece.size(), 1u);
  std::string body = chunks.joined();
  EXPECT_EQ(body.substr(0, 6), "data: ");
  EXPECT_EQ(body.substr(body.size() - 16), "data: [DONE]\r\n\r\n");
  for (size_t i = 0; i < body.size(); ++i) {
    if (body[i] == '\n') {
      ASSERT_TRUE(i > 0 && body[i - 1] == '\r') << "bare LF at " << i;
    }
  }
  EXPECT_EQ(openai_content(parse_sse(body)), kReply);
}

TEST_F(FakeLlmServerTest, CrlfBytewisePausesInsideCrlfAndMultibyteCharacters) {
  // Every CRLF and the «'s second byte are split points.
  auto start = Clock::now();
  Response r =
      post(port, messages("crlf_bytewise;words=4;split_delay_ms=2"), anthropic_request(true));
  auto elapsed = Clock::now() - start;
  Chunks chunks = dechunk(r.raw_body);
  ASSERT_TRUE(chunks.terminated);
  EXPECT_EQ(anthropic_content(parse_sse(chunks.joined())), "Fake reply to: «Tell");
  EXPECT_GE(elapsed, 20 * 2ms);  // 10 events of two CRLF pairs each, and more
  EXPECT_LT(elapsed, 1500ms);
}

TEST_F(FakeLlmServerTest, RatelimitHeadersForOpenAi) {
  Response r = post(port, chat("ratelimit_headers"), openai_request(true));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("x-ratelimit-limit-requests"), "500");
  EXPECT_EQ(r.header("x-ratelimit-remaining-requests"), "499");
  EXPECT_EQ(r.header("x-ratelimit-reset-requests"), "1s");
  EXPECT_EQ(r.header("x-ratelimit-limit-tokens"), "30000");
  EXPECT_EQ(r.header("x-ratelimit-remaining-tokens"), "29000");
  EXPECT_EQ(r.header("x-ratelimit-reset-tokens"), "6m0s");
  EXPECT_TRUE(dechunk(r.raw_body).terminated);

  Response set = post(port,
                      chat("ratelimit_headers;remaining_requests=0;remaining_tokens=12;"
                           "reset_requests_ms=20;reset_tokens_ms=3690500"),
                      openai_request(false));
  EXPECT_EQ(set.header("x-ratelimit-remaining-requests"), "0");
  EXPECT_EQ(set.header("x-ratelimit-remaining-tokens"), "12");
  EXPECT_EQ(set.header("x-ratelimit-reset-requests"), "20ms");
  EXPECT_EQ(set.header("x-ratelimit-reset-tokens"), "1h1m30.5s");
}

TEST_F(FakeLlmServerTest, RatelimitHeadersForAnthropic) {
  Response r =
      post(port, messages("ratelimit_headers;remaining_requests=0"), anthropic_request(false));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("anthropic-ratelimit-requests-limit"), "500");
  EXPECT_EQ(r.header("anthropic-ratelimit-requests-remaining"), "0");
  EXPECT_EQ(r.header("anthropic-ratelimit-tokens-remaining"), "29000");
  std::regex rfc3339(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z)");
  EXPECT_TRUE(
      std::regex_match(r.header("anthropic-ratelimit-requests-reset").value_or(""), rfc3339));
  EXPECT_TRUE(std::regex_match(r.header("anthropic-ratelimit-tokens-reset").value_or(""), rfc3339));
}

TEST_F(FakeLlmServerTest, StallSendsOneChunkThenSilence) {
  Socket socket(port);
  socket.send_all(
      request_text("POST", chat("stall;stall_ms=150;words=3"), openai_request(true), {}));
  std::string raw;
  auto has = [](std::string_view text) {
    return [text](const std::string& r) { return r.find(text) != std::string::npos; };
  };
  ASSERT_TRUE(socket.receive_until(raw, has(R"({"content":"Fake"})"), 2s));
  auto first_word = Clock::now();
  EXPECT_FALSE(socket.receive_until(raw, has("reply"), 60ms)) << "silence after one word";
  ASSERT_TRUE(socket.receive_until(
      raw, [](const std::string&) { return false; }, 2s));
  EXPECT_GE(Clock::now() - first_word, 100ms);
  EXPECT_EQ(openai_content(parse_sse(dechunk(parse_response(raw, true).raw_body).joined())),
            "Fake reply to:");
}

TEST_F(FakeLlmServerTest, FastSendsSteadyClockTimestamps) {
  auto before = std::chrono::nanoseconds(Clock::now().time_since_epoch()).count();
  Response r = post(port, chat("fast;chunks=50"), openai_request(true, true));
  auto after = std::chrono::nanoseconds(Clock::now().time_since_epoch()).count();
  auto events = parse_sse(dechunk(r.raw_body).joined());
  ASSERT_EQ(events.size(), 54u);  // role, 50 stamps, finish, usage, [DONE]
  long long previous = before;
  std::regex stamp(R"(<t=(\d+)>)");
  for (size_t i = 1; i <= 50; ++i) {
    std::string content(
        parse(events[i].data).at("choices").at(0).at("delta").at("content").as_string());
    std::smatch match;
    ASSERT_TRUE(std::regex_match(content, match, stamp)) << content;
    long long t = std::stoll(match[1].str());
    EXPECT_GE(t, previous);
    EXPECT_LE(t, after);
    previous = t;
  }
  EXPECT_EQ(parse(events[52].data).at("usage").at("completion_tokens"), 50);
}

TEST_F(FakeLlmServerTest, FastWorksForAnthropicAndDefaultsTo1000Chunks) {
  Response r = post(port, messages("fast"), anthropic_request(true));
  auto events = parse_sse(dechunk(r.raw_body).joined());
  size_t deltas = 0;
  for (const auto& e : events) deltas += e.event == "content_block_delta";
  EXPECT_EQ(deltas, 1000u);
}

// ---------------------------------------------------------------------------
// Counters, recorded requests and the control endpoints.

TEST_F(FakeLlmServerTest, BaseUrlNamesTheScenario) {
  EXPECT_EQ(server.base_url("normal~t1"),
            "http://127.0.0.1:" + std::to_string(port) + "/s/normal~t1");
}

TEST_F(FakeLlmServerTest, TagsIsolateCounters) {
  EXPECT_EQ(post(port, chat("rate_limited_then_ok~a"), openai_request(false)).status, 429);
  EXPECT_EQ(post(port, chat("rate_limited_then_ok~a"), openai_request(false)).status, 200);
  EXPECT_EQ(post(port, chat("rate_limited_then_ok~b"), openai_request(false)).status, 429);
  EXPECT_EQ(server.requests("rate_limited_then_ok~a"), 2u);
  EXPECT_EQ(server.requests("rate_limited_then_ok~b"), 1u);
  EXPECT_EQ(server.requests("rate_limited_then_ok"), 0u);
}

TEST_F(FakeLlmServerTest, ResetForgetsCountersAndRecordedRequests) {
  EXPECT_EQ(post(port, chat("rate_limited_then_ok~r"), openai_request(false)).status, 429);
  EXPECT_EQ(server.recorded().size(), 1u);
  server.reset();
  EXPECT_EQ(server.requests("rate_limited_then_ok~r"), 0u);
  EXPECT_TRUE(server.recorded().empty());
  EXPECT_EQ(post(port, chat("rate_limited_then_ok~r"), openai_request(false)).status, 429);
}

TEST_F(FakeLlmServerTest, RecordedRequestsKeepMethodPathHeadersAndBody) {
  std::string body = openai_request(false);
  post(port, chat("normal") + "?trace=1", body,
       {{"Authorization", "Bearer test-key-not-a-secret"}, {"X-Custom", "  padded  "}});
  auto recorded = server.recorded();
  ASSERT_EQ(recorded.size(), 1u);
  EXPECT_EQ(recorded[0].method, "POST");
  EXPECT_EQ(recorded[0].path, "/s/normal/v1/chat/completions?trace=1");
  EXPECT_EQ(recorded[0].body, body);
  // Compared, not printed: header values stand for API keys.
  EXPECT_TRUE(recorded[0].header("authorization") == "Bearer test-key-not-a-secret");
  EXPECT_EQ(recorded[0].header("x-custom"), "padded");
  EXPECT_EQ(recorded[0].header("content-type"), "application/json");
  EXPECT_EQ(recorded[0].header("absent"), "");
}

TEST_F(FakeLlmServerTest, StatsRequestsAndResetEndpoints) {
  post(port, chat("normal~x"), openai_request(false));
  post(port, messages("normal~x"), anthropic_request(false));
  post(port, chat("unauthorized"), openai_request(false), {{"x-api-key", "test-anthropic-key-fake"}});
  Response stats = exchange(port, "GET", "/_stats");
  EXPECT_EQ(stats.status, 200);
  EXPECT_EQ(parse(stats.raw_body),
            parse(R"({"total":3,"requests":{"normal~x":2,"unauthorized":1}})"));

  auto requests = parse(exchange(port, "GET", "/_requests").raw_body).at("requests");
  ASSERT_EQ(requests.as_array().size(), 3u);
  EXPECT_EQ(requests.at(2).at("path"), "/s/unauthorized/v1/chat/completions");
  EXPECT_TRUE(requests.at(2).at("headers").at("x-api-key") == "test-anthropic-key-fake");
  EXPECT_EQ(requests.at(2).at("body").as_string(), openai_request(false));

  EXPECT_EQ(exchange(port, "POST", "/_reset").status, 200);
  EXPECT_EQ(parse(exchange(port, "GET", "/_stats").raw_body),
            parse(R"({"total":0,"requests":{}})"));
  EXPECT_EQ(exchange(port, "GET", "/_reset").status, 404);
  EXPECT_TRUE(server.recorded().empty()) << "control requests are not recorded";
}

// ---------------------------------------------------------------------------
// Requests the fake refuses, like a real provider would.

TEST_F(FakeLlmServerTest, UnknownPathsAre404) {
  Response r = post(port, "/v1/chat/completions", openai_request(false));
  EXPECT_EQ(r.status, 404);
  EXPECT_TRUE(error_message(r).starts_with("Invalid URL (POST /v1/chat/completions)"))
      << error_message(r);
  EXPECT_EQ(exchange(port, "GET", chat("normal")).status, 404);
  EXPECT_EQ(post(port, "/s/normal/chat/completions", openai_request(false)).status, 404);
  EXPECT_EQ(server.requests("normal"), 2u) << "counted even when refused";
}

TEST_F(FakeLlmServerTest, UnknownScenarioIs400NamingIt) {
  Response r = post(port, messages("nonesuch~t;words=2"), anthropic_request(false));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(parse(r.raw_body).at("error").at("type"), "invalid_request_error");
  EXPECT_TRUE(error_message(r).starts_with(
      "unknown fake scenario 'nonesuch' in 'nonesuch~t;words=2' (known: normal, "))
      << error_message(r);
}

TEST_F(FakeLlmServerTest, BadScenarioParametersAre400NamingThem) {
  auto message = [&](std::string_view scenario) {
    return error_message(post(port, chat(scenario), openai_request(false)));
  };
  EXPECT_EQ(message("normal;delay_ms=5"),
            "unknown parameter 'delay_ms' for fake scenario 'normal' (known: words, chunks)");
  EXPECT_EQ(message("slow_trickle;delay_ms=soon"),
            "bad value in 'delay_ms=soon' for fake scenario 'slow_trickle': expected an integer "
            "from 0 to 1000000000");
  EXPECT_EQ(message("normal;words=0"),
            "bad value in 'words=0' for fake scenario 'normal': expected an integer from 1 to "
            "1000000");
  EXPECT_EQ(message("normal;words"),
            "bad parameter 'words' in fake scenario 'normal;words': expected key=value (key: "
            "[a-z0-9_]+, value: [A-Za-z0-9_.-]+)");
  EXPECT_EQ(message("normal;words=2;words=3"),
            "parameter 'words' given twice in fake scenario 'normal;words=2;words=3'");
  EXPECT_EQ(message("normal~"),
            "bad tag in fake scenario 'normal~': after '~' expected letters, digits, '_', '-' or "
            "'.'");
}

TEST_F(FakeLlmServerTest, BadJsonBodyIs400NamingTheProblem) {
  Response r = post(port, chat("normal"), R"({"model": "m", "messages": [)");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(error_message(r),
            "We could not parse the JSON body of your request: incomplete JSON (at byte 28)");
  EXPECT_EQ(error_message(post(port, chat("normal"), R"({"model":"m"})")),
            "messages: Field required");
  EXPECT_EQ(error_message(post(port, chat("normal"), R"({"messages":[]})")),
            "model: Field required");
  EXPECT_EQ(error_message(post(port, chat("normal"), R"({"model":"m","messages":[1]})")),
            "messages.0: Input should be a valid dictionary");
  Response anthropic = post(port, messages("normal"), R"({"model":"m","messages":[]})");
  EXPECT_EQ(anthropic.status, 400);
  EXPECT_EQ(parse(anthropic.raw_body).at("error").at("message"), "max_tokens: Field required");
}

// ---------------------------------------------------------------------------
// Request framing.

TEST_F(FakeLlmServerTest, AcceptsAChunkedRequestBody) {
  std::string body = openai_request(false);
  Socket socket(port);
  socket.send_all("POST " + chat("normal") +
                  " HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
  std::string half = body.substr(0, 10), rest = body.substr(10);
  char size[16];
  std::snprintf(size, sizeof size, "%zx", half.size());
  socket.send_all(std::string(size) + ";ext=1\r\n" + half + "\r\n");
  std::snprintf(size, sizeof size, "%zX", rest.size());
  socket.send_all(std::string(size) + "\r\n" + rest + "\r\n0\r\n\r\n");
  std::string raw;
  socket.receive_until(
      raw, [](const std::string&) { return false; }, 2s);
  EXPECT_EQ(parse_response(raw, true).status, 200);
  ASSERT_EQ(server.recorded().size(), 1u);
  EXPECT_EQ(server.recorded()[0].body, body);
}

TEST_F(FakeLlmServerTest, AnswersExpect100Continue) {
  std::string body = openai_request(false);
  Socket socket(port);
  socket.send_all("POST " + chat("normal") + " HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n" +
                  "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n");
  std::string raw;
  auto continued = [](const std::string& r) { return r == "HTTP/1.1 100 Continue\r\n\r\n"; };
  ASSERT_TRUE(socket.receive_until(raw, continued, 1s));
  ASSERT_FALSE(socket.closed());
  socket.send_all(body);
  raw.clear();
  socket.receive_until(
      raw, [](const std::string&) { return false; }, 2s);
  EXPECT_EQ(parse_response(raw, true).status, 200);
}

// ---------------------------------------------------------------------------
// Shutdown.

// Starts a stream, waits for its first chunk, then times the destructor.
void expect_prompt_destruction(std::string_view scenario) {
  auto server = std::make_unique<FakeLlmServer>();
  Socket socket(server->port());
  socket.send_all(request_text("POST", chat(scenario), openai_request(true), {}));
  std::string raw;
  auto first_chunk = [](const std::string& r) {
    return r.find("chat.completion.chunk") != std::string::npos;
  };
  ASSERT_TRUE(socket.receive_until(raw, first_chunk, 2s));
  auto start = Clock::now();
  server.reset();
  EXPECT_LT(Clock::now() - start, 1s);
  ASSERT_TRUE(socket.receive_until(
      raw, [](const std::string&) { return false; }, 1s));
  EXPECT_TRUE(socket.closed());
  EXPECT_FALSE(dechunk(parse_response(raw, true).raw_body).terminated);
}

TEST(FakeLlmServerShutdown, DestructorIsPromptDuringSlowTrickle) {
  expect_prompt_destruction("slow_trickle;delay_ms=10000");
}

TEST(FakeLlmServerShutdown, DestructorIsPromptDuringStall) { expect_prompt_destruction("stall"); }

TEST(FakeLlmServerShutdown, DestructorIsPromptWithIdleAndHalfSentRequests) {
  auto server = std::make_unique<FakeLlmServer>();
  Socket idle(server->port());
  Socket half(server->port());
  half.send_all("POST /s/normal/v1/messages HTTP/1.1\r\nContent-Length: 100\r\n\r\n{");
  std::this_thread::sleep_for(20ms);  // lets the server accept both
  auto start = Clock::now();
  server.reset();
  EXPECT_LT(Clock::now() - start, 1s);
}

TEST(FakeLlmServerShutdown, ManySequentialConnectionsAreServed) {
  FakeLlmServer server;
  for (int i = 0; i < 200; ++i) {
    ASSERT_EQ(post(server.port(), chat("normal;words=1"), openai_request(false)).status, 200);
  }
  EXPECT_EQ(server.requests("normal;words=1"), 200u);
}

TEST(FakeLlmServerShutdown, ListeningOnATakenPortThrows) {
  FakeLlmServer first;
  EXPECT_THROW(FakeLlmServer second(first.port()), std::system_error);
}

// ---------------------------------------------------------------------------
// The program the Node and Python tests spawn.

class ServerProcess {
 public:
  explicit ServerProcess(std::vector<std::string> args = {}) {
    int in[2], out[2], err[2];  // close-on-exec; the child's dup2 copies are not
    EXPECT_EQ(::pipe2(in, O_CLOEXEC), 0);
    EXPECT_EQ(::pipe2(out, O_CLOEXEC), 0);
    EXPECT_EQ(::pipe2(err, O_CLOEXEC), 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in[0], STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, err[1], STDERR_FILENO);
    args.insert(args.begin(), FAKE_LLM_SERVER_PROGRAM);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    EXPECT_EQ(posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ), 0);
    posix_spawn_file_actions_destroy(&actions);
    for (int fd : {in[0], out[1], err[1]}) ::close(fd);
    stdin_ = in[1];
    stdout_ = out[0];
    stderr_ = err[0];
  }
  ~ServerProcess() {
    if (pid_ > 0 && !exit_status_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    close_stdin();
    ::close(stdout_);
    ::close(stderr_);
  }
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  // What the program wrote to stdout: up to the first line, or (`until_eof`)
  // until it closed stdout; at most until `limit` passes.
  std::string read_stdout(std::chrono::milliseconds limit, bool until_eof) {
    return read(stdout_, limit, until_eof);
  }
  std::string read_stderr(std::chrono::milliseconds limit) { return read(stderr_, limit, true); }

  void close_stdin() {
    if (stdin_ >= 0) ::close(stdin_);
    stdin_ = -1;
  }
  void signal(int number) { ::kill(pid_, number); }

  // The exit status once the program has exited within `limit`.
  std::optional<int> wait_exit(std::chrono::milliseconds limit) {
    auto deadline = Clock::now() + limit;
    while (Clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        return exit_status_;
      }
      std::this_thread::sleep_for(1ms);
    }
    return std::nullopt;
  }

 private:
  static std::string read(int fd, std::chrono::milliseconds limit, bool until_eof) {
    std::string text;
    auto deadline = Clock::now() + limit;
    while (Clock::now() < deadline) {
      if (!until_eof && text.find('\n') != std::string::npos) break;
      pollfd fds{fd, POLLIN, 0};
      if (::poll(&fds, 1, 10) <= 0) continue;
      char bytes[256];
      ssize_t n = ::read(fd, bytes, sizeof bytes);
      if (n <= 0) break;
      text.append(bytes, static_cast<size_t>(n));
    }
    return text;
  }

  pid_t pid_ = -1;
  int stdin_ = -1;
  int stdout_ = -1;
  int stderr_ = -1;
  std::optional<int> exit_status_;
};

int port_of(const std::string& line) {
  std::smatch match;
  EXPECT_TRUE(std::regex_match(line, match, std::regex(R"(port (\d+)\n)"))) << line;
  return match.empty() ? 0 : std::stoi(match[1]);
}

TEST(FakeLlmServerProgram, PrintsItsPortAndStopsWhenStdinCloses) {
  ServerProcess process;
  int port = port_of(process.read_stdout(2s, false));
  ASSERT_GT(port, 0);
  EXPECT_EQ(post(port, chat("normal"), openai_request(false)).status, 200);
  EXPECT_EQ(parse(exchange(port, "GET", "/_stats").raw_body).at("total"), 1);
  process.close_stdin();
  EXPECT_EQ(process.wait_exit(1s), 0);
  EXPECT_EQ(process.read_stdout(100ms, true), "") << "nothing after the port line";
}

TEST(FakeLlmServerProgram, StopsOnSigterm) {
  ServerProcess process;
  int port = port_of(process.read_stdout(2s, false));
  ASSERT_GT(port, 0);
  // Mid-stream, to show the stop does not wait for the response.
  Socket socket(port);
  socket.send_all(request_text("POST", chat("stall"), openai_request(true), {}));
  std::string raw;
  socket.receive_until(
      raw, [](const std::string& r) { return r.find("Fake") != std::string::npos; }, 2s);
  process.signal(SIGTERM);
  EXPECT_EQ(process.wait_exit(1s), 0);
}

TEST(FakeLlmServerProgram, ListensOnTheGivenPort) {
  int free_port = 0;
  {
    FakeLlmServer probe;  // the port is free again once the probe is gone
    free_port = probe.port();
  }
  ServerProcess process({"--port", std::to_string(free_port)});
  EXPECT_EQ(port_of(process.read_stdout(2s, false)), free_port);
  process.close_stdin();
  EXPECT_EQ(process.wait_exit(1s), 0);
}

TEST(FakeLlmServerProgram, RefusesABadPort) {
  ServerProcess process({"--port", "http"});
  EXPECT_EQ(process.wait_exit(1s), 2);
  EXPECT_EQ(process.read_stdout(100ms, true), "");
  EXPECT_EQ(process.read_stderr(100ms),
            "fake_llm_server: --port takes a number from 0 to 65535\n"
            "usage: fake_llm_server [--port N]\n");
}

// ---------------------------------------------------------------------------
// Gemini, quota, key echoes, truncation, cut streams, structured output.

std::string gemini(std::string_view scenario, bool stream = true) {
  return "/s/" + std::string(scenario) + "/v1beta/models/gemini-fake:" +
         (stream ? "streamGenerateContent?alt=sse" : "generateContent");
}

std::string gemini_request() {
  return R"({"systemInstruction":{"parts":[{"text":"You are a storyteller."}]},
             "contents":[{"role":"user","parts":[{"text":"Tell me a story about a lighthouse"}]}],
             "generationConfig":{"maxOutputTokens":100}})";
}

TEST_F(FakeLlmServerTest, GeminiStreamIsOneResponsePerWordThenTheFinish) {
  Response r = post(port, gemini("normal"), gemini_request(), {{"x-goog-api-key", "k"}});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-type"), "text/event-stream; charset=utf-8");
  auto events = parse_sse(dechunk(r.raw_body).joined());
  ASSERT_EQ(events.size(), 21u);  // 20 words and the finish
  std::string text;
  for (const auto& e : events) {
    auto o = parse(e.data).as_object();
    EXPECT_EQ(o.at("modelVersion"), "gemini-fake");
    text += std::string(o.at("candidates").at(0).at("content").at("parts").at(0).at("text").as_string());
  }
  EXPECT_EQ(text, kReply);
  auto last = parse(events.back().data).as_object();
  EXPECT_EQ(last.at("candidates").at(0).at("finishReason"), "STOP");
  EXPECT_EQ(last.at("usageMetadata").at("promptTokenCount"), kPromptWords);
  EXPECT_EQ(last.at("usageMetadata").at("candidatesTokenCount"), 20);
  EXPECT_EQ(last.at("usageMetadata").at("totalTokenCount"), kPromptWords + 20);
}

TEST_F(FakeLlmServerTest, GeminiWholeReplyAndErrors) {
  Response whole = post(port, gemini("normal", false), gemini_request());
  EXPECT_EQ(whole.status, 200);
  auto o = parse(whole.raw_body).as_object();
  EXPECT_EQ(
      std::string(o.at("candidates").at(0).at("content").at("parts").at(0).at("text").as_string()),
      kReply);
  Response limited = post(port, gemini("rate_limited_then_ok"), gemini_request());
  EXPECT_EQ(limited.status, 429);
  auto error = parse(limited.raw_body).at("error").as_object();
  EXPECT_EQ(error.at("status"), "RESOURCE_EXHAUSTED");
  EXPECT_EQ(error.at("details").at(1).at("retryDelay"), "1s");
  Response quota = post(port, gemini("quota"), gemini_request());
  EXPECT_EQ(quota.status, 429);
  EXPECT_NE(quota.raw_body.find("PerDay"), std::string::npos);
  Response missing = post(port, gemini("normal"), R"({"generationConfig":{}})");
  EXPECT_EQ(missing.status, 400);
  EXPECT_NE(missing.raw_body.find("contents is not specified"), std::string::npos);
}

TEST_F(FakeLlmServerTest, QuotaAnswersHaveEachProvidersStatusAndShape) {
  EXPECT_EQ(post(port, chat("quota"), openai_request(false)).status, 429);
  EXPECT_NE(post(port, chat("quota"), openai_request(false)).raw_body.find("insufficient_quota"),
            std::string::npos);
  Response openrouter = post(port, chat("quota;variant=openrouter"), openai_request(false));
  EXPECT_EQ(openrouter.status, 402);
  EXPECT_TRUE(error_message(openrouter).starts_with("Insufficient credits"));
  Response anthropic = post(port, messages("quota"), anthropic_request(false));
  EXPECT_EQ(anthropic.status, 400);
  EXPECT_TRUE(error_message(anthropic).starts_with("Your credit balance is too low"));
  EXPECT_EQ(post(port, messages("quota;variant=billing"), anthropic_request(false)).status, 402);
  Response bad = post(port, chat("quota;variant=nope"), openai_request(false));
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(error_message(bad).find("expected default, openrouter, billing or usage_limit"),
            std::string::npos);
}

TEST_F(FakeLlmServerTest, EchoKeySpellsTheRequestsKey) {
  const std::vector<Header> bearer = {{"Authorization", "Bearer test-key-not-a-secret-0123456789"}};
  auto echoed = [&](const char* spelling) {
    return error_message(
        post(port, chat(std::string("echo_key;spelling=") + spelling), openai_request(false), bearer));
  };
  EXPECT_EQ(echoed("raw"), "Incorrect API key provided: test-key-not-a-secret-0123456789");
  EXPECT_EQ(echoed("upper"), "Incorrect API key provided: TEST-KEY-NOT-A-SECRET-0123456789");
  EXPECT_EQ(echoed("url"),
            "Incorrect API key provided: test%2Dkey%2Dnot%2Da%2Dsecret%2D0123456789");
  EXPECT_EQ(echoed("prefix"), "Incorrect API key provided: test-key-not-a...");
  EXPECT_EQ(echoed("masked"), "Incorrect API key provided: test-key-not********6789");
  EXPECT_EQ(echoed("base64"),
            "Incorrect API key provided: dGVzdC1rZXktbm90LWEtc2VjcmV0LTAxMjM0NTY3ODk=");
  Response anthropic = post(port, messages("echo_key"), anthropic_request(false),
                            {{"x-api-key", "test-key-anthropic"}});
  EXPECT_EQ(anthropic.status, 401);
  EXPECT_EQ(error_message(anthropic), "Incorrect API key provided: test-key-anthropic");
}

TEST_F(FakeLlmServerTest, TruncatedAndUnterminated) {
  Response truncated = post(port, messages("truncated"), anthropic_request(false));
  EXPECT_EQ(parse(truncated.raw_body).at("stop_reason"), "max_tokens");
  Response cut = post(port, chat("unterminated"), openai_request(true));
  std::string body = dechunk(cut.raw_body).joined();
  EXPECT_TRUE(body.ends_with("data: [DONE]\n")) << body.substr(body.size() - 20);
  EXPECT_FALSE(body.ends_with("\n\n"));
}

TEST_F(FakeLlmServerTest, StructuredOutputRequestsGetJsonFillingTheSchema) {
  std::string request = R"({"model":"m","messages":[{"role":"user","content":"Outline it"}],
      "response_format":{"type":"json_schema","json_schema":{"name":"a","schema":
        {"type":"object","properties":{"title":{"type":"string"},"n":{"type":"integer"}}}}}})";
  Response r = post(port, chat("normal"), request);
  auto content = parse(r.raw_body).at("choices").at(0).at("message").at("content");
  std::string text(content.as_string());
  EXPECT_EQ(parse(text), parse(std::string_view(R"({"title":"title of «Outline it»","n":1})")));
}

}  // namespace
}  // namespace storyloom::testing
