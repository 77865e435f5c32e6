// A deterministic offline text generator standing in for a language model, so
// the example runs with no key and no network. Its output is placeholder text
// built from the input with a fixed seed: the same input always gives the same
// words, on every machine.
#pragma once

#include <string>
#include <string_view>

#include "story_input.h"

namespace story {

// Shown wherever the generated text appears.
inline constexpr std::string_view kOfflineLabel = "offline placeholder text, not a language model";

// The outline in the text form parse_outline() reads.
std::string offline_outline(const StoryInput& input);
// Page `page` (1-based): one paragraph of a few hundred characters.
std::string offline_page(const StoryInput& input, int page);
// Round `round` of critique of a page, and the revision that follows it.
std::string offline_critique(const StoryInput& input, int page, int round);
std::string offline_revision(const StoryInput& input, int page, int round, std::string_view draft);
// The illustration brief of a page, in the book's visual style.
std::string offline_illustration(const StoryInput& input, const std::string& visual_style, int page);

}  // namespace story
