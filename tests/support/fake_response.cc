// Sending one scenario's answer. See fake_response.h.
#include "fake_response.h"

#include <algorithm>
#include <cctype>
#include <ctime>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace storyloom::testing::fake {

namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;

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
// The echo_key scenario: the key as providers (or proxies) have echoed keys.

std::string base64(std::string_view bytes) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  unsigned bits = 0;
  int count = 0;
  for (unsigned char c : bytes) {
    bits = (bits << 8) | c;
    count += 8;
    while (count >= 6) {
      count -= 6;
      out.push_back(kAlphabet[(bits >> count) & 0x3F]);
    }
  }
  if (count > 0) out.push_back(kAlphabet[(bits << (6 - count)) & 0x3F]);
  while (out.size() % 4 != 0) out.push_back('=');
  return out;
}

std::string key_spelling(const std::string& key, const std::string& spelling) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  if (spelling == "url" || spelling == "url_all") {
    for (unsigned char c : key) {
      bool plain = std::isalnum(c) && spelling == "url";
      if (plain) {
        out.push_back(static_cast<char>(c));
      } else {
        out += {'%', kHex[c >> 4], kHex[c & 0xF]};
      }
    }
  } else if (spelling == "upper" || spelling == "lower") {
    for (char c : key) {
      out.push_back(static_cast<char>(spelling == "upper"
                                          ? std::toupper(static_cast<unsigned char>(c))
                                          : std::tolower(static_cast<unsigned char>(c))));
    }
  } else if (spelling == "base64") {
    out = base64(key);
  } else if (spelling == "basic") {
    out = "Basic " + base64("user:" + key);
  } else if (spelling == "prefix") {
    out = key.substr(0, std::min<size_t>(key.size(), 14)) + "...";
  } else if (spelling == "masked") {
    out = key.substr(0, std::min<size_t>(key.size(), 12)) + "********" +
          key.substr(key.size() - std::min<size_t>(key.size(), 4));
  } else {
    out = key;
  }
  return out;
}

// ---------------------------------------------------------------------------
// The body, with the scenario's timing.

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
    format_ = provider_format(
        provider, (provider == Provider::openai ? "chatcmpl-fake-" : "msg_fake_") + number, prompt);
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
      case Scenario::quota: {
        std::string variant = spec_.has("variant") ? spec_.text("variant") : "default";
        return send_error(quota_status(provider_, variant), Failure::quota, {}, variant);
      }
      case Scenario::echo_key:
        return send_error(
            provider_ == Provider::gemini ? 400 : 401, Failure::echo_key, {},
            "Incorrect API key provided: " + key_spelling(prompt_.api_key, spec_.text("spelling")));
      default:
        break;
    }
    if (spec_.scenario != Scenario::fast) {
      if (!prompt_.schema.empty()) {
        words_ = schema_reply_pieces(prompt_, spec_.scenario == Scenario::wrong_json);
      } else {
        words_ = reply_words(prompt_.last_user_text, static_cast<size_t>(spec_.words()));
      }
    }
    if (prompt_.stream) {
      send_stream();
    } else {
      send_whole();
    }
  }

 private:
  void send_error(int status, Failure failure, std::vector<Header> headers = {},
                  std::string_view message = "") {
    headers.push_back(request_id_);
    out_.send_json(status, error_body(provider_, failure, message), std::move(headers));
  }

  void send_rate_limited() {
    std::vector<Header> headers;
    if (provider_ == Provider::gemini) {
      // Gemini says when to retry in its body (RetryInfo), not in a header.
    } else if (spec_.has("retry_after_ms")) {
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

  // Content chunks: the scenario's words, or the pieces of a structured answer.
  long long reply_count() const {
    return prompt_.schema.empty() ? spec_.words() : static_cast<long long>(words_.size());
  }

  std::string piece(size_t i) const {
    if (!prompt_.schema.empty()) return words_[i];  // JSON pieces, no spaces between
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
    const microseconds fast_gap = spec_.scenario == Scenario::fast
                                      ? microseconds(spec_.number("interval_us", 0))
                                      : microseconds(0);
    SseStream sse(out_, pause_, style);

    const long long count = reply_count();
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
    auto closing = format_->stream_closing({prompt_.prompt_words, sent});
    if (spec_.scenario == Scenario::unterminated && !closing.empty()) {
      // The last event loses its blank line: its lines end, the event does not.
      closing.back().pop_back();
    }
    for (const auto& event : closing) sse.send(event);
    out_.send_last_chunk();
  }

  void send_whole() {
    const long long count = reply_count();
    std::string text;
    if (spec_.scenario == Scenario::fast) {
      for (long long i = 0; i < count; ++i) text += timestamp_piece();
    } else {
      for (long long i = 0; i < count; ++i) text += piece(static_cast<size_t>(i));
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

void send_scenario_response(ResponseWriter& out, Pause pause, const ScenarioSpec& spec,
                            Provider provider, const Prompt& prompt, long long sequence,
                            long long arrival) {
  ScenarioResponse response(out, std::move(pause), spec, provider, prompt, sequence);
  response.send(arrival);
}

}  // namespace storyloom::testing::fake
