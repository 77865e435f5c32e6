// The scenario grammar: name[~tag](;key=value)*. See fake_scenario.h.
#include "fake_scenario.h"

#include <algorithm>
#include <charconv>
#include <system_error>
#include <utility>
#include <vector>

namespace storyloom::testing::fake {

namespace {

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
      {"quota", Scenario::quota, {"variant"}},
      {"echo_key", Scenario::echo_key, {"spelling"}},
      {"truncated", Scenario::truncated, {}},
      {"unterminated", Scenario::unterminated, {}},
      {"wrong_json", Scenario::wrong_json, {}},
  };
  return definitions;
}

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
  } else if (key == "variant") {
    for (const char* v : {"default", "openrouter", "billing", "usage_limit"}) {
      if (value == v) return "";
    }
    return "expected default, openrouter, billing or usage_limit";
  } else if (key == "spelling") {
    for (const char* v :
         {"raw", "url", "url_all", "upper", "lower", "base64", "basic", "prefix", "masked"}) {
      if (value == v) return "";
    }
    return "expected raw, url, url_all, upper, lower, base64, basic, prefix or masked";
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

}  // namespace

bool ScenarioSpec::has(std::string_view key) const {
  return parameters.find(key) != parameters.end();
}

std::string ScenarioSpec::text(std::string_view key) const {
  auto it = parameters.find(key);
  return it == parameters.end() ? "" : it->second;
}

long long ScenarioSpec::number(std::string_view key, long long fallback) const {
  auto it = parameters.find(key);
  if (it == parameters.end()) return fallback;
  long long value = fallback;
  std::from_chars(it->second.data(), it->second.data() + it->second.size(), value);
  return value;
}

long long ScenarioSpec::words() const {
  long long fallback = scenario == Scenario::fast ? 1000 : 20;
  return number("words", number("chunks", fallback));
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

}  // namespace storyloom::testing::fake
