// The fake LLM server: scenario grammar, reply text, the two provider wire
// formats, HTTP/1.1 over POSIX sockets, and the server's threads, in that order.
// FAKE_LLM_SERVER.md is the reference for what each scenario sends.
#include "fake_llm_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <functional>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

namespace storyloom::testing {

std::string RecordedRequest::header(std::string_view lowercase_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lowercase_name) return value;
  }
  return "";
}

namespace {

namespace json = boost::json;
using Header = std::pair<std::string, std::string>;
using std::chrono::microseconds;
using std::chrono::milliseconds;

// ---------------------------------------------------------------------------
// Scenario grammar: name[~tag](;key=value)*

enum class Scenario {
  normal,
  rate_limited_then_ok,
  server_error_then_ok,
  unauthorized,
  bad_request,
  break_midway,
  keepalive,
  slow_trickle,
  malformed_chunk,
  in_stream_error,
  crlf_bytewise,
  ratelimit_headers,
  stall,
  fast,
};

struct ScenarioDefinition {
  std::string_view name;
  Scenario scenario;
  std::vector<std::string_view> parameters;  // besides words/chunks, which every scenario takes
};

const std::vector<ScenarioDefinition>& scenario_definitions() {
  static const std::vector<ScenarioDefinition> definitions = {
      {"normal", Scenario::normal, {}},
      {"rate_limited_then_ok",
       Scenario::rate_limited_then_ok,
       {"times", "retry_after", "retry_after_ms"}},
      {"server_error_then_ok", Scenario::server_error_then_ok, {"times", "status"}},
      {"unauthorized", Scenario::unauthorized, {}},
      {"bad_request", Scenario::bad_request, {}},
      {"break_midway", Scenario::break_midway, {"after"}},
      {"keepalive", Scenario::keepalive, {}},
      {"slow_trickle", Scenario::slow_trickle, {"delay_ms"}},
      {"malformed_chunk", Scenario::malformed_chunk, {"at"}},
      {"in_stream_error", Scenario::in_stream_error, {"after"}},
      {"crlf_bytewise", Scenario::crlf_bytewise, {"split_delay_ms"}},
      {"ratelimit_headers",
       Scenario::ratelimit_headers,
       {"limit_requests", "remaining_requests", "reset_requests_ms", "limit_tokens",
        "remaining_tokens", "reset_tokens_ms"}},
      {"stall", Scenario::stall, {"stall_ms"}},
      {"fast", Scenario::fast, {"interval_us"}},
  };
  return definitions;
}

struct ScenarioSpec {
  Scenario scenario = Scenario::normal;
  std::string name;
  std::map<std::string, std::string, std::less<>> parameters;

  bool has(std::string_view key) const { return parameters.find(key) != parameters.end(); }
  std::string text(std::string_view key) const {
    auto it = parameters.find(key);
    return it == parameters.end() ? "" : it->second;
  }
  // Values were checked when parsed; `fallback` when the parameter is absent.
  long long number(std::string_view key, long long fallback) const {
    auto it = parameters.find(key);
    if (it == parameters.end()) return fallback;
    long long value = fallback;
    std::from_chars(it->second.data(), it->second.data() + it->second.size(), value);
    return value;
  }
  // The number of content chunks (one word each): `words`, or its synonym `chunks`.
  long long words() const {
    long long fallback = scenario == Scenario::fast ? 1000 : 20;
    return number("words", number("chunks", fallback));
  }
};

struct ScenarioParse {
  std::optional<ScenarioSpec> spec;
  std::string error;  // when spec is empty
};

bool is_lower_name(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

bool is_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
  });
}

std::optional<long long> parse_integer(std::string_view s) {
  long long value = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return value;
}

// Checks one value; returns what is wrong with it, or "" when it is fine.
std::string check_parameter(std::string_view key, std::string_view value) {
  long long low = 0, high = 1'000'000'000;
  if (key == "words" || key == "chunks") {
    low = 1;
    high = 1'000'000;
  } else if (key == "status") {
    low = 400;
    high = 599;
  } else if (key == "retry_after" && value == "date") {
    return "";
  }
  auto number = parse_integer(value);
  if (number && *number >= low && *number <= high) return "";
  std::string expected = "an integer from " + std::to_string(low) + " to " + std::to_string(high);
  if (key == "retry_after") expected += ", or 'date'";
  return "expected " + expected;
}

std::string join(const std::vector<std::string_view>& items) {
  std::string out;
  for (auto item : items) out += (out.empty() ? "" : ", ") + std::string(item);
  return out;
}

ScenarioParse parse_scenario(std::string_view segment) {
  auto fail = [](std::string message) { return ScenarioParse{std::nullopt, std::move(message)}; };
  std::string quoted = "'" + std::string(segment) + "'";
  size_t semicolon = segment.find(';');
  std::string_view head = segment.substr(0, semicolon);
  std::string_view name = head.substr(0, head.find('~'));
  const ScenarioDefinition* definition = nullptr;
  for (const auto& d : scenario_definitions()) {
    if (d.name == name) definition = &d;
  }
  if (!definition) {
    std::vector<std::string_view> names;
    for (const auto& d : scenario_definitions()) names.push_back(d.name);
    std::string in = name.size() < segment.size() ? " in " + quoted : "";
    return fail("unknown fake scenario '" + std::string(name) + "'" + in +
                " (known: " + join(names) + ")");
  }
  if (name.size() < head.size() && !is_token(head.substr(name.size() + 1))) {
    return fail("bad tag in fake scenario " + quoted +
                ": after '~' expected letters, digits, '_', '-' or '.'");
  }
  ScenarioSpec spec;
  spec.scenario = definition->scenario;
  spec.name = std::string(name);
  std::vector<std::string_view> known = {"words", "chunks"};
  known.insert(known.end(), definition->parameters.begin(), definition->parameters.end());
  std::string_view rest = semicolon == std::string_view::npos ? "" : segment.substr(semicolon);
  while (!rest.empty()) {
    rest.remove_prefix(1);  // the ';'
    std::string_view pair = rest.substr(0, rest.find(';'));
    rest.remove_prefix(pair.size());
    size_t equals = pair.find('=');
    std::string_view key = pair.substr(0, equals);
    std::string_view value = equals == std::string_view::npos ? "" : pair.substr(equals + 1);
    if (equals == std::string_view::npos || !is_lower_name(key) || !is_token(value)) {
      return fail("bad parameter '" + std::string(pair) + "' in fake scenario " + quoted +
                  ": expected key=value (key: [a-z0-9_]+, value: [A-Za-z0-9_.-]+)");
    }
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      return fail("unknown parameter '" + std::string(key) + "' for fake scenario '" + spec.name +
                  "' (known: " + join(known) + ")");
    }
    if (std::string why = check_parameter(key, value); !why.empty()) {
      return fail("bad value in '" + std::string(pair) + "' for fake scenario '" + spec.name +
                  "': " + why);
    }
    if (!spec.parameters.emplace(std::string(key), std::string(value)).second) {
      return fail("parameter '" + std::string(key) + "' given twice in fake scenario " + quoted);
    }
  }
  return ScenarioParse{std::move(spec), ""};
}

