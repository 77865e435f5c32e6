#include "llm/llm_errors.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>

namespace storyloom::detail {
namespace {

bool retryable_status(long status) {
  return status == 408 || status == 409 || status == 425 || status == 429 ||
         (status >= 500 && status <= 599);
}

std::string with_provider_message(std::string text, std::string_view provider_message) {
  if (!provider_message.empty()) {
    text += ": ";
    text += provider_message;
  }
  return text;
}

const char* key_variable(const LlmProviderConfig& provider) {
  if (provider.name == "openai") return "OPENAI_API_KEY";
  if (provider.name == "openrouter") return "OPENROUTER_API_KEY";
  if (provider.name == "anthropic") return "ANTHROPIC_API_KEY";
  return nullptr;
}

bool key_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '*' ||
         c == '.';
}

int month_index(const char* name) {
  static const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  for (int i = 0; i < 12; ++i) {
    if (std::strncmp(name, kMonths[i], 3) == 0) return i;
  }
  return -1;
}

std::optional<int64_t> utc_ms(int year, int month0, int day, int hour, int minute, int second) {
  if (year < 1970 || month0 < 0 || month0 > 11 || day < 1 || day > 31 || hour < 0 || hour > 23 ||
      minute < 0 || minute > 59 || second < 0 || second > 60) {
    return std::nullopt;
  }
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month0;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  time_t t = timegm(&tm);
  if (t == static_cast<time_t>(-1)) return std::nullopt;
  return static_cast<int64_t>(t) * 1000;
}

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

}  // namespace

std::string call_label(const LlmProviderConfig& provider, const std::string& model) {
  return provider.name + " (" + (model.empty() ? "no model" : model) + ")";
}

Error status_error(const LlmProviderConfig& provider, const std::string& model, long status,
                   std::string_view provider_message, std::optional<int64_t> retry_after) {
  std::string label = call_label(provider, model);
  std::string said = redact(std::string(provider_message), provider.api_key);
  std::string code = "HTTP " + std::to_string(status);
  if (status == 401 || status == 403) {
    std::string text = with_provider_message(
        label + ": the provider refused the credentials (" + code + ")", said);
    if (const char* var = key_variable(provider)) {
      text += std::string(" (check ") + var + ")";
    }
    return Error(ErrorCode::provider, text, ErrorClass::fatal);
  }
  if (status == 429) {
    std::string text = with_provider_message(label + ": rate limited (" + code + ")", said);
    if (retry_after) text += "; retry after " + std::to_string(*retry_after) + " ms";
    return Error(ErrorCode::provider, text, ErrorClass::rate_limited, retry_after.value_or(0));
  }
  if (retryable_status(status)) {
    return Error(ErrorCode::provider,
                 with_provider_message(label + ": the provider failed (" + code + ")", said),
                 ErrorClass::retryable, retry_after.value_or(0));
  }
  return Error(
      ErrorCode::provider,
      with_provider_message(label + ": the provider rejected the request (" + code + ")", said),
      ErrorClass::fatal);
}

Error transfer_error(const LlmProviderConfig& provider, const std::string& model,
                     const HttpOutcome& outcome) {
  std::string label = call_label(provider, model);
  std::string detail = redact(outcome.message, provider.api_key);
  using Kind = HttpOutcome::Kind;
  switch (outcome.kind) {
    case Kind::completed:
      break;
    case Kind::cancelled:
      return Error(ErrorCode::cancelled, label + ": the request was cancelled", ErrorClass::fatal);
    case Kind::connect_failed:
      return Error(ErrorCode::provider, label + ": could not connect: " + detail,
                   ErrorClass::retryable);
    case Kind::idle_timeout:
    case Kind::total_timeout:
      return Error(ErrorCode::timeout, label + ": " + detail, ErrorClass::timeout);
    case Kind::network_error:
      return Error(ErrorCode::provider, label + ": the connection broke: " + detail,
                   ErrorClass::retryable);
  }
  return Error(ErrorCode::internal, label + ": a completed transfer is not an error");
}

std::optional<int64_t> retry_after_ms(const HttpResponseHead& head, int64_t now_ms) {
  std::string ms = trim(head.header("retry-after-ms"));
  if (!ms.empty()) {
    char* end = nullptr;
    double v = std::strtod(ms.c_str(), &end);
    if (end && *end == '\0' && std::isfinite(v) && v >= 0) return static_cast<int64_t>(v);
  }
  std::string value = trim(head.header("retry-after"));
  if (value.empty()) return std::nullopt;
  char* end = nullptr;
  double seconds = std::strtod(value.c_str(), &end);
  if (end && *end == '\0' && std::isfinite(seconds) && seconds >= 0) {
    return static_cast<int64_t>(seconds * 1000);
  }
  if (auto at = parse_http_date_ms(value)) return std::max<int64_t>(0, *at - now_ms);
  return std::nullopt;
}

