// The finished story as a Markdown document.
#pragma once

#include <string>
#include <string_view>

#include "storyloom/json.h"

namespace story {

// Who wrote the text, for people: "offline placeholder text, not a language
// model" or "written by openai (gpt-4o-mini)". `written_by` is the story
// artifact's {provider, model, language_model}.
std::string written_by_label(const storyloom::Json& written_by);
// What the offline provider's text is called wherever it is shown.
std::string offline_label();

// `story` is the "story" artifact: {title, topic, written_by, pages: [{page,
// content, plan, illustration, picture}]}. `db` and `run_id` say where it is
// stored. With `pictures_dir`, a page whose picture is set links
// "<pictures_dir>/page-N.png" and one whose picture is null says "no picture".
std::string story_markdown(const storyloom::Json& story, std::string_view db,
                           std::string_view run_id, std::string_view pictures_dir = "");

// Writes `text` to `path`, replacing it; throws std::runtime_error naming the path.
void write_text_file(const std::string& path, const std::string& text);

}  // namespace story