// ---------------------------------------------------------------------------
// The prompt (what the fake reads from a request) and the reply text.

enum class Provider { openai, anthropic };

struct Prompt {
  std::string model;
  bool stream = false;
  bool include_usage = false;  // OpenAI stream_options.include_usage
  std::string last_user_text;
  long long prompt_words = 0;
};

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'; }

std::vector<std::string> split_words(std::string_view text) {
  std::vector<std::string> words;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && is_space(text[i])) ++i;
    size_t start = i;
    while (i < text.size() && !is_space(text[i])) ++i;
    if (i > start) words.emplace_back(text.substr(start, i - start));
  }
  return words;
}

// The first `count` code points of valid UTF-8 text.
std::string_view first_code_points(std::string_view text, size_t count) {
  size_t i = 0;
  for (size_t seen = 0; i < text.size(); ++i) {
    bool starts_code_point = (static_cast<unsigned char>(text[i]) & 0xC0) != 0x80;
    if (starts_code_point && seen++ == count) break;
  }
  return text.substr(0, i);
}

// The text of a message's (or a system prompt's) content: a string, or the
// "text" fields of an array of parts.
std::string content_text(const json::value& content) {
  if (const auto* s = content.if_string()) return std::string(*s);
  std::string text;
  if (const auto* parts = content.if_array()) {
    for (const auto& part : *parts) {
      const auto* object = part.if_object();
      const json::value* part_text = object ? object->if_contains("text") : nullptr;
      if (part_text && part_text->is_string()) {
        text += (text.empty() ? "" : " ") + std::string(part_text->get_string());
      }
    }
  }
  return text;
}

std::string parse_json(std::string_view body, json::value& out) {
  json::stream_parser parser;
  boost::system::error_code ec;
  size_t used = parser.write(body.data(), body.size(), ec);
  if (!ec) parser.finish(ec);
  if (ec) {
    return "We could not parse the JSON body of your request: " + ec.message() + " (at byte " +
           std::to_string(used) + ")";
  }
  out = parser.release();
  return "";
}

// Reads what the fake needs and refuses what a real provider would refuse
// (field messages in the providers' `field: problem` style). Returns the
// problem, or "" and fills `prompt`.
std::string read_prompt(Provider provider, std::string_view body, Prompt& prompt) {
  json::value value;
  if (std::string problem = parse_json(body, value); !problem.empty()) return problem;
  const json::object* request = value.if_object();
  if (!request) return "The request body must be a JSON object";
  auto field = [&](std::string_view key) { return request->if_contains(key); };
  const json::value* model = field("model");
  if (!model) return "model: Field required";
  if (!model->is_string()) return "model: Input should be a valid string";
  prompt.model = std::string(model->get_string());
  const json::value* messages = field("messages");
  if (!messages) return "messages: Field required";
  if (!messages->is_array()) return "messages: Input should be a valid list";
  if (provider == Provider::anthropic) {
    const json::value* max_tokens = field("max_tokens");
    if (!max_tokens) return "max_tokens: Field required";
    if (!max_tokens->is_int64() && !max_tokens->is_uint64()) {
      return "max_tokens: Input should be a valid integer";
    }
    if (const json::value* system = field("system")) {
      prompt.prompt_words += static_cast<long long>(split_words(content_text(*system)).size());
    }
  }
  if (const json::value* stream = field("stream"); stream && !stream->is_null()) {
    if (!stream->is_bool()) return "stream: Input should be a valid boolean";
    prompt.stream = stream->get_bool();
  }
  if (const json::value* options = field("stream_options"); options && options->is_object()) {
    const json::value* include = options->get_object().if_contains("include_usage");
    prompt.include_usage = include && include->is_bool() && include->get_bool();
  }
  size_t index = 0;
  for (const auto& message : messages->get_array()) {
    std::string where = "messages." + std::to_string(index++);
    const json::object* object = message.if_object();
    if (!object) return where + ": Input should be a valid dictionary";
    const json::value* role = object->if_contains("role");
    if (!role || !role->is_string()) return where + ".role: Field required";
    const json::value* content = object->if_contains("content");
    std::string text = content ? content_text(*content) : "";
    prompt.prompt_words += static_cast<long long>(split_words(text).size());
    if (role->get_string() == "user") prompt.last_user_text = std::move(text);
  }
  return "";
}

// The first `count` words of: Fake reply to: «<first 40 code points of the
// last user message>» then filler words, cycling. The filler holds 2-, 3- and
// 4-byte UTF-8 characters so clients meet multibyte text early.
std::vector<std::string> reply_words(std::string_view last_user_text, size_t count) {
  static const std::vector<std::string_view> filler = {
      "café",   "—",    "once", "upon",  "a",  "time", "a",   "naïve", "lighthouse",
      "keeper", "told", "🌙",    "tales", "by", "the",  "sea", "until", "dawn."};
  std::vector<std::string> words = {"Fake", "reply", "to:"};
  std::vector<std::string> quoted = split_words(first_code_points(last_user_text, 40));
  if (quoted.empty()) quoted.emplace_back();
  quoted.front() = "«" + quoted.front();
  quoted.back() += "»";
  words.insert(words.end(), quoted.begin(), quoted.end());
  for (size_t i = 0; words.size() < count; ++i) words.emplace_back(filler[i % filler.size()]);
  words.resize(count);
  return words;
}

// Content chunk `i`: a word, with a leading space after the first (as tokens come).
std::string content_piece(const std::vector<std::string>& words, size_t i) {
  return (i == 0 ? "" : " ") + words[i];
}

