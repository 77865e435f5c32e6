// The offline provider's text: deterministic placeholder prose built from the
// prompt with a fixed seed — not a language model. The same request gives the
// same words on every machine. When the prompt asks for an answer form of
// lines like "TITLE: <the title>", the answer has one filled-in line for each
// (that is how the story example's outline parses offline).
#pragma once

#include <string>
#include <vector>

#include "storyloom/llm.h"

namespace storyloom::detail {

struct OfflineText {
  std::vector<std::string> pieces;  // the text in streaming order (a word and its spacing each)
  int64_t input_tokens = 0;         // words in the request's messages
  bool truncated = false;           // cut at max_tokens (finish reason "length")
};

OfflineText offline_text(const LlmRequest& request);

}  // namespace storyloom::detail
