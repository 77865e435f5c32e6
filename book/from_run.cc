// A story run's book: its "story" artifact (or, unfinished, its pages) and
// the page pictures stored as binary artifacts.
#include <charconv>
#include <map>

#include "book.h"
#include "storyloom/error.h"

namespace storyloom::book {
namespace {

std::string string_at(const Json& value, const char* key) {
  const auto* o = value.if_object();
  const auto* v = o ? o->if_contains(key) : nullptr;
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

// N of "page/N", or 0.
int page_of(std::string_view key) {
  constexpr std::string_view prefix = "page/";
  if (!key.starts_with(prefix)) return 0;
  std::string_view digits = key.substr(prefix.size());
  int page = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), page);
  return ec == std::errc() && end == digits.data() + digits.size() && page > 0 ? page : 0;
}

// Who wrote it, from the story's {provider, model, language_model}.
std::string author_line(const Json& written_by) {
  const auto* o = written_by.if_object();
  if (!o) return "";
  const auto* lm = o->if_contains("language_model");
  if (lm && lm->is_bool() && !lm->as_bool()) return "offline placeholder text, not a language model";
  std::string provider = string_at(written_by, "provider"), model = string_at(written_by, "model");
  if (provider.empty()) return "";
  return "written by " + provider + (model.empty() ? "" : " (" + model + ")");
}

}  // namespace

std::string picture_key(int page) { return "page/" + std::to_string(page) + "/picture"; }

Book book_from_snapshot(const Snapshot& snapshot,
                        const std::function<std::string(const ArtifactInfo&)>& bytes_of) {
  Book book;
  book.identifier = snapshot.run.id;
  std::map<int, std::string> texts;
  std::map<std::string, const ArtifactInfo*> by_key;
  const ArtifactInfo* story = nullptr;
  for (const auto& a : snapshot.artifacts) {
    by_key[a.key] = &a;
    if (a.key == "story" && a.content_type.empty()) story = &a;
    if (int page = page_of(a.key); page > 0 && a.content_type.empty()) {
      texts[page] = string_at(a.value, "content");
    }
  }
  if (story && !story->value.is_object()) story = nullptr;
  if (story) {
    book.title = string_at(story->value, "title");
    book.author_line = author_line(story->value.as_object().contains("written_by")
                                       ? story->value.at("written_by")
                                       : Json(nullptr));
    if (const auto* pages = story->value.as_object().if_contains("pages"); pages && pages->is_array()) {
      texts.clear();
      int n = 0;
      for (const auto& p : pages->as_array()) {
        ++n;
        const auto* number = p.is_object() ? p.as_object().if_contains("page") : nullptr;
        int page = number && number->is_int64() ? static_cast<int>(number->as_int64()) : n;
        texts[page] = string_at(p, "content");
      }
    }
  }
  if (!story && texts.empty()) {
    throw Error(ErrorCode::not_found, "run '" + snapshot.run.id +
                                          "' has no story to export: neither a 'story' artifact "
                                          "nor any 'page/N' artifact");
  }
  if (book.title.empty()) {
    const auto* outline = by_key.count("outline") ? by_key["outline"] : nullptr;
    book.title = outline ? string_at(outline->value, "title") : "";
  }
  if (book.title.empty()) book.title = "Untitled story";
  for (auto& [number, text] : texts) {
    Page page{number, std::move(text), std::nullopt};
    auto it = by_key.find(picture_key(number));
    if (it != by_key.end() && !it->second->content_type.empty()) {
      page.picture = Picture{it->second->content_type, bytes_of(*it->second)};
    }
    book.pages.push_back(std::move(page));
  }
  return book;
}

}  // namespace storyloom::book