std::string joined_text(const std::vector<std::string>& words) {
  std::string text;
  for (size_t i = 0; i < words.size(); ++i) text += content_piece(words, i);
  return text;
}

// The `fast` scenario's content: the steady clock now, for latency measurement.
std::string timestamp_piece() {
  auto now = std::chrono::steady_clock::now().time_since_epoch();
  return "<t=" + std::to_string(std::chrono::nanoseconds(now).count()) + ">";
}

// ---------------------------------------------------------------------------
// Provider wire formats.

struct Usage {
  long long prompt_tokens = 0;
  long long completion_tokens = 0;
};

enum class Failure {
  rate_limited,
  server_error,
  unauthorized,
  bad_request,      // the bad_request scenario's canned max_tokens complaint
  invalid_request,  // a real problem with the request; the message says which
  not_found,
  overloaded,
};

std::string error_body(Provider provider, Failure failure, std::string_view message = "") {
  std::string text(message);
  if (provider == Provider::anthropic) {
    std::string type = "invalid_request_error";
    switch (failure) {
      case Failure::rate_limited:
        type = "rate_limit_error";
        text = "Number of requests has exceeded your per-minute rate limit";
        break;
      case Failure::server_error:
        type = "api_error";
        text = "Internal server error";
        break;
      case Failure::unauthorized:
        type = "authentication_error";
        text = "invalid x-api-key";
        break;
      case Failure::bad_request:
        text =
            "max_tokens: 999999 > 64000, which is the maximum allowed number of output tokens "
            "for this model";
        break;
      case Failure::invalid_request:
        break;
      case Failure::not_found:
        type = "not_found_error";
        break;
      case Failure::overloaded:
        type = "overloaded_error";
        text = "Overloaded";
        break;
    }
    return json::serialize(
        json::object{{"type", "error"}, {"error", {{"type", type}, {"message", text}}}});
  }
  json::object error;
  switch (failure) {
    case Failure::rate_limited:
      error = {{"message",
                "Rate limit reached for requests per min (RPM): Limit 3, Used 3, Requested 1. "
                "Please try again in 1s."},
               {"type", "requests"},
               {"param", nullptr},
               {"code", "rate_limit_exceeded"}};
      break;
    case Failure::server_error:
      error = {
          {"message", "The server had an error while processing your request. Sorry about that!"},
          {"type", "server_error"},
          {"param", nullptr},
          {"code", nullptr}};
      break;
    case Failure::unauthorized:
      error = {{"message", "Incorrect API key provided"},
               {"type", "invalid_request_error"},
               {"param", nullptr},
               {"code", "invalid_api_key"}};
      break;
    case Failure::bad_request:
      error = {{"message",
                "max_tokens: 999999 is too large. This model supports at most 16384 completion "
                "tokens, whereas you provided 999999."},
               {"type", "invalid_request_error"},
               {"param", "max_tokens"},
               {"code", nullptr}};
      break;
    case Failure::invalid_request:
    case Failure::not_found:
      error = {{"message", text},
               {"type", "invalid_request_error"},
               {"param", nullptr},
               {"code", failure == Failure::not_found ? json::value("unknown_url") : nullptr}};
      break;
    case Failure::overloaded:
      error = {{"message", "The server is overloaded"}, {"type", "server_error"}};
      break;
  }
  return json::serialize(json::object{{"error", std::move(error)}});
}

// What a provider sends for a successful reply, streamed or whole. Stream
// pieces are whole SSE events with "\n" line ends.
class ProviderFormat {
 public:
  virtual ~ProviderFormat() = default;
  virtual std::vector<std::string> stream_opening() const = 0;
  virtual std::string stream_content(std::string_view piece) const = 0;
  virtual std::vector<std::string> stream_closing(const Usage& usage) const = 0;
  virtual std::string stream_error() const = 0;
  // An event whose JSON is cut off: what a buggy proxy sends.
  virtual std::string stream_malformed() const = 0;
  virtual std::string whole(std::string_view text, const Usage& usage) const = 0;
};

// Fixed so replies are byte-for-byte reproducible.
constexpr long long kCreated = 1700000000;

class OpenAiFormat final : public ProviderFormat {
 public:
  OpenAiFormat(std::string id, const Prompt& prompt)
      : id_(std::move(id)), model_(prompt.model), include_usage_(prompt.include_usage) {}

  std::vector<std::string> stream_opening() const override {
    return {chunk(json::object{{"role", "assistant"}, {"content", ""}}, nullptr)};
  }
  std::string stream_content(std::string_view piece) const override {
    return chunk(json::object{{"content", piece}}, nullptr);
  }
  std::vector<std::string> stream_closing(const Usage& usage) const override {
    std::vector<std::string> events = {chunk(json::object{}, "stop")};
    if (include_usage_) {
      json::object last = base("chat.completion.chunk");
      last["choices"] = json::array{};
      last["usage"] = usage_json(usage);
      events.push_back(data(last));
    }
    events.emplace_back("data: [DONE]\n\n");
    return events;
  }
  std::string stream_error() const override {
    return "data: " + error_body(Provider::openai, Failure::overloaded) + "\n\n";
  }
  std::string stream_malformed() const override {
    return "data: {\"id\":\"" + id_ + "\",\"object\":\"chat.completion.chunk\",\"choices\":[{\n\n";
  }
  std::string whole(std::string_view text, const Usage& usage) const override {
    json::object completion = base("chat.completion");
    completion["choices"] = json::array{
        json::object{{"index", 0},
                     {"message", {{"role", "assistant"}, {"content", text}, {"refusal", nullptr}}},
                     {"logprobs", nullptr},
                     {"finish_reason", "stop"}}};
    completion["usage"] = usage_json(usage);
    return json::serialize(completion);
  }

 private:
  json::object base(std::string_view object) const {
    return json::object{{"id", id_},
                        {"object", object},
                        {"created", kCreated},
                        {"model", model_},
                        {"system_fingerprint", "fp_fake"}};
  }
  std::string chunk(json::object delta, json::value finish_reason) const {
    json::object c = base("chat.completion.chunk");
    c["choices"] = json::array{json::object{{"index", 0},
                                            {"delta", std::move(delta)},
                                            {"logprobs", nullptr},
                                            {"finish_reason", std::move(finish_reason)}}};
    if (include_usage_) c["usage"] = nullptr;
    return data(c);
  }
  static std::string data(const json::object& o) { return "data: " + json::serialize(o) + "\n\n"; }
  static json::object usage_json(const Usage& u) {
    return json::object{{"prompt_tokens", u.prompt_tokens},
                        {"completion_tokens", u.completion_tokens},
                        {"total_tokens", u.prompt_tokens + u.completion_tokens}};
  }

