// EPUB 3 through libzip: the uncompressed "mimetype" entry first, the
// container, the package document, a navigation document, a title page and
// one XHTML page per story page with its picture.
#include <zip.h>

#include <chrono>
#include <ctime>
#include <memory>

#include "book.h"
#include "picture_files.h"
#include "storyloom/error.h"
#include "xml_text.h"

namespace storyloom::book {
namespace {

[[noreturn]] void zip_failed(const std::string& what, zip_error_t* error) {
  throw Error(ErrorCode::internal, "EPUB: " + what + ": " + zip_error_strerror(error));
}

// Writes entries into an in-memory zip and hands back its bytes.
class ZipWriter {
 public:
  ZipWriter() {
    zip_error_t error;
    zip_error_init(&error);
    source_ = zip_source_buffer_create(nullptr, 0, 0, &error);
    if (!source_) zip_failed("cannot create a buffer", &error);
    zip_source_keep(source_);
    archive_ = zip_open_from_source(source_, ZIP_TRUNCATE, &error);
    if (!archive_) {
      zip_source_free(source_);
      zip_failed("cannot open the archive", &error);
    }
  }
  ~ZipWriter() {
    if (archive_) zip_discard(archive_);
    zip_source_free(source_);
  }
  ZipWriter(const ZipWriter&) = delete;
  ZipWriter& operator=(const ZipWriter&) = delete;

  void add(const std::string& name, std::string data, bool store = false) {
    data_.push_back(std::make_unique<std::string>(std::move(data)));
    const std::string& kept = *data_.back();
    zip_source_t* entry = zip_source_buffer(archive_, kept.data(), kept.size(), 0);
    if (!entry) zip_failed("cannot add " + name, zip_get_error(archive_));
    zip_int64_t index = zip_file_add(archive_, name.c_str(), entry, ZIP_FL_ENC_UTF_8);
    if (index < 0) {
      zip_source_free(entry);
      zip_failed("cannot add " + name, zip_get_error(archive_));
    }
    // epubcheck wants "mimetype" stored, not deflated.
    zip_set_file_compression(archive_, static_cast<zip_uint64_t>(index),
                             store ? ZIP_CM_STORE : ZIP_CM_DEFLATE, 0);
  }

  std::string finish() {
    if (zip_close(archive_) < 0) zip_failed("cannot write the archive", zip_get_error(archive_));
    archive_ = nullptr;
    zip_stat_t st;
    zip_source_stat(source_, &st);
    std::string out(st.size, '\0');
    if (zip_source_open(source_) < 0 ||
        zip_source_read(source_, out.data(), st.size) != static_cast<zip_int64_t>(st.size)) {
      zip_failed("cannot read the archive back", zip_source_error(source_));
    }
    zip_source_close(source_);
    return out;
  }

