// Checks on what callers pass in; each error names the offending value.
#pragma once

#include <string>
#include <string_view>

#include "storyloom/json.h"

namespace storyloom::detail {

// 1..kMaxNameBytes bytes of UTF-8 without control characters.
void check_name(std::string_view what, std::string_view name);
bool is_valid_utf8(std::string_view text);
void check_utf8(std::string_view what, std::string_view text);
// At most kMaxKeyBytes bytes (may be empty).
void check_key(std::string_view what, std::string_view key);
// Serializes `value`, refusing more than `max_bytes`.
std::string checked_json_text(std::string_view what, const Json& value, size_t max_bytes);
void check_object(std::string_view what, const Json& value);

}  // namespace storyloom::detail