  std::string id_;
  std::string model_;
  bool include_usage_;
};

class AnthropicFormat final : public ProviderFormat {
 public:
  AnthropicFormat(std::string id, const Prompt& prompt, long long input_tokens)
      : id_(std::move(id)), model_(prompt.model), input_tokens_(input_tokens) {}

  std::vector<std::string> stream_opening() const override {
    json::object message = message_base();
    message["content"] = json::array{};
    message["stop_reason"] = nullptr;
    message["usage"] = {{"input_tokens", input_tokens_}, {"output_tokens", 1}};
    return {
        event("message_start", {{"type", "message_start"}, {"message", std::move(message)}}),
        event("content_block_start", {{"type", "content_block_start"},
                                      {"index", 0},
                                      {"content_block", {{"type", "text"}, {"text", ""}}}}),
        event("ping", {{"type", "ping"}}),
    };
  }
  std::string stream_content(std::string_view piece) const override {
    return event("content_block_delta", {{"type", "content_block_delta"},
                                         {"index", 0},
                                         {"delta", {{"type", "text_delta"}, {"text", piece}}}});
  }
  std::vector<std::string> stream_closing(const Usage& usage) const override {
    return {
        event("content_block_stop", {{"type", "content_block_stop"}, {"index", 0}}),
        event("message_delta",
              {{"type", "message_delta"},
               {"delta", {{"stop_reason", "end_turn"}, {"stop_sequence", nullptr}}},
               {"usage", {{"output_tokens", usage.completion_tokens}}}}),
        event("message_stop", {{"type", "message_stop"}}),
    };
  }
  std::string stream_error() const override {
    return "event: error\ndata: " + error_body(Provider::anthropic, Failure::overloaded) + "\n\n";
  }
  std::string stream_malformed() const override {
    return "event: content_block_delta\n"
           "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_de\n\n";
  }
  std::string whole(std::string_view text, const Usage& usage) const override {
    json::object message = message_base();
    message["content"] = json::array{json::object{{"type", "text"}, {"text", text}}};
    message["stop_reason"] = "end_turn";
    message["usage"] = {{"input_tokens", usage.prompt_tokens},
                        {"output_tokens", usage.completion_tokens}};
    return json::serialize(message);
  }

 private:
  json::object message_base() const {
    return json::object{{"id", id_},
                        {"type", "message"},
                        {"role", "assistant"},
                        {"model", model_},
                        {"stop_sequence", nullptr}};
  }
  static std::string event(std::string_view name, const json::object& data) {
    return "event: " + std::string(name) + "\ndata: " + json::serialize(data) + "\n\n";
  }

  std::string id_;
  std::string model_;
  long long input_tokens_;
};

// ---------------------------------------------------------------------------
// Header values with clock times.

std::string two_digits(int n) { return (n < 10 ? "0" : "") + std::to_string(n); }

std::tm utc(std::chrono::system_clock::time_point when) {
  std::time_t t = std::chrono::system_clock::to_time_t(when);
  std::tm out{};
  gmtime_r(&t, &out);
  return out;
}

// RFC 9110 IMF-fixdate, e.g. "Sun, 06 Nov 1994 08:49:37 GMT" (no locale involved).
std::string http_date(std::chrono::system_clock::time_point when) {
  static const char* const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static const char* const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::tm t = utc(when);
  return std::string(days[t.tm_wday]) + ", " + two_digits(t.tm_mday) + " " + months[t.tm_mon] +
         " " + std::to_string(t.tm_year + 1900) + " " + two_digits(t.tm_hour) + ":" +
         two_digits(t.tm_min) + ":" + two_digits(t.tm_sec) + " GMT";
}

// RFC 3339 in UTC, e.g. "2024-04-08T17:15:00Z".
std::string rfc3339(std::chrono::system_clock::time_point when) {
  std::tm t = utc(when);
  return std::to_string(t.tm_year + 1900) + "-" + two_digits(t.tm_mon + 1) + "-" +
         two_digits(t.tm_mday) + "T" + two_digits(t.tm_hour) + ":" + two_digits(t.tm_min) + ":" +
         two_digits(t.tm_sec) + "Z";
}

// Go's time.Duration text, as OpenAI's x-ratelimit-reset-* use: "20ms", "1s", "6m0s", "1.5s".
std::string go_duration(long long ms) {
  if (ms == 0) return "0s";
  if (ms < 1000) return std::to_string(ms) + "ms";
  long long hours = ms / 3'600'000, minutes = ms / 60'000 % 60, seconds = ms / 1000 % 60;
  std::string out;
  if (hours) out += std::to_string(hours) + "h";
  if (hours || minutes) out += std::to_string(minutes) + "m";
  out += std::to_string(seconds);
  if (long long fraction = ms % 1000) {
    std::string digits = std::to_string(fraction + 1000).substr(1);
    digits.erase(digits.find_last_not_of('0') + 1);
    out += "." + digits;
  }
  return out + "s";
}

std::vector<Header> ratelimit_headers(Provider provider, const ScenarioSpec& spec) {
  std::string limit_requests = std::to_string(spec.number("limit_requests", 500));
  std::string remaining_requests = std::to_string(spec.number("remaining_requests", 499));
  std::string limit_tokens = std::to_string(spec.number("limit_tokens", 30000));
  std::string remaining_tokens = std::to_string(spec.number("remaining_tokens", 29000));
  long long reset_requests_ms = spec.number("reset_requests_ms", 1000);
  long long reset_tokens_ms = spec.number("reset_tokens_ms", 360000);
  if (provider == Provider::openai) {
    return {{"x-ratelimit-limit-requests", limit_requests},
            {"x-ratelimit-limit-tokens", limit_tokens},
            {"x-ratelimit-remaining-requests", remaining_requests},
            {"x-ratelimit-remaining-tokens", remaining_tokens},
            {"x-ratelimit-reset-requests", go_duration(reset_requests_ms)},
            {"x-ratelimit-reset-tokens", go_duration(reset_tokens_ms)}};
  }
  // Rounded up to the second, so the reset is never earlier than asked.
  auto at = [](long long ms) {
    return rfc3339(std::chrono::system_clock::now() + milliseconds(ms) + milliseconds(999));
  };
  return {{"anthropic-ratelimit-requests-limit", limit_requests},
          {"anthropic-ratelimit-requests-remaining", remaining_requests},
          {"anthropic-ratelimit-requests-reset", at(reset_requests_ms)},
          {"anthropic-ratelimit-tokens-limit", limit_tokens},
          {"anthropic-ratelimit-tokens-remaining", remaining_tokens},
          {"anthropic-ratelimit-tokens-reset", at(reset_tokens_ms)}};
}

