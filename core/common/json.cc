#include "storyloom/json.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "storyloom/error.h"

namespace storyloom {

Json parse_json(std::string_view text, std::string_view what, int max_depth) {
  boost::system::error_code ec;
  boost::json::parse_options options;
  options.max_depth = static_cast<size_t>(std::max(1, max_depth));
  Json value = boost::json::parse(text, ec, {}, options);
  if (ec == boost::json::error::too_deep) {
    throw Error(ErrorCode::invalid_argument,
                std::string(what) + " is nested deeper than the JSON depth limit of " +
                    std::to_string(max_depth) + " levels (max_json_depth)");
  }
  if (ec) {
    throw Error(ErrorCode::invalid_argument,
                std::string(what) + " is not valid JSON: " + ec.message());
  }
  return value;
}

int json_depth(const Json& value) {
  // Iterative, so a hostile depth cannot overflow the stack.
  std::vector<std::pair<const Json*, int>> stack{{&value, 0}};
  int deepest = 0;
  while (!stack.empty()) {
    auto [v, depth] = stack.back();
    stack.pop_back();
    if (v->is_array()) {
      deepest = std::max(deepest, depth + 1);
      for (const auto& item : v->get_array()) stack.emplace_back(&item, depth + 1);
    } else if (v->is_object()) {
      deepest = std::max(deepest, depth + 1);
      for (const auto& member : v->get_object()) stack.emplace_back(&member.value(), depth + 1);
    } else {
      deepest = std::max(deepest, depth);
    }
  }
  return deepest;
}

std::string to_json_text(const Json& value) { return boost::json::serialize(value); }

}  // namespace storyloom
