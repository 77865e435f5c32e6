// The finished story as a Markdown document.
#pragma once

#include <string>
#include <string_view>

#include "storyloom/json.h"

namespace story {

// `story` is the "story" artifact: {title, topic, generator, pages: [{page,
// content, plan, illustration}]}. `db` and `run_id` say where it is stored.
std::string story_markdown(const storyloom::Json& story, std::string_view db,
                           std::string_view run_id);

// Writes `text` to `path`, replacing it; throws std::runtime_error naming the path.
void write_text_file(const std::string& path, const std::string& text);

}  // namespace story
