// Choosing a format by name and writing a book to a file.
#include <cstring>
#include <filesystem>
#include <fstream>

#include "book.h"
#include "storyloom/error.h"

namespace storyloom::book {
namespace {

void write_file(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  out.close();
  if (!out) {
    throw Error(ErrorCode::invalid_argument,
                "cannot write '" + path + "': " + std::strerror(errno));
  }
}

}  // namespace

Format parse_format(std::string_view name) {
  if (name == "md" || name == "markdown") return Format::markdown;
  if (name == "epub") return Format::epub;
  if (name == "pdf") return Format::pdf;
  throw Error(ErrorCode::invalid_argument,
              "unknown book format '" + std::string(name) + "'; use epub, pdf or md");
}

void write_book(const Book& book, Format format, const std::string& path) {
  switch (format) {
    case Format::epub:
      return write_file(path, to_epub(book));
    case Format::pdf:
      return write_file(path, to_pdf(book));
    case Format::markdown: {
      std::filesystem::path file(path);
      std::string dir_name = file.stem().string() + "_pictures";
      auto md = to_markdown(book, dir_name);
      if (!md.pictures.empty()) {
        auto dir = file.parent_path() / dir_name;
        std::error_code ec;
        std::filesystem::create_directories(dir, ec);
        if (ec) {
          throw Error(ErrorCode::invalid_argument,
                      "cannot create '" + dir.string() + "': " + ec.message());
        }
        for (const auto& [name, bytes] : md.pictures) write_file((dir / name).string(), bytes);
      }
      return write_file(path, md.text);
    }
  }
}

}  // namespace storyloom::book
