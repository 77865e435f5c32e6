#include "outline.h"

#include <cctype>
#include <charconv>

#include "storyloom/error.h"

namespace story {
namespace {

using storyloom::Error;
using storyloom::ErrorClass;
using storyloom::ErrorCode;

std::string_view trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  return text;
}

// "PAGE 3: text" (any case, optional markdown bold) → (3, "text"); 0 otherwise.
std::pair<int, std::string_view> page_line(std::string_view line) {
  while (!line.empty() && (line.front() == '*' || line.front() == '#')) line.remove_prefix(1);
  line = trim(line);
  if (line.size() < 6) return {0, {}};
  std::string head(line.substr(0, 4));
  for (auto& c : head) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (head != "PAGE") return {0, {}};
  line = trim(line.substr(4));
  int page = 0;
  auto [end, ec] = std::from_chars(line.data(), line.data() + line.size(), page);
  if (ec != std::errc()) return {0, {}};
  line.remove_prefix(static_cast<size_t>(end - line.data()));
  while (!line.empty() && (line.front() == '*' || line.front() == ':' || line.front() == '.' ||
                           line.front() == ' ')) {
    line.remove_prefix(1);
  }
  return {page, trim(line)};
}

// "TITLE: text" → "text" when `line` starts with `label` (any case).
bool labelled(std::string_view line, std::string_view label, std::string& out) {
  while (!line.empty() && (line.front() == '*' || line.front() == '#')) line.remove_prefix(1);
  line = trim(line);
  if (line.size() <= label.size()) return false;
  for (size_t i = 0; i < label.size(); ++i) {
    if (std::toupper(static_cast<unsigned char>(line[i])) != label[i]) return false;
  }
  line.remove_prefix(label.size());
  while (!line.empty() && (line.front() == '*' || line.front() == ':' || line.front() == ' ')) {
    line.remove_prefix(1);
  }
  out = std::string(trim(line));
  return !out.empty();
}

std::string string_at(const boost::json::object& object, std::string_view key) {
  const auto* v = object.if_contains(key);
  if (v == nullptr || !v->is_string()) {
    throw Error(ErrorCode::invalid_argument, "outline: '" + std::string(key) + "' must be a string");
  }
  return std::string(v->as_string());
}

}  // namespace

std::string outline_text(const Outline& outline) {
  std::string text = "TITLE: " + outline.title + "\nSTYLE: " + outline.visual_style + "\n";
  if (!outline.characters.empty()) text += "CHARACTERS: " + outline.characters + "\n";
  for (size_t i = 0; i < outline.plans.size(); ++i) {
    text += "PAGE " + std::to_string(i + 1) + ": " + outline.plans[i] + "\n";
  }
  return text;
}

Outline parse_outline(std::string_view text, const StoryInput& input) {
  Outline outline;
  outline.plans.resize(static_cast<size_t>(input.pages));
  for (size_t start = 0; start < text.size();) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    start = end + 1;
    std::string value;
    if (outline.title.empty() && labelled(line, "TITLE", value)) {
      outline.title = value;
    } else if (outline.visual_style.empty() && labelled(line, "STYLE", value)) {
      outline.visual_style = value;
    } else if (outline.characters.empty() && labelled(line, "CHARACTERS", value)) {
      outline.characters = value;
    } else if (auto [page, plan] = page_line(line); page >= 1 && page <= input.pages) {
      auto& slot = outline.plans[static_cast<size_t>(page - 1)];
      if (slot.empty()) slot = std::string(plan);
    }
  }
  if (outline.title.empty()) outline.title = "A Story About " + input.topic;
  if (outline.visual_style.empty()) outline.visual_style = "soft watercolour illustrations";
  if (outline.characters.empty()) {
    outline.characters = "the characters of a story about " + input.topic +
                         ", each drawn the same way on every page";
  }
  for (size_t i = 0; i < outline.plans.size(); ++i) {
    if (outline.plans[i].empty()) {
      outline.plans[i] = "Page " + std::to_string(i + 1) + " of the story of " + input.topic + ".";
    }
  }
  return outline;
}

storyloom::Json to_json(const Outline& outline) {
  boost::json::array plans;
  for (const auto& p : outline.plans) plans.emplace_back(p);
  return boost::json::object{{"title", outline.title},
                             {"visual_style", outline.visual_style},
                             {"characters", outline.characters},
                             {"plans", std::move(plans)}};
}

Outline outline_from_json(const storyloom::Json& value) {
  if (!value.is_object()) throw Error(ErrorCode::invalid_argument, "outline must be an object");
  const auto& object = value.as_object();
  Outline outline{string_at(object, "title"), string_at(object, "visual_style"), {}};
  // Outlines stored before characters were asked for have none.
  if (object.if_contains("characters")) outline.characters = string_at(object, "characters");
  const auto* plans = object.if_contains("plans");
  if (plans == nullptr || !plans->is_array()) {
    throw Error(ErrorCode::invalid_argument, "outline: 'plans' must be an array of strings");
  }
  for (const auto& p : plans->as_array()) {
    if (!p.is_string()) {
      throw Error(ErrorCode::invalid_argument, "outline: 'plans' must be an array of strings");
    }
    outline.plans.emplace_back(p.as_string());
  }
  return outline;
}

Outline apply_outline_decision(Outline outline, const storyloom::Json& decision) {
  if (decision.is_null()) return outline;
  if (!decision.is_object()) {
    throw Error(ErrorCode::invalid_argument,
                "the approve signal must carry a JSON object, got " + boost::json::serialize(decision));
  }
  const auto& object = decision.as_object();
  if (const auto* approved = object.if_contains("approved")) {
    if (!approved->is_bool()) {
      throw Error(ErrorCode::invalid_argument, "approve: 'approved' must be true or false");
    }
    if (!approved->as_bool()) {
      const auto* reason = object.if_contains("reason");
      std::string why = reason && reason->is_string() ? std::string(reason->as_string()) : "no reason given";
      throw Error(ErrorCode::step_failed, "the outline was rejected: " + why, ErrorClass::fatal);
    }
  }
  Outline edited = outline;
  for (std::string_view key : {"title", "visual_style", "characters"}) {
    if (object.if_contains(key) == nullptr) continue;
    std::string value = string_at(object, key);
    if (trim(value).empty()) {
      throw Error(ErrorCode::invalid_argument, "approve: '" + std::string(key) + "' must not be blank");
    }
    (key == "title" ? edited.title : key == "visual_style" ? edited.visual_style : edited.characters) =
        value;
  }
  if (const auto* plans = object.if_contains("plans")) {
    if (!plans->is_array() || plans->as_array().size() != outline.plans.size()) {
      throw Error(ErrorCode::invalid_argument,
                  "approve: 'plans' must be an array of exactly " +
                      std::to_string(outline.plans.size()) + " strings, one per page");
    }
    for (size_t i = 0; i < outline.plans.size(); ++i) {
      const auto& p = plans->as_array()[i];
      if (!p.is_string() || trim(p.as_string()).empty()) {
        throw Error(ErrorCode::invalid_argument,
                    "approve: plans[" + std::to_string(i) + "] must be a non-blank string");
      }
      edited.plans[i] = std::string(p.as_string());
    }
  }
  return edited;
}

}  // namespace story
