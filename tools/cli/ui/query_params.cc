#include "query_params.h"

#include <charconv>

namespace storyloom::cli::ui {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Shown in error messages: long or binary values are cut, not echoed whole.
std::string shown(std::string_view text) {
  constexpr size_t kMaxShown = 64;
  std::string out;
  for (char c : text.substr(0, kMaxShown)) {
    out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? '?' : c;
  }
  if (text.size() > kMaxShown) out += "...";
  return "'" + out + "'";
}

}  // namespace

std::string percent_decode(std::string_view text, std::string_view what) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '+') {
      out += ' ';
    } else if (c == '%') {
      int hi = i + 2 < text.size() ? hex_value(text[i + 1]) : -1;
      int lo = i + 2 < text.size() ? hex_value(text[i + 2]) : -1;
      if (hi < 0 || lo < 0) {
        throw ApiError(400, std::string(what) + ": bad percent escape in " + shown(text));
      }
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

QueryParams::QueryParams(std::string_view query) {
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    std::string name = percent_decode(pair.substr(0, eq), "query parameter name");
    std::string value =
        eq == std::string_view::npos ? std::string() : percent_decode(pair.substr(eq + 1), name);
    if (!values_.emplace(name, std::move(value)).second) {
      throw ApiError(400, "query parameter " + shown(name) + " given twice");
    }
  }
}

std::optional<std::string> QueryParams::text(std::string_view name) const {
  auto it = values_.find(name);
  if (it == values_.end() || it->second.empty()) return std::nullopt;
  return it->second;
}

std::optional<int64_t> QueryParams::integer(std::string_view name, int64_t min, int64_t max) const {
  auto value = text(name);
  if (!value) return std::nullopt;
  return parse_integer(*value, name, min, max);
}

void QueryParams::only(std::initializer_list<std::string_view> known) const {
  for (const auto& [name, value] : values_) {
    bool ok = false;
    for (auto k : known) ok = ok || k == name;
    if (!ok) throw ApiError(400, "unknown query parameter " + shown(name));
  }
}

int64_t parse_integer(std::string_view text, std::string_view what, int64_t min, int64_t max) {
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
    throw ApiError(400, std::string(what) + " must be a whole number, got " + shown(text));
  }
  if (value < min || value > max) {
    throw ApiError(400, std::string(what) + " must be between " + std::to_string(min) + " and " +
                            std::to_string(max) + ", got " + std::to_string(value));
  }
  return value;
}

}  // namespace storyloom::cli::ui
