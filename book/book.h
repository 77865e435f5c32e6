// storyloom's book library: a finished story (title, author line, pages with
// their pictures) written out as Markdown with the pictures beside it, as an
// EPUB 3 (libzip) or as a PDF (Cairo + Pango, fonts embedded). It sits beside
// the engine, not inside it: it reads a run through the public C++ API only.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storyloom/run.h"

namespace storyloom::book {

struct Picture {
  std::string content_type;  // image/png (PDF draws PNG only; EPUB and Markdown take any image/*)
  std::string bytes;
};

struct Page {
  int number = 0;  // 1, 2, ...
  std::string text;
  std::optional<Picture> picture;  // none: the page shows "no picture"
};

struct Book {
  std::string title;
  std::string author_line;  // under the title on the cover ("offline placeholder text, ...")
  std::string language = "en";
  std::string identifier;   // EPUB dc:identifier (the run id); must not be empty for EPUB
  std::vector<Page> pages;  // in order
};

enum class Format { markdown, epub, pdf };

// "md"/"markdown", "epub" or "pdf"; else Error(invalid_argument) naming the choices.
Format parse_format(std::string_view name);

// Markdown: the text, and the pictures to write beside it, each as
// (file name, bytes); the text links them as `<pictures_dir>/<file name>`.
struct MarkdownBook {
  std::string text;
  std::vector<std::pair<std::string, std::string>> pictures;
};
MarkdownBook to_markdown(const Book& book, std::string_view pictures_dir);

// The bytes of an EPUB 3 file (valid by epubcheck). Throws Error(internal)
// when libzip fails, invalid_argument for a book without an identifier.
std::string to_epub(const Book& book);

// The bytes of an A5 PDF: a cover with the title and author line, then one
// page per story page with its picture above its text; fonts are embedded.
// A picture that is not PNG is shown as "no picture".
std::string to_pdf(const Book& book);

// Writes the book to `path` in `format`. Markdown writes its pictures into
// "<path without extension>_pictures/" beside it. Throws Error
// (invalid_argument) naming a file that cannot be written.
void write_book(const Book& book, Format format, const std::string& path);

// The book of a story run: the "story" artifact ({title, written_by, pages:
// [{page, content}]}) or, while it is unfinished, its "page/N" artifacts
// ({content}); the picture of page N is the binary artifact "page/N/picture"
// when there is one (read through `bytes_of`). Throws Error(not_found) when
// the run has neither a story nor a page.
Book book_from_snapshot(const Snapshot& snapshot,
                        const std::function<std::string(const ArtifactInfo&)>& bytes_of);

// The picture key of page N of a story: "page/N/picture".
std::string picture_key(int page);

}  // namespace storyloom::book