std::optional<int64_t> parse_go_duration_ms(std::string_view text) {
  std::string s = trim(text);
  if (s.empty()) return std::nullopt;
  double total_ms = 0;
  size_t i = 0;
  while (i < s.size()) {
    size_t start = i;
    while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
    if (i == start) return std::nullopt;
    double number = std::strtod(s.substr(start, i - start).c_str(), nullptr);
    size_t unit_start = i;
    while (i < s.size() && !std::isdigit(static_cast<unsigned char>(s[i])) && s[i] != '.') ++i;
    std::string unit = s.substr(unit_start, i - unit_start);
    double scale;
    if (unit == "h")
      scale = 3'600'000;
    else if (unit == "m")
      scale = 60'000;
    else if (unit == "s")
      scale = 1'000;
    else if (unit == "ms")
      scale = 1;
    else if (unit == "us" || unit == "\xC2\xB5s")
      scale = 0.001;
    else if (unit == "ns")
      scale = 0.000001;
    else
      return std::nullopt;
    total_ms += number * scale;
  }
  if (!std::isfinite(total_ms)) return std::nullopt;
  return static_cast<int64_t>(std::ceil(total_ms));
}

std::optional<int64_t> parse_http_date_ms(std::string_view text) {
  std::string s = trim(text);
  char weekday[4] = {0}, month[4] = {0}, zone[4] = {0};
  int day = 0, year = 0, hour = 0, minute = 0, second = 0;
  if (std::sscanf(s.c_str(), "%3s, %d %3s %d %d:%d:%d %3s", weekday, &day, month, &year, &hour,
                  &minute, &second, zone) != 8 ||
      std::strcmp(zone, "GMT") != 0) {
    return std::nullopt;
  }
  return utc_ms(year, month_index(month), day, hour, minute, second);
}

std::optional<int64_t> parse_rfc3339_ms(std::string_view text) {
  std::string s = trim(text);
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0, used = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2d%*1[Tt ]%2d:%2d:%2d%n", &year, &month, &day, &hour,
                  &minute, &second, &used) != 6) {
    return std::nullopt;
  }
  auto base = utc_ms(year, month - 1, day, hour, minute, second);
  if (!base) return std::nullopt;
  size_t i = static_cast<size_t>(used);
  double fraction_ms = 0;
  if (i < s.size() && s[i] == '.') {
    size_t start = ++i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
    if (i == start) return std::nullopt;
    fraction_ms = std::strtod(("0." + s.substr(start, i - start)).c_str(), nullptr) * 1000;
  }
  int64_t offset_ms = 0;
  if (i < s.size() && (s[i] == 'Z' || s[i] == 'z')) {
    ++i;
  } else if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
    int oh = 0, om = 0;
    if (std::sscanf(s.c_str() + i + 1, "%2d:%2d", &oh, &om) != 2) return std::nullopt;
    offset_ms = (static_cast<int64_t>(oh) * 60 + om) * 60'000 * (s[i] == '+' ? 1 : -1);
    i += 6;
  } else {
    return std::nullopt;
  }
  if (i != s.size()) return std::nullopt;
  return *base + static_cast<int64_t>(fraction_ms) - offset_ms;
}

std::string redact(std::string text, const std::string& api_key) {
  static constexpr std::string_view kRedacted = "[redacted]";
  if (api_key.size() >= 4) {
    for (size_t at = text.find(api_key); at != std::string::npos;
         at = text.find(api_key, at + kRedacted.size())) {
      text.replace(at, api_key.size(), kRedacted);
    }
  }
  // Providers echo parts of keys ("Incorrect API key provided: sk-abc***xyz").
  for (size_t at = text.find("sk-"); at != std::string::npos; at = text.find("sk-", at + 1)) {
    if (at > 0 && key_char(text[at - 1])) continue;
    size_t end = at + 3;
    while (end < text.size() && key_char(text[end])) ++end;
    while (end > at + 3 && text[end - 1] == '.') --end;  // a sentence's full stop
    if (end - at < 10) continue;
    text.replace(at, end - at, kRedacted);
  }
  return text;
}

}  // namespace storyloom::detail