 private:
  zip_source_t* source_ = nullptr;
  zip_t* archive_ = nullptr;
  std::vector<std::unique_ptr<std::string>> data_;  // kept until zip_close reads them
};

std::string xhtml(const std::string& title, const std::string& body, const std::string& lang) {
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE html>\n"
         "<html xmlns=\"http://www.w3.org/1999/xhtml\" xmlns:epub=\"http://www.idpf.org/2007/ops\" "
         "xml:lang=\"" + lang + "\" lang=\"" + lang + "\">\n<head>\n<meta charset=\"UTF-8\"/>\n<title>" +
         xml_escaped(title) + "</title>\n<link rel=\"stylesheet\" type=\"text/css\" href=\"book.css\"/>\n"
         "</head>\n<body>\n" + body + "</body>\n</html>\n";
}

std::string utc_now() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

std::string to_epub(const Book& book) {
  if (book.identifier.empty()) {
    throw Error(ErrorCode::invalid_argument, "EPUB: the book has no identifier (the run id)");
  }
  std::string lang = book.language.empty() ? "en" : xml_escaped(book.language);
  ZipWriter zip;
  zip.add("mimetype", "application/epub+zip", /*store=*/true);
  zip.add("META-INF/container.xml",
          "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
          "<container version=\"1.0\" xmlns=\"urn:oasis:names:tc:opendocument:xmlns:container\">\n"
          "<rootfiles><rootfile full-path=\"OEBPS/content.opf\" "
          "media-type=\"application/oebps-package+xml\"/></rootfiles>\n</container>\n");
  zip.add("OEBPS/book.css",
          "body { font-family: serif; margin: 1em; }\nh1 { text-align: center; }\n"
          ".author { text-align: center; font-style: italic; }\n"
          "img { display: block; max-width: 100%; margin: 0 auto 1em auto; }\n"
          ".no-picture { text-align: center; font-style: italic; color: #777; }\n");

  std::string manifest, spine, nav_items;
  manifest += "<item id=\"css\" href=\"book.css\" media-type=\"text/css\"/>\n";
  manifest += "<item id=\"nav\" href=\"nav.xhtml\" media-type=\"application/xhtml+xml\" properties=\"nav\"/>\n";
  manifest += "<item id=\"title\" href=\"title.xhtml\" media-type=\"application/xhtml+xml\"/>\n";
  spine += "<itemref idref=\"title\"/>\n";
  nav_items += "<li><a href=\"title.xhtml\">" + xml_escaped(book.title) + "</a></li>\n";
  std::string title_body = "<h1>" + xml_escaped(book.title) + "</h1>\n";
  if (!book.author_line.empty()) {
    title_body += "<p class=\"author\">" + xml_escaped(book.author_line) + "</p>\n";
  }
  zip.add("OEBPS/title.xhtml", xhtml(book.title, title_body, lang));

  for (const auto& page : book.pages) {
    std::string n = std::to_string(page.number);
    std::string file = "page-" + n + ".xhtml";
    std::string body = "<h2>Page " + n + "</h2>\n";
    // EPUB readers must show PNG, JPEG and GIF (core media types); anything else is left out.
    std::string ext = page.picture ? picture_extension(page.picture->content_type) : "";
    if (ext == ".png" || ext == ".jpg" || ext == ".gif") {
      std::string image = "images/" + picture_file_name(page);
      manifest += "<item id=\"img-" + n + "\" href=\"" + image + "\" media-type=\"" +
                  xml_escaped(page.picture->content_type.substr(0, page.picture->content_type.find(';'))) +
                  "\"/>\n";
      zip.add("OEBPS/" + image, page.picture->bytes);
      body += "<img src=\"" + image + "\" alt=\"Picture of page " + n + "\"/>\n";
    } else {
      body += "<p class=\"no-picture\">(no picture)</p>\n";
    }
    for (const auto& p : paragraphs(page.text)) body += "<p>" + xml_escaped(p) + "</p>\n";
    manifest += "<item id=\"page-" + n + "\" href=\"" + file +
                "\" media-type=\"application/xhtml+xml\"/>\n";
    spine += "<itemref idref=\"page-" + n + "\"/>\n";
    nav_items += "<li><a href=\"" + file + "\">Page " + n + "</a></li>\n";
    zip.add("OEBPS/" + file, xhtml(book.title + " - page " + n, body, lang));
  }
  zip.add("OEBPS/nav.xhtml",
          xhtml(book.title, "<nav epub:type=\"toc\" id=\"toc\">\n<h1>Contents</h1>\n<ol>\n" +
                                nav_items + "</ol>\n</nav>\n", lang));
  zip.add("OEBPS/content.opf",
          "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
          "<package xmlns=\"http://www.idpf.org/2007/opf\" version=\"3.0\" "
          "unique-identifier=\"book-id\" xml:lang=\"" + lang + "\">\n"
          "<metadata xmlns:dc=\"http://purl.org/dc/elements/1.1/\">\n"
          "<dc:identifier id=\"book-id\">urn:storyloom:" + xml_escaped(book.identifier) +
          "</dc:identifier>\n<dc:title>" + xml_escaped(book.title) + "</dc:title>\n"
          "<dc:language>" + lang + "</dc:language>\n" +
          (book.author_line.empty() ? "" : "<dc:creator>" + xml_escaped(book.author_line) + "</dc:creator>\n") +
          "<meta property=\"dcterms:modified\">" + utc_now() + "</meta>\n</metadata>\n"
          "<manifest>\n" + manifest + "</manifest>\n<spine>\n" + spine + "</spine>\n</package>\n");
  return zip.finish();
}

}  // namespace storyloom::book
