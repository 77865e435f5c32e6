// The story's one way to get text: every piece of generated text (outline,
// page, critique, revision, illustration brief) is a TextRequest answered by a
// TextSource inside a durable step, streamed live as chunks of `stream`.
#pragma once

#include <functional>
#include <string>

#include "outline.h"
#include "story_input.h"
#include "storyloom/context.h"

namespace story {

enum class TextKind { outline, page, critique, revision, illustration };

struct TextRequest {
  TextKind kind = TextKind::page;
  std::string step;    // the durable step's name, e.g. "page/3/write"
  std::string stream;  // the chunk stream shown live, e.g. "page/3"
  const StoryInput* input = nullptr;
  const Outline* outline = nullptr;  // all kinds but outline
  int page = 0;                      // 1-based; all kinds but outline
  int round = 0;                     // critique and revision: 1..quality
  std::string draft;                 // critique, revision, illustration: the page so far
  std::string critique;              // revision: what to change
};

// Runs the request as a durable step (memoized: a finished step is never
// asked again) and returns its answer: the text and who wrote it.
using TextSource =
    std::function<storyloom::LlmResult(storyloom::Context&, const TextRequest&)>;

// The built-in llm step (storyloom/llm.h) with the prompts of prompts.h, on
// `provider` ("" for the engine's default, the offline generator when no key
// is set) and `model` ("" for the provider's).
TextSource llm_text_source(std::string provider, std::string model);

}  // namespace story
