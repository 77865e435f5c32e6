#include "engine/validate.h"

#include "storyloom/engine.h"
#include "storyloom/error.h"

namespace storyloom::detail {

bool is_valid_utf8(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    auto lead = static_cast<unsigned char>(text[i]);
    size_t extra;
    uint32_t cp;
    if (lead < 0x80) {
      ++i;
      continue;
    } else if ((lead >> 5) == 0x6) {
      extra = 1;
      cp = lead & 0x1f;
    } else if ((lead >> 4) == 0xe) {
      extra = 2;
      cp = lead & 0x0f;
    } else if ((lead >> 3) == 0x1e) {
      extra = 3;
      cp = lead & 0x07;
    } else {
      return false;
    }
    if (i + extra >= text.size()) return false;  // truncated sequence
    for (size_t k = 1; k <= extra; ++k) {
      auto cont = static_cast<unsigned char>(text[i + k]);
      if ((cont >> 6) != 0x2) return false;
      cp = (cp << 6) | (cont & 0x3f);
    }
    // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
    if ((extra == 1 && cp < 0x80) || (extra == 2 && cp < 0x800) || (extra == 3 && cp < 0x10000) ||
        (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) {
      return false;
    }
    i += extra + 1;
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

void check_object(std::string_view what, const Json& value) {
  if (!value.is_object()) {
    throw Error(ErrorCode::invalid_argument,
                std::string(what) + " must be a JSON object, not " +
                    (value.is_array() ? "an array" : value.is_string() ? "a string"
                     : value.is_null() ? "null" : value.is_bool() ? "a boolean" : "a number"));
  }
}

}  // namespace storyloom::detail
