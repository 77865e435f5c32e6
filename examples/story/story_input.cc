#include "story_input.h"

#include <cstdint>
#include <cstdio>

#include "storyloom/error.h"

namespace story {
namespace {

using storyloom::Error;
using storyloom::ErrorCode;

[[noreturn]] void bad(const std::string& field, const std::string& why) {
  throw Error(ErrorCode::invalid_argument, "story input: '" + field + "' " + why);
}

std::string text_field(const boost::json::object& object, std::string_view name, size_t max,
                       std::string_view fallback) {
  const auto* v = object.if_contains(name);
  if (v == nullptr) {
    if (fallback.empty()) bad(std::string(name), "is required");
    return std::string(fallback);
  }
  if (!v->is_string()) bad(std::string(name), "must be a string");
  std::string text(v->as_string());
  if (text.find_first_not_of(" \t\r\n") == std::string::npos) {
    bad(std::string(name), "must not be blank");
  }
  if (text.size() > max) {
    bad(std::string(name), "is " + std::to_string(text.size()) + " bytes; the limit is " +
                               std::to_string(max));
  }
  return text;
}

int int_field(const boost::json::object& object, std::string_view name, int min, int max,
              int fallback) {
  const auto* v = object.if_contains(name);
  if (v == nullptr) return fallback;
  if (!v->is_int64() || v->as_int64() < min || v->as_int64() > max) {
    bad(std::string(name), "must be a whole number from " + std::to_string(min) + " to " +
                               std::to_string(max) + ", got " + boost::json::serialize(*v));
  }
  return static_cast<int>(v->as_int64());
}

}  // namespace

StoryInput parse_story_input(const storyloom::Json& value) {
  if (!value.is_object()) {
    throw Error(ErrorCode::invalid_argument,
                "story input must be a JSON object {topic, author_style, pages, quality, "
                "approve_outline}, got " + boost::json::serialize(value));
  }
  const auto& object = value.as_object();
  StoryInput input;
  input.topic = text_field(object, "topic", kMaxTopicBytes, "");
  input.author_style = text_field(object, "author_style", kMaxStyleBytes, kDefaultStyle);
  input.pages = int_field(object, "pages", 1, kMaxPages, input.pages);
  input.quality = int_field(object, "quality", 0, kMaxQuality, input.quality);
  if (const auto* v = object.if_contains("approve_outline")) {
    if (!v->is_bool()) bad("approve_outline", "must be true or false");
    input.approve_outline = v->as_bool();
  }
  return input;
}

storyloom::Json to_json(const StoryInput& input) {
  return boost::json::object{{"topic", input.topic},
                             {"author_style", input.author_style},
                             {"pages", input.pages},
                             {"quality", input.quality},
                             {"approve_outline", input.approve_outline}};
}

std::string story_key(const StoryInput& input) {
  // Topic and style together can exceed the 256-byte key limit, so the key is
  // a 128-bit digest of every field (two 64-bit FNV-1a hashes with different
  // seeds): stable across machines, and two requests sharing one is not a
  // practical concern.
  std::string text = boost::json::serialize(to_json(input));
  auto fnv1a = [&](uint64_t h) {
    for (unsigned char c : text) {
      h ^= c;
      h *= 0x100000001b3u;
    }
    return h;
  };
  char digest[33];
  std::snprintf(digest, sizeof digest, "%016llx%016llx",
                static_cast<unsigned long long>(fnv1a(0xcbf29ce484222325u)),
                static_cast<unsigned long long>(fnv1a(0x84222325cbf29ce4u)));
  return "story:" + std::to_string(input.pages) + "p:" + digest;
}

}  // namespace story
