// Checks on what callers pass in; each error names the offending value.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "storyloom/engine.h"
#include "storyloom/json.h"

namespace storyloom::detail {

// 1..kMaxNameBytes bytes of UTF-8 without control characters.
void check_name(std::string_view what, std::string_view name);
bool is_valid_utf8(std::string_view text);
void check_utf8(std::string_view what, std::string_view text);
// At most kMaxKeyBytes bytes of UTF-8 (may be empty).
void check_key(std::string_view what, std::string_view key);
// No C0 control character and no DEL: for owners and idempotency keys, which
// tools print (the CLI's list) and which are never legitimately multi-line.
void check_no_control(std::string_view what, std::string_view text);
// Serializes `value`, refusing more than `max_bytes`.
std::string checked_json_text(std::string_view what, const Json& value, size_t max_bytes);
// ... and refusing nesting deeper than limits.max_json_depth, naming the limit.
std::string checked_json_text(std::string_view what, const Json& value,
                              const EngineOptions& limits);
void check_object(std::string_view what, const Json& value);
// At most kMaxDurationMs (storyloom/clock.h): `now + value` cannot overflow.
void check_duration_limit(std::string_view what, std::chrono::milliseconds value);

}  // namespace storyloom::detail
