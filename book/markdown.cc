// Markdown with the pictures as files beside it.
#include "book.h"
#include "picture_files.h"

namespace storyloom::book {

MarkdownBook to_markdown(const Book& book, std::string_view pictures_dir) {
  MarkdownBook out;
  out.text = "# " + book.title + "\n\n";
  if (!book.author_line.empty()) out.text += "*" + book.author_line + "*\n\n";
  for (const auto& page : book.pages) {
    out.text += "## Page " + std::to_string(page.number) + "\n\n";
    if (page.picture) {
      std::string file = picture_file_name(page);
      out.text += "![Picture of page " + std::to_string(page.number) + "](" +
                  std::string(pictures_dir) + "/" + file + ")\n\n";
      out.pictures.emplace_back(file, page.picture->bytes);
    } else {
      out.text += "*(no picture)*\n\n";
    }
    out.text += page.text;
    if (!page.text.empty() && page.text.back() != '\n') out.text += "\n";
    out.text += "\n";
  }
  return out;
}

}  // namespace storyloom::book
