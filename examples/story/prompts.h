// What the story asks a language model, per kind of text. The outline and
// the critique are asked for as JSON matching a schema (structured_answers.h).
#pragma once

#include <string>

#include "text_source.h"

namespace story {

struct Prompt {
  std::string system;
  std::string user;
  int max_tokens = 400;
  storyloom::Json json_schema = nullptr;  // structured output, or null for text
};

Prompt prompt_for(const TextRequest& request);

}  // namespace story