// ---------------------------------------------------------------------------
// HTTP/1.1 over a connected socket.

// Thrown to give up on a response: the client went away, or the server is stopping.
struct Abandoned {};

// The request could not be read as HTTP; sent back as `status`.
struct MalformedRequest {
  int status;
  std::string message;
};

std::string_view reason_phrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 413:
      return "Content Too Large";
    case 425:
      return "Too Early";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 529:
      return "Overloaded";
    default:
      return "Status";
  }
}

class ResponseWriter {
 public:
  explicit ResponseWriter(int fd) : fd_(fd) {}

  bool head_sent() const { return head_sent_; }

  // `headers` must include the framing (Content-Length or Transfer-Encoding).
  void send_head(int status, const std::vector<Header>& headers) {
    std::string head =
        "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason_phrase(status)) + "\r\n";
    for (const auto& [name, value] : headers) head += name + ": " + value + "\r\n";
    head += "Connection: close\r\n\r\n";
    head_sent_ = true;
    send_raw(head);
  }
  void send_raw(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) throw Abandoned{};
      bytes.remove_prefix(static_cast<size_t>(n));
    }
  }
  // One chunk of a chunked body, in one write so it leaves at once (TCP_NODELAY).
  void send_chunk(std::string_view data) {
    char size[20];
    std::snprintf(size, sizeof size, "%zx\r\n", data.size());
    send_raw(std::string(size) + std::string(data) + "\r\n");
  }
  void send_last_chunk() { send_raw("0\r\n\r\n"); }

  void send_json(int status, std::string_view body, std::vector<Header> headers = {}) {
    headers.emplace_back("Content-Type", "application/json");
    headers.emplace_back("Content-Length", std::to_string(body.size()));
    send_head(status, headers);
    send_raw(body);
  }

 private:
  int fd_;
  bool head_sent_ = false;
};

class RequestReader {
 public:
  RequestReader(int fd, ResponseWriter& out) : fd_(fd), out_(out) {}

  // The request, or nullopt when the peer closed before sending all of it.
  // Throws MalformedRequest.
  std::optional<RecordedRequest> read() {
    size_t head_end;
    while ((head_end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (buffer_.size() > kMaxHead) throw MalformedRequest{431, "request head over 64 KiB"};
      if (!fill()) return std::nullopt;
    }
    RecordedRequest request;
    parse_head(std::string_view(buffer_).substr(0, head_end), request);
    position_ = head_end + 4;
    std::string expect = lowercase(request.header("expect"));
    std::string encoding = lowercase(request.header("transfer-encoding"));
    std::string length = request.header("content-length");
    bool has_body = !encoding.empty() || (!length.empty() && length != "0");
    // libcurl waits up to a second for this before sending a large body.
    if (expect == "100-continue" && has_body) out_.send_raw("HTTP/1.1 100 Continue\r\n\r\n");
    if (encoding == "chunked") {
      if (!read_chunked_body(request.body)) return std::nullopt;
    } else if (!encoding.empty()) {
      throw MalformedRequest{400, "unsupported Transfer-Encoding '" + encoding + "'"};
    } else if (!length.empty()) {
      auto size = parse_integer(length);
      if (!size || *size < 0) throw MalformedRequest{400, "bad Content-Length '" + length + "'"};
      if (static_cast<size_t>(*size) > kMaxBody) {
        throw MalformedRequest{413, "request body over 64 MiB"};
      }
      if (!have(static_cast<size_t>(*size))) return std::nullopt;
      request.body = buffer_.substr(position_, static_cast<size_t>(*size));
    }
    return request;
  }

 private:
  static constexpr size_t kMaxHead = 64 * 1024;
  static constexpr size_t kMaxBody = 64 * 1024 * 1024;

  static std::string lowercase(std::string s) {
    for (char& c : s) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    return s;
  }
  static std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
  }

  static void parse_head(std::string_view head, RecordedRequest& request) {
    size_t line_end = head.find("\r\n");
    std::string_view line = head.substr(0, line_end);
    size_t first = line.find(' '), second = line.rfind(' ');
    if (first == std::string_view::npos || first == second ||
        line.substr(second + 1).substr(0, 7) != "HTTP/1.") {
      throw MalformedRequest{400, "bad request line"};
    }
    request.method = std::string(line.substr(0, first));
    request.path = std::string(line.substr(first + 1, second - first - 1));
    while (line_end != std::string_view::npos) {
      head.remove_prefix(line_end + 2);
      line_end = head.find("\r\n");
      line = head.substr(0, line_end);
      size_t colon = line.find(':');
      if (colon == std::string_view::npos || colon == 0) {
        throw MalformedRequest{400, "bad header line"};
      }
      request.headers.emplace_back(lowercase(std::string(line.substr(0, colon))),
                                   std::string(trim(line.substr(colon + 1))));
    }
  }

  bool fill() {
    char bytes[16384];
    for (;;) {
      ssize_t n = ::recv(fd_, bytes, sizeof bytes, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      buffer_.append(bytes, static_cast<size_t>(n));
      return true;
    }
  }
  // Whether `count` bytes from position_ on are (or become) buffered.
  bool have(size_t count) {
    while (buffer_.size() - position_ < count) {
      if (!fill()) return false;
    }
    return true;
  }
  std::optional<std::string> line() {
    size_t end;
    while ((end = buffer_.find("\r\n", position_)) == std::string::npos) {
      if (buffer_.size() - position_ > kMaxHead) throw MalformedRequest{400, "bad chunk line"};
      if (!fill()) return std::nullopt;
    }
    std::string text = buffer_.substr(position_, end - position_);
    position_ = end + 2;
    return text;
  }
  bool read_chunked_body(std::string& body) {
    for (;;) {
      auto size_line = line();
      if (!size_line) return false;
      std::string_view digits = std::string_view(*size_line).substr(0, size_line->find(';'));
      size_t size = 0;
      auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), size, 16);
      if (ec != std::errc() || end == digits.data()) {
        throw MalformedRequest{400, "bad chunk size '" + std::string(digits) + "'"};
      }
      if (size == 0) break;
      if (body.size() + size > kMaxBody) throw MalformedRequest{413, "request body over 64 MiB"};
      if (!have(size + 2)) return false;
      body.append(buffer_, position_, size);
      position_ += size + 2;
    }
    for (;;) {  // trailers, up to the empty line
      auto trailer = line();
      if (!trailer) return false;
      if (trailer->empty()) return true;
    }
  }

  int fd_;
  ResponseWriter& out_;
  std::string buffer_;
  size_t position_ = 0;
};

