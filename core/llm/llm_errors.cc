#include "llm/llm_errors.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <vector>

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
  if (provider.name == "gemini") return "GEMINI_API_KEY or GOOGLE_API_KEY";
  return nullptr;
}

bool key_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '*' ||
         c == '.';
}

std::string lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool base64_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/' || c == '=' ||
         c == '-' || c == '_';
}

std::string base64(std::string_view bytes, bool url_safe) {
  const char* alphabet = url_safe
                             ? "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                             : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  uint32_t bits = 0;
  int count = 0;
  for (unsigned char c : bytes) {
    bits = (bits << 8) | c;
    count += 8;
    while (count >= 6) {
      count -= 6;
      out.push_back(alphabet[(bits >> count) & 0x3F]);
    }
  }
  if (count > 0) out.push_back(alphabet[(bits << (6 - count)) & 0x3F]);
  return out;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// `text` lowercased with every %XX escape decoded, and where each of its
// characters came from, so a match in it marks the original spelling.
struct DecodedView {
  std::string text;
  std::vector<size_t> from;  // original offset of each character, plus one past the end
};

DecodedView percent_decoded_lowercase(std::string_view text) {
  DecodedView view;
  for (size_t i = 0; i < text.size();) {
    view.from.push_back(i);
    if (text[i] == '%' && i + 2 < text.size() && hex_value(text[i + 1]) >= 0 &&
        hex_value(text[i + 2]) >= 0) {
      char c = static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2]));
      view.text.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
      i += 3;
    } else {
      view.text.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(text[i]))));
      i += 1;
    }
  }
  view.from.push_back(text.size());
  return view;
}

// Marks [from, to) for redaction.
void mark(std::vector<bool>& mask, size_t from, size_t to) {
  for (size_t i = from; i < to && i < mask.size(); ++i) mask[i] = true;
}

// Marks every place where `view` holds at least `minimum` leading characters
// of `lowered_key` (letter case and percent-encoding ignored), widened to the
// whole key-like token.
void mark_prefixes(std::vector<bool>& mask, const DecodedView& view, std::string_view lowered_key,
                   size_t minimum) {
  const std::string& t = view.text;
  if (lowered_key.empty() || minimum == 0) return;
  for (size_t i = t.find(lowered_key.front()); i != std::string::npos;
       i = t.find(lowered_key.front(), i + 1)) {
    size_t n = 0;
    while (n < lowered_key.size() && i + n < t.size() && t[i + n] == lowered_key[n]) ++n;
    if (n < minimum) continue;
    size_t end = i + n;
    while (end < t.size() && key_char(t[end])) ++end;
    mark(mask, view.from[i], view.from[end]);
  }
}

// Marks base64 tokens that carry `key`: alone, or after/before other bytes
// (a base64 "user:key" credential), at each of the three byte alignments.
void mark_base64(std::vector<bool>& mask, std::string_view text, std::string_view key) {
  for (bool url_safe : {false, true}) {
    for (size_t pad = 0; pad < 3; ++pad) {
      std::string padded = std::string(pad, ':') + std::string(key);
      std::string encoded = base64(padded, url_safe);
      // Characters that depend on the key's bytes only.
      size_t first = (pad * 8 + 5) / 6;
      size_t last = (padded.size() * 8) / 6;  // one past
      if (last <= first || last - first < 8) continue;
      std::string core = encoded.substr(first, last - first);
      for (size_t at = text.find(core); at != std::string_view::npos;
           at = text.find(core, at + 1)) {
        size_t b = at, e = at + core.size();
        while (b > 0 && base64_char(text[b - 1])) --b;
        while (e < text.size() && base64_char(text[e])) ++e;
        mark(mask, b, e);
      }
    }
  }
}

// Marks tokens shaped like a provider's key: `prefix` then at least `minimum` key characters.
void mark_shape(std::vector<bool>& mask, std::string_view text, std::string_view prefix,
                size_t minimum) {
  for (size_t at = text.find(prefix); at != std::string_view::npos;
       at = text.find(prefix, at + 1)) {
    if (at > 0 && key_char(text[at - 1])) continue;
    size_t end = at + prefix.size();
    while (end < text.size() && key_char(text[end])) ++end;
    while (end > at + prefix.size() && text[end - 1] == '.') --end;  // a sentence's full stop
    if (end - at - prefix.size() < minimum) continue;
    mark(mask, at, end);
  }
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

bool is_quota_answer(long status, const ProviderErrorBody& body) {
  if (body.quota || status == 402) return true;
  if (body.code == "insufficient_quota" || body.type == "insufficient_quota" ||
      body.type == "billing_error") {
    return true;
  }
  // Anthropic: "Your credit balance is too low ..." and "You have reached your
  // specified API usage limits ..." come as invalid_request_error.
  if (status == 400 || status == 403) {
    std::string said = lowercase(body.message);
    for (const char* phrase :
         {"credit balance", "usage limit", "out of credits", "insufficient credits", "billing"}) {
      if (said.find(phrase) != std::string::npos) return true;
    }
  }
  return false;
}

Error status_error(const LlmProviderConfig& provider, const std::string& model, long status,
                   const ProviderErrorBody& body, std::optional<int64_t> retry_after) {
  std::string label = call_label(provider, model);
  std::string said = redact(body.message, provider.api_key);
  std::string code = "HTTP " + std::to_string(status);
  if (is_quota_answer(status, body)) {
    std::string why = body.code.empty() ? body.type : body.code;
    std::string text = with_provider_message(
        label + ": the provider account is out of quota or credit (" + code +
            (why.empty() ? std::string() : ", " + redact(why, provider.api_key)) +
            "); retrying will not help until its plan or credit is raised",
        said);
    return Error(ErrorCode::quota_exceeded, text, ErrorClass::fatal);
  }
  if (!retry_after) retry_after = body.retry_after_ms;
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
  return redact(std::move(text), std::vector<std::string>{api_key});
}

std::string redact(std::string text, const std::vector<std::string>& secrets) {
  static constexpr std::string_view kRedacted = "[redacted]";
  // A key shorter than this is matched whole only; a prefix this long names it.
  static constexpr size_t kIdentifyingPrefix = 12;
  std::vector<bool> mask(text.size(), false);
  const DecodedView view = percent_decoded_lowercase(text);
  for (const auto& key : secrets) {
    if (key.size() < 4) continue;
    mark_prefixes(mask, view, lowercase(key), std::min(key.size(), kIdentifyingPrefix));
    mark_base64(mask, text, key);
  }
  // Providers echo parts of keys ("Incorrect API key provided: sk-abc***xyz").
  mark_shape(mask, text, "sk-", 7);    // OpenAI sk-, sk-proj-; Anthropic sk-ant-; OpenRouter sk-or-
  mark_shape(mask, text, "AIza", 10);  // Google API keys (Gemini)
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    if (!mask[i]) {
      out.push_back(text[i++]);
      continue;
    }
    out += kRedacted;
    while (i < text.size() && mask[i]) ++i;
  }
  return out;
}

}  // namespace storyloom::detail
