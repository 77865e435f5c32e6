// JSON values cross every boundary as UTF-8 text; inside they are Boost.JSON values.
#pragma once

#include <boost/json.hpp>
#include <string>
#include <string_view>

namespace storyloom {

using Json = boost::json::value;

// How deeply arrays and objects may nest: EngineOptions::max_json_depth
// defaults to kDefaultMaxJsonDepth and may be set up to kMaxJsonDepthLimit.
inline constexpr int kDefaultMaxJsonDepth = 32;
inline constexpr int kMaxJsonDepthLimit = 1000;

// Parses `text`; throws Error(invalid_argument) naming `what` and the parse
// error; JSON nested deeper than `max_depth` levels is refused with a message
// naming the limit.
Json parse_json(std::string_view text, std::string_view what,
                int max_depth = kDefaultMaxJsonDepth);

// The nesting depth of `value`: 0 for a scalar, 1 for [] or {"a":1}, ...
int json_depth(const Json& value);

// Compact serialization.
std::string to_json_text(const Json& value);

}  // namespace storyloom
