// The outline and the critique are asked for as JSON (JSON-schema structured
// output, storyloom/llm.h): these are their schemas and how an answer
// becomes an Outline or a critique. An answer without JSON (a TextSource that
// is not the llm step, a truncated answer) falls back to reading its text.
#pragma once

#include <string>

#include "outline.h"
#include "story_input.h"
#include "storyloom/llm.h"

namespace story {

// {"title", "visual_style", "characters", "pages": [exactly `pages` strings]}.
storyloom::Json outline_schema(int pages);
// {"critique": "...", "change": "the single most useful change"}.
storyloom::Json critique_schema();

// The outline an answer holds: its JSON when present (blank fields derived
// from the input, as parse_outline does), else parse_outline(answer.text).
Outline outline_from_answer(const storyloom::LlmResult& answer, const StoryInput& input);
// The critique an answer holds, as one text: "<critique> Most useful change: <change>".
std::string critique_from_answer(const storyloom::LlmResult& answer);

}  // namespace story
