#include "story_export.h"

#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include "offline_writer.h"

namespace story {
namespace {

std::string text_of(const storyloom::Json& object, std::string_view key) {
  const auto* v = object.as_object().if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

}  // namespace

std::string story_markdown(const storyloom::Json& story, std::string_view db,
                           std::string_view run_id) {
  std::string md = "# " + text_of(story, "title") + "\n\n";
  std::string label(kOfflineLabel);
  label[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(label[0])));
  md += "> " + label + ": written by the storyloom C++ example, run `" + std::string(run_id) +
        "` in `" + std::string(db) + "`.\n\n";
  md += "**Topic:** " + text_of(story, "topic") + "\n";
  for (const auto& page : story.at("pages").as_array()) {
    md += "\n## Page " + std::to_string(page.at("page").to_number<int64_t>()) + "\n\n";
    md += "*Illustration: " + text_of(page, "illustration") + "*\n\n";
    md += text_of(page, "content") + "\n";
  }
  return md;
}

void write_text_file(const std::string& path, const std::string& text) {
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  if (file) file << text;
  if (file) file.close();
  if (!file) {
    throw std::runtime_error("cannot write '" + path + "': " + std::strerror(errno));
  }
}

}  // namespace story
