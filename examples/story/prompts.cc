#include "prompts.h"

#include "structured_answers.h"

namespace story {
namespace {

std::string page_of(const TextRequest& r) {
  return "page " + std::to_string(r.page) + " of " + std::to_string(r.input->pages);
}

std::string plan_of(const TextRequest& r) {
  return r.outline->plans.at(static_cast<size_t>(r.page - 1));
}

}  // namespace

Prompt prompt_for(const TextRequest& r) {
  const StoryInput& in = *r.input;
  Prompt p;
  p.system =
      "You write illustrated stories, one short page at a time. Author style: " + in.author_style +
      ".";
  switch (r.kind) {
    case TextKind::outline:
      p.user = "Plan an illustrated story about " + in.topic + " in exactly " +
               std::to_string(in.pages) +
               " pages. Answer with JSON: the title, the visual style of the illustrations (a "
               "few words), the characters and how each looks (so every picture draws them "
               "alike) and, for each page in order, what happens on it in one or two "
               "sentences.";
      p.json_schema = outline_schema(in.pages);
      p.max_tokens = 200 + 80 * in.pages;
      break;
    case TextKind::page:
      p.user = "The story \"" + r.outline->title + "\" is about " + in.topic + ". Write " +
               page_of(r) + ". Its plan: " + plan_of(r) +
               "\nAnswer with the page's text only: one paragraph of 80 to 150 words.";
      p.max_tokens = 400;
      break;
    case TextKind::critique:
      p.user = "Critique " + page_of(r) + " of \"" + r.outline->title + "\" (plan: " + plan_of(r) +
               "). Answer with JSON: the critique in two or three sentences, and the single "
               "most useful change.\n\n" +
               r.draft;
      p.json_schema = critique_schema();
      p.max_tokens = 200;
      break;
    case TextKind::revision:
      p.user = "Revise " + page_of(r) + " of \"" + r.outline->title +
               "\" by applying this critique: " + r.critique +
               "\nAnswer with the revised page's text only.\n\n" + r.draft;
      p.max_tokens = 500;
      break;
    case TextKind::illustration:
      p.user = "Write the illustration brief for " + page_of(r) + " of \"" + r.outline->title +
               "\": what the picture shows (characters, setting, action, mood), in the book's "
               "visual style: " +
               r.outline->visual_style + ". Two or three sentences, nothing else.\n\nThe page:\n" +
               r.draft;
      p.max_tokens = 200;
      break;
  }
  return p;
}

}  // namespace story
