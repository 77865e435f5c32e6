#include "engine/validate.h"

#include "common/utf8.h"

#include "storyloom/clock.h"
#include "storyloom/engine.h"
#include "storyloom/error.h"

namespace storyloom::detail {

bool is_valid_utf8(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    size_t n = utf8_char_length(text, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

void check_name(std::string_view what, std::string_view name) {
  if (name.empty()) throw Error(ErrorCode::invalid_argument, std::string(what) + " is empty");
  if (name.size() > kMaxNameBytes) {
    throw Error(ErrorCode::invalid_argument,
                std::string(what) + " '" + std::string(name.substr(0, 32)) + "...' is " +
                    std::to_string(name.size()) + " bytes; the limit is " +
                    std::to_string(kMaxNameBytes));
  }
  for (unsigned char c : name) {
    if (c < 0x20 || c == 0x7f) {
      throw Error(ErrorCode::invalid_argument,
                  std::string(what) + " contains a control character");
    }
  }
  if (!is_valid_utf8(name)) {
    throw Error(ErrorCode::invalid_argument, std::string(what) + " is not valid UTF-8");
  }
}

void check_utf8(std::string_view what, std::string_view text) {
  if (!is_valid_utf8(text)) {
    throw Error(ErrorCode::invalid_argument, std::string(what) + " is not valid UTF-8");
  }
}

void check_no_control(std::string_view what, std::string_view text) {
  for (unsigned char c : text) {
    if (c < 0x20 || c == 0x7f) {
      throw Error(ErrorCode::invalid_argument,
                  std::string(what) + " contains a control character");
    }
  }
}

void check_key(std::string_view what, std::string_view key) {
  check_utf8(what, key);
  if (key.size() > kMaxKeyBytes) {
    throw Error(ErrorCode::invalid_argument, std::string(what) + " is " +
                                                 std::to_string(key.size()) +
                                                 " bytes; the limit is " +
                                                 std::to_string(kMaxKeyBytes));
  }
}

std::string checked_json_text(std::string_view what, const Json& value, size_t max_bytes) {
  std::string text = boost::json::serialize(value);
  if (text.size() > max_bytes) {
    throw Error(ErrorCode::payload_too_large,
                std::string(what) + " is " + std::to_string(text.size()) +
                    " bytes of JSON; the limit is " + std::to_string(max_bytes));
  }
  return text;
}

void check_duration_limit(std::string_view what, std::chrono::milliseconds value) {
  if (value.count() > kMaxDurationMs) {
    throw Error(ErrorCode::invalid_argument,
                std::string(what) + " is " + std::to_string(value.count()) +
                    " ms; the limit is " + std::to_string(kMaxDurationMs) + " ms (100 years)");
  }
}

std::string checked_json_text(std::string_view what, const Json& value,
                              const EngineOptions& limits) {
  if (json_depth(value) > limits.max_json_depth) {
    throw Error(ErrorCode::invalid_argument,
                std::string(what) + " is nested deeper than the JSON depth limit of " +
                    std::to_string(limits.max_json_depth) + " levels (max_json_depth)");
  }
  return checked_json_text(what, value, limits.max_payload_bytes);
}

void check_object(std::string_view what, const Json& value) {
  if (!value.is_object()) {
    throw Error(ErrorCode::invalid_argument,
                std::string(what) + " must be a JSON object, not " +
                    (value.is_array() ? "an array" : value.is_string() ? "a string"
                     : value.is_null() ? "null" : value.is_bool() ? "a boolean" : "a number"));
  }
}

}  // namespace storyloom::detail
