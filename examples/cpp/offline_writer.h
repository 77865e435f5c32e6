// A deterministic offline text generator standing in for a language model, so
// the example runs with no key and no network. Its output is placeholder text
// built from the topic and the page number with a fixed seed: the same topic
// and page always give the same words.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace story {

// Shown wherever the generated text appears.
inline constexpr std::string_view kOfflineLabel = "offline placeholder text, not a language model";

struct PagePlan {
  std::string plan;          // what happens on the page
  std::string illustration;  // what its picture shows
};

struct Outline {
  std::string title;
  std::vector<PagePlan> pages;  // one per page, in order
};

Outline write_outline(std::string_view topic, int pages);

// The text of page `page` (1-based) of `outline`: a few hundred characters,
// one paragraph.
std::string write_page(std::string_view topic, const Outline& outline, int page);

}  // namespace story
