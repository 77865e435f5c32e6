// A story's outline: its title, the visual style of its pictures, and a plan
// per page. Language models answer in the plain-text form parse_outline()
// reads; anything it cannot read falls back to a plan derived from the input,
// so a chatty answer never fails a run.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "story_input.h"
#include "storyloom/json.h"

namespace story {

struct Outline {
  std::string title;
  std::string visual_style;        // the pictures' medium and mood
  std::vector<std::string> plans;  // what happens on each page, in order
  // Who appears and how they look, carried into every picture's prompt so the
  // characters look the same on every page.
  std::string characters = {};
};

// The text form:  TITLE: ...  /  STYLE: ...  /  CHARACTERS: ...  /  PAGE 1: ...
// (one per line).
std::string outline_text(const Outline& outline);
// Reads the text form, exactly input.pages plans (missing ones derived from the topic).
Outline parse_outline(std::string_view text, const StoryInput& input);

storyloom::Json to_json(const Outline& outline);
Outline outline_from_json(const storyloom::Json& value);

// An "approve" signal's payload: {} or {"approved": true} keeps the outline;
// {"title"?, "visual_style"?, "characters"?, "plans"?: [exactly pages strings]} edits it;
// {"approved": false, "reason"?} rejects it (throws a fatal Error that fails
// the run). A malformed edit throws invalid_argument naming the field; the
// outline is then kept as it was.
Outline apply_outline_decision(Outline outline, const storyloom::Json& decision);

}  // namespace story