// ---------------------------------------------------------------------------
// Sending one scenario's answer.

// Waits, or throws Abandoned when the server stops meanwhile.
using Pause = std::function<void(microseconds)>;

bool is_continuation_byte(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// Writes `bytes` one byte per write (one chunk each when `chunked`), pausing
// inside every CRLF and every multibyte character so the client's reads split there.
void send_bytewise(ResponseWriter& out, const Pause& pause, std::string_view bytes,
                   microseconds split_delay, bool chunked) {
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (chunked) {
      out.send_chunk(bytes.substr(i, 1));
    } else {
      out.send_raw(bytes.substr(i, 1));
    }
    bool splits = i + 1 < bytes.size() && (bytes[i] == '\r' || is_continuation_byte(bytes[i + 1]));
    if (splits && split_delay.count() > 0) pause(split_delay);
  }
}

// Writes SSE events, each in its own chunk, with the scenario's spacing.
class SseStream {
 public:
  struct Style {
    bool keepalive = false;       // a comment before every event
    bool crlf_bytewise = false;   // CRLF line ends, one byte per chunk
    microseconds gap{0};          // between events
    microseconds split_delay{0};  // crlf_bytewise: at each split point
  };

  SseStream(ResponseWriter& out, Pause pause, Style style)
      : out_(out), pause_(std::move(pause)), style_(style) {}

  void send(std::string_view event) {
    if (events_sent_ > 0 && style_.gap.count() > 0) pause_(style_.gap);
    if (style_.keepalive) {
      write(events_sent_ % 2 == 0 ? ": OPENROUTER PROCESSING\n\n" : ": keep-alive\n\n");
    }
    write(event);
    ++events_sent_;
  }

 private:
  void write(std::string_view text) {
    if (!style_.crlf_bytewise) return out_.send_chunk(text);
    std::string crlf;
    for (char c : text) crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
    send_bytewise(out_, pause_, crlf, style_.split_delay, true);
  }

  ResponseWriter& out_;
  Pause pause_;
  Style style_;
  size_t events_sent_ = 0;
};

// One successful or failing answer to a provider request, per the scenario.
class ScenarioResponse {
 public:
  ScenarioResponse(ResponseWriter& out, Pause pause, const ScenarioSpec& spec, Provider provider,
                   const Prompt& prompt, long long sequence)
      : out_(out), pause_(std::move(pause)), spec_(spec), provider_(provider), prompt_(prompt) {
    std::string number = std::to_string(sequence);
    request_id_ = {provider == Provider::openai ? "x-request-id" : "request-id",
                   "req_fake_" + number};
    if (provider == Provider::openai) {
      format_ = std::make_unique<OpenAiFormat>("chatcmpl-fake-" + number, prompt);
    } else {
      format_ =
          std::make_unique<AnthropicFormat>("msg_fake_" + number, prompt, prompt.prompt_words);
    }
  }

  // `arrival`: this request's number (from 1) under its scenario segment.
  void send(long long arrival) {
    switch (spec_.scenario) {
      case Scenario::rate_limited_then_ok:
        if (arrival <= spec_.number("times", 1)) return send_rate_limited();
        break;
      case Scenario::server_error_then_ok:
        if (arrival <= spec_.number("times", 1)) {
          return send_error(static_cast<int>(spec_.number("status", 500)), Failure::server_error);
        }
        break;
      case Scenario::unauthorized:
        return send_error(401, Failure::unauthorized);
      case Scenario::bad_request:
        return send_error(400, Failure::bad_request);
      default:
        break;
    }
    if (spec_.scenario != Scenario::fast) {
      words_ = reply_words(prompt_.last_user_text, static_cast<size_t>(spec_.words()));
    }
    if (prompt_.stream) {
      send_stream();
    } else {
      send_whole();
    }
  }

 private:
  void send_error(int status, Failure failure, std::vector<Header> headers = {}) {
    headers.push_back(request_id_);
    out_.send_json(status, error_body(provider_, failure), std::move(headers));
  }

  void send_rate_limited() {
    std::vector<Header> headers;
    if (spec_.has("retry_after_ms")) {
      headers.emplace_back("retry-after-ms", spec_.text("retry_after_ms"));
    } else if (spec_.text("retry_after") == "date") {
      headers.emplace_back("Retry-After",
                           http_date(std::chrono::system_clock::now() + std::chrono::seconds(2)));
    } else {
      headers.emplace_back("Retry-After", std::to_string(spec_.number("retry_after", 1)));
    }
    send_error(429, Failure::rate_limited, std::move(headers));
  }

  std::vector<Header> success_headers() const {
    std::vector<Header> headers = {request_id_};
    if (spec_.scenario == Scenario::ratelimit_headers) {
      auto more = ratelimit_headers(provider_, spec_);
      headers.insert(headers.end(), more.begin(), more.end());
    }
    return headers;
  }

  std::string piece(size_t i) const {
    return spec_.scenario == Scenario::fast ? timestamp_piece() : content_piece(words_, i);
  }

