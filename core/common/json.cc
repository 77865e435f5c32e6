#include "storyloom/json.h"

#include "storyloom/error.h"

namespace storyloom {

Json parse_json(std::string_view text, std::string_view what) {
  boost::system::error_code ec;
  Json value = boost::json::parse(text, ec);
  if (ec) {
    throw Error(ErrorCode::invalid_argument,
                std::string(what) + " is not valid JSON: " + ec.message());
  }
  return value;
}

std::string to_json_text(const Json& value) { return boost::json::serialize(value); }

}  // namespace storyloom
