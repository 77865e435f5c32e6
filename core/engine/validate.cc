#include "engine/validate.h"

#include "storyloom/engine.h"
#include "storyloom/error.h"

namespace storyloom::detail {

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
}

void check_key(std::string_view what, std::string_view key) {
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

void check_object(std::string_view what, const Json& value) {
  if (!value.is_object()) {
    throw Error(ErrorCode::invalid_argument,
                std::string(what) + " must be a JSON object, not " +
                    (value.is_array() ? "an array" : value.is_string() ? "a string"
                     : value.is_null() ? "null" : value.is_bool() ? "a boolean" : "a number"));
  }
}

}  // namespace storyloom::detail