  void send_stream() {
    std::vector<Header> headers = {{"Content-Type", "text/event-stream; charset=utf-8"},
                                   {"Cache-Control", "no-cache"},
                                   {"Transfer-Encoding", "chunked"}};
    auto more = success_headers();
    headers.insert(headers.end(), more.begin(), more.end());
    out_.send_head(200, headers);

    SseStream::Style style;
    style.keepalive = spec_.scenario == Scenario::keepalive;
    style.crlf_bytewise = spec_.scenario == Scenario::crlf_bytewise;
    style.split_delay = milliseconds(spec_.number("split_delay_ms", 1));
    if (spec_.scenario == Scenario::slow_trickle) {
      style.gap = milliseconds(spec_.number("delay_ms", 50));
    }
    // `fast` pauses before it stamps a token, not between stamping and writing it.
    const microseconds fast_gap =
        spec_.scenario == Scenario::fast ? microseconds(spec_.number("interval_us", 0))
                                         : microseconds(0);
    SseStream sse(out_, pause_, style);

    const long long count = spec_.words();
    auto position = [&](std::string_view key, long long fallback) {
      return std::clamp(spec_.number(key, fallback), 0LL, count);
    };
    const long long cut =
        spec_.scenario == Scenario::break_midway || spec_.scenario == Scenario::in_stream_error
            ? position("after", 3)
            : -1;
    const long long malformed_at =
        spec_.scenario == Scenario::malformed_chunk ? position("at", count / 2) : -1;

    for (const auto& event : format_->stream_opening()) sse.send(event);
    long long sent = 0;
    for (long long i = 0; i <= count; ++i) {
      if (i == cut) {
        if (spec_.scenario == Scenario::break_midway) return;  // closes without the last chunk
        sse.send(format_->stream_error());
        return out_.send_last_chunk();
      }
      if (i == malformed_at) sse.send(format_->stream_malformed());
      if (i == count) break;
      if (i > 0 && fast_gap.count() > 0) pause_(fast_gap);
      sse.send(format_->stream_content(piece(static_cast<size_t>(i))));
      ++sent;
      if (spec_.scenario == Scenario::stall && i == 0) {
        pause_(milliseconds(spec_.number("stall_ms", 10000)));
      }
    }
    for (const auto& event : format_->stream_closing({prompt_.prompt_words, sent})) {
      sse.send(event);
    }
    out_.send_last_chunk();
  }

  void send_whole() {
    const long long count = spec_.words();
    std::string text;
    if (spec_.scenario == Scenario::fast) {
      for (long long i = 0; i < count; ++i) text += timestamp_piece();
    } else {
      text = joined_text(words_);
    }
    std::string body = format_->whole(text, {prompt_.prompt_words, count});
    std::vector<Header> headers = success_headers();
    switch (spec_.scenario) {
      case Scenario::malformed_chunk:
        return out_.send_json(200, body.substr(0, body.size() / 2), headers);
      case Scenario::in_stream_error:
        return out_.send_json(200, error_body(provider_, Failure::overloaded), headers);
      default:
        break;
    }
    headers.emplace_back("Content-Type", "application/json");
    headers.emplace_back("Content-Length", std::to_string(body.size()));
    out_.send_head(200, headers);
    std::string_view rest = body;
    switch (spec_.scenario) {
      case Scenario::break_midway:
        return out_.send_raw(rest.substr(0, rest.size() / 2));  // then the socket closes
      case Scenario::stall:
        out_.send_raw(rest.substr(0, rest.size() / 2));
        pause_(milliseconds(spec_.number("stall_ms", 10000)));
        return out_.send_raw(rest.substr(rest.size() / 2));
      case Scenario::crlf_bytewise:
        return send_bytewise(out_, pause_, rest, milliseconds(spec_.number("split_delay_ms", 1)),
                             false);
      case Scenario::slow_trickle: {
        size_t slice = std::max<size_t>(1, rest.size() / static_cast<size_t>(count));
        while (!rest.empty()) {
          out_.send_raw(rest.substr(0, slice));
          rest.remove_prefix(std::min(slice, rest.size()));
          if (!rest.empty()) pause_(milliseconds(spec_.number("delay_ms", 50)));
        }
        return;
      }
      default:
        return out_.send_raw(rest);
    }
  }

  ResponseWriter& out_;
  Pause pause_;
  const ScenarioSpec& spec_;
  Provider provider_;
  const Prompt& prompt_;
  Header request_id_;
  std::unique_ptr<ProviderFormat> format_;
  std::vector<std::string> words_;
};

}  // namespace

// ---------------------------------------------------------------------------
// The server: one accept thread, one thread per connection.

