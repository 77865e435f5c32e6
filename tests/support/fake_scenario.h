// The fake LLM server's scenario grammar: the URL segment after /s/,
// `name[~tag](;key=value)*`, parsed into what the scenario should do.
// FAKE_LLM_SERVER.md lists the scenarios and their parameters.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace storyloom::testing::fake {

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
  quota,         // out of quota or credit (variant: the provider's flavour)
  echo_key,      // a 401 echoing the request's key in some spelling
  truncated,     // a normal reply that stops at max tokens
  unterminated,  // a stream whose last event has no blank line after it
  wrong_json,    // a structured answer whose strings are numbers
};

// A parsed segment: the scenario and its parameters, every value already checked.
struct ScenarioSpec {
  Scenario scenario = Scenario::normal;
  std::string name;
  std::map<std::string, std::string, std::less<>> parameters;

  bool has(std::string_view key) const;
  // The value as written, or "" when absent.
  std::string text(std::string_view key) const;
  // Values were checked when parsed; `fallback` when the parameter is absent.
  long long number(std::string_view key, long long fallback) const;
  // The number of content chunks (one word each): `words`, or its synonym `chunks`.
  long long words() const;
};

struct ScenarioParse {
  std::optional<ScenarioSpec> spec;
  std::string error;  // when spec is empty
};

// Parses a segment, taken literally (no percent-decoding). An unknown name, a
// bad tag or a bad, unknown or repeated parameter gives an error naming it.
ScenarioParse parse_scenario(std::string_view segment);

}  // namespace storyloom::testing::fake
