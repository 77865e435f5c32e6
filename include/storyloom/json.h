// JSON values cross every boundary as UTF-8 text; inside they are Boost.JSON values.
#pragma once

#include <boost/json.hpp>
#include <string>
#include <string_view>

namespace storyloom {

using Json = boost::json::value;

// Parses `text`; throws Error(invalid_argument) naming `what` and the parse error.
Json parse_json(std::string_view text, std::string_view what);

// Compact serialization.
std::string to_json_text(const Json& value);

}  // namespace storyloom
