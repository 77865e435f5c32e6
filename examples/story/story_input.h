// What a story run is asked to write: the workflow's input, validated.
#pragma once

#include <string>

#include "storyloom/json.h"

namespace story {

inline constexpr int kMaxPages = 40;
inline constexpr int kMaxQuality = 3;
inline constexpr size_t kMaxTopicBytes = 200;
inline constexpr size_t kMaxStyleBytes = 200;
inline constexpr std::string_view kDefaultStyle = "warm and simple, for young readers";

struct StoryInput {
  std::string topic;
  std::string author_style{kDefaultStyle};
  int pages = 4;
  int quality = 1;  // critique-and-revise rounds per page, 0 to kMaxQuality
  bool approve_outline = false;  // wait for an "approve" signal after the outline
};

// {topic, author_style?, pages?, quality?, approve_outline?}. Throws
// storyloom::Error(invalid_argument) naming the first field that is wrong.
StoryInput parse_story_input(const storyloom::Json& value);
storyloom::Json to_json(const StoryInput& input);

// The same request resumes the same run: every field is part of the key.
std::string story_key(const StoryInput& input);

}  // namespace story
