// What the story asks a language model, per kind of text. The outline prompt
// asks for the text form parse_outline() reads.
#pragma once

#include <string>

#include "text_source.h"

namespace story {

struct Prompt {
  std::string system;
  std::string user;
  int max_tokens = 400;
};

Prompt prompt_for(const TextRequest& request);

}  // namespace story
