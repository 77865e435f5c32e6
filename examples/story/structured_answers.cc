#include "structured_answers.h"

namespace story {
namespace {

std::string string_or_empty(const boost::json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : "";
}

boost::json::object string_property(std::string_view description) {
  return {{"type", "string"}, {"minLength", 1}, {"description", description}};
}

}  // namespace

storyloom::Json outline_schema(int pages) {
  boost::json::object page = string_property("what happens on this page, one or two sentences");
  return boost::json::object{
      {"type", "object"},
      {"properties",
       boost::json::object{
           {"title", string_property("the story's title")},
           {"visual_style", string_property("the illustrations' visual style, a few words")},
           {"characters", string_property("each character and how they look (species, "
                                          "age, clothes, colours), one sentence each")},
           {"pages", boost::json::object{{"type", "array"},
                                         {"items", std::move(page)},
                                         {"minItems", pages},
                                         {"maxItems", pages}}}}},
      {"required", boost::json::array{"title", "visual_style", "characters", "pages"}},
      {"additionalProperties", false}};
}

storyloom::Json critique_schema() {
  return boost::json::object{
      {"type", "object"},
      {"properties",
       boost::json::object{
           {"critique", string_property("two or three sentences on what works and what does not")},
           {"change", string_property("the single most useful change")}}},
      {"required", boost::json::array{"critique", "change"}},
      {"additionalProperties", false}};
}

Outline outline_from_answer(const storyloom::LlmResult& answer, const StoryInput& input) {
  if (!answer.json.is_object()) return parse_outline(answer.text, input);
  const auto& o = answer.json.as_object();
  // The text form of the same outline, so one reader fills in what is blank.
  Outline read;
  read.title = string_or_empty(o, "title");
  read.visual_style = string_or_empty(o, "visual_style");
  read.characters = string_or_empty(o, "characters");
  if (const auto* pages = o.if_contains("pages"); pages && pages->is_array()) {
    for (const auto& p : pages->as_array()) read.plans.push_back(p.is_string() ? std::string(p.as_string()) : "");
  }
  return parse_outline(outline_text(read), input);
}

std::string critique_from_answer(const storyloom::LlmResult& answer) {
  if (!answer.json.is_object()) return answer.text;
  const auto& o = answer.json.as_object();
  std::string critique = string_or_empty(o, "critique");
  std::string change = string_or_empty(o, "change");
  if (change.empty()) return critique;
  return critique + (critique.empty() ? "" : " ") + "Most useful change: " + change;
}

}  // namespace story