class FakeLlmServer::Impl {
 public:
  explicit Impl(int port) {
    if (::pipe(wake_pipe_) != 0) throw std::system_error(errno, std::generic_category(), "pipe");
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (listen_fd_ < 0) fail("socket");
    int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(static_cast<uint16_t>(port));
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      fail("bind 127.0.0.1:" + std::to_string(port));
    }
    if (::listen(listen_fd_, SOMAXCONN) != 0) fail("listen");
    socklen_t size = sizeof address;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &size);
    port_ = ntohs(address.sin_port);
    accept_thread_ = std::thread([this] { accept_loop(); });
  }

  ~Impl() {
    stop();
    close_fds();
  }

  int port() const { return port_; }

  size_t requests(std::string_view segment) const {
    std::lock_guard lock(mutex_);
    auto it = counts_.find(segment);
    return it == counts_.end() ? 0 : it->second;
  }

  std::vector<RecordedRequest> recorded() const {
    std::lock_guard lock(mutex_);
    return recorded_;
  }

  void reset() {
    std::lock_guard lock(mutex_);
    counts_.clear();
    recorded_.clear();
  }

 private:
  struct Connection {
    int fd = -1;  // -1 once closed; guarded by mutex_
    bool finished = false;
    std::thread thread;
  };

  [[noreturn]] void fail(const std::string& what) {
    int error = errno;
    close_fds();
    throw std::system_error(error, std::generic_category(), "fake LLM server: " + what);
  }

  void close_fds() {
    for (int* fd : {&listen_fd_, &wake_pipe_[0], &wake_pipe_[1]}) {
      if (*fd >= 0) ::close(*fd);
      *fd = -1;
    }
  }

  void stop() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
      // Wakes connection threads blocked in recv or send.
      for (auto& c : connections_) {
        if (c.fd >= 0) ::shutdown(c.fd, SHUT_RDWR);
      }
    }
    stopped_.notify_all();
    char byte = 1;
    while (::write(wake_pipe_[1], &byte, 1) < 0 && errno == EINTR) {
    }
    accept_thread_.join();
    std::list<Connection> rest;
    {
      std::lock_guard lock(mutex_);
      rest.swap(connections_);  // list nodes keep their addresses
    }
    for (auto& c : rest) c.thread.join();
  }

  void accept_loop() {
    for (;;) {
      pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_pipe_[0], POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        return;
      }
      if (fds[1].revents != 0) return;
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) {
        // Out of descriptors: back off instead of spinning on a listener that stays readable.
        if (errno == EMFILE || errno == ENFILE) {
          std::unique_lock lock(mutex_);
          stopped_.wait_for(lock, milliseconds(10), [this] { return stopping_; });
        }
        continue;  // otherwise the client gave up, or EAGAIN after a spurious wake
      }
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      std::lock_guard lock(mutex_);
      if (stopping_) {
        ::close(fd);
        return;
      }
      reap_finished_connections();
      Connection& c = connections_.emplace_back();
      c.fd = fd;
      c.thread = std::thread([this, &c] { serve(c); });
    }
  }

  // Under mutex_. A finished thread touches nothing after setting `finished`.
  void reap_finished_connections() {
    for (auto it = connections_.begin(); it != connections_.end();) {
      if (!it->finished) {
        ++it;
        continue;
      }
      it->thread.join();
      it = connections_.erase(it);
    }
  }

  void serve(Connection& c) {
    ResponseWriter out(c.fd);
    try {
      RequestReader reader(c.fd, out);
      if (auto request = reader.read()) handle(*request, out);
    } catch (const Abandoned&) {
    } catch (const MalformedRequest& e) {
      answer_if_possible(out, e.status, e.message);
    } catch (const std::exception& e) {
      answer_if_possible(out, 500, std::string("fake LLM server failure: ") + e.what());
    }
    std::lock_guard lock(mutex_);
    ::close(c.fd);
    c.fd = -1;
    c.finished = true;
  }

  static void answer_if_possible(ResponseWriter& out, int status, const std::string& message) {
    if (out.head_sent()) return;
    try {
      out.send_json(status, error_body(Provider::openai, Failure::invalid_request, message));
    } catch (const Abandoned&) {
    }
  }

  void pause(microseconds duration) {
    std::unique_lock lock(mutex_);
    if (stopped_.wait_for(lock, duration, [this] { return stopping_; })) throw Abandoned{};
  }

  void handle(const RecordedRequest& request, ResponseWriter& out) {
    std::string_view path = request.path;
    path = path.substr(0, path.find('?'));
    if (path == "/_stats" || path == "/_reset" || path == "/_requests") {
      return handle_control(request.method, path, out);
    }
    std::string_view segment, rest;
    bool scenario_path = path.substr(0, 3) == "/s/";
    if (scenario_path) {
      std::string_view after = path.substr(3);
      segment = after.substr(0, after.find('/'));
      rest = after.substr(segment.size());
    }
    long long arrival = 0, sequence = 0;
    {
      std::lock_guard lock(mutex_);
      if (scenario_path) arrival = static_cast<long long>(++counts_[std::string(segment)]);
      sequence = ++sequence_;
      recorded_.push_back(request);
    }
    std::optional<Provider> provider;
    if (request.method == "POST" && rest == "/v1/chat/completions") provider = Provider::openai;
    if (request.method == "POST" && rest == "/v1/messages") provider = Provider::anthropic;
    if (!scenario_path || segment.empty() || !provider) {
      std::string message = "Invalid URL (" + request.method + " " + std::string(path) +
                            "); the fake serves POST /s/<scenario>/v1/chat/completions and "
                            "POST /s/<scenario>/v1/messages";
      return out.send_json(404, error_body(Provider::openai, Failure::not_found, message));
    }
    ScenarioParse parsed = parse_scenario(segment);
    if (!parsed.spec) {
      return out.send_json(400, error_body(*provider, Failure::invalid_request, parsed.error));
    }
    Prompt prompt;
    if (std::string problem = read_prompt(*provider, request.body, prompt); !problem.empty()) {
      return out.send_json(400, error_body(*provider, Failure::invalid_request, problem));
    }
    ScenarioResponse response(
        out, [this](microseconds d) { pause(d); }, *parsed.spec, *provider, prompt, sequence);
    response.send(arrival);
  }

  void handle_control(const std::string& method, std::string_view path, ResponseWriter& out) {
    if (path == "/_stats" && method == "GET") return out.send_json(200, stats());
    if (path == "/_requests" && method == "GET") return out.send_json(200, requests_json());
    if (path == "/_reset" && method == "POST") {
      reset();
      return out.send_json(200, R"({"reset":true})");
    }
    std::string message = "Invalid method " + method + " for " + std::string(path);
    out.send_json(404, error_body(Provider::openai, Failure::not_found, message));
  }

  std::string stats() const {
    std::lock_guard lock(mutex_);
    json::object counts;
    size_t total = 0;
    for (const auto& [segment, count] : counts_) {
      counts[segment] = count;
      total += count;
    }
    return json::serialize(json::object{{"total", total}, {"requests", std::move(counts)}});
  }

  std::string requests_json() const {
    std::lock_guard lock(mutex_);
    json::array requests;
    for (const auto& r : recorded_) {
      json::object headers;
      for (const auto& [name, value] : r.headers) {
        auto* existing = headers.if_contains(name);
        if (existing) {
          existing->get_string().append(", ").append(value);
        } else {
          headers[name] = value;
        }
      }
      requests.push_back(json::object{{"method", r.method},
                                      {"path", r.path},
                                      {"headers", std::move(headers)},
                                      {"body", r.body}});
    }
    return json::serialize(json::object{{"requests", std::move(requests)}});
  }

  int listen_fd_ = -1;
  int wake_pipe_[2] = {-1, -1};
  int port_ = 0;
  std::thread accept_thread_;

  mutable std::mutex mutex_;
  std::condition_variable stopped_;
  bool stopping_ = false;
  std::list<Connection> connections_;
  std::map<std::string, size_t, std::less<>> counts_;
  std::vector<RecordedRequest> recorded_;
  long long sequence_ = 0;
};

FakeLlmServer::FakeLlmServer(int port) : impl_(std::make_unique<Impl>(port)) {}
FakeLlmServer::~FakeLlmServer() = default;

int FakeLlmServer::port() const { return impl_->port(); }

std::string FakeLlmServer::base_url(std::string_view scenario) const {
  return "http://127.0.0.1:" + std::to_string(impl_->port()) + "/s/" + std::string(scenario);
}

size_t FakeLlmServer::requests(std::string_view scenario) const {
  return impl_->requests(scenario);
}

std::vector<RecordedRequest> FakeLlmServer::recorded() const { return impl_->recorded(); }

void FakeLlmServer::reset() { impl_->reset(); }

}  // namespace storyloom::testing
