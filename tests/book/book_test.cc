// The book library: Markdown with pictures beside it, EPUB 3 checked by
// Debian's epubcheck, PDF checked by poppler's pdfinfo and pdftoppm (the first
// story page is rendered and its picture must show).
#include <cairo.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "book.h"
#include "placeholder_picture.h"
#include "storyloom/error.h"
#include "support/test_support.h"

using namespace storyloom;

namespace {

cairo_status_t append_png(void* closure, const unsigned char* data, unsigned int length) {
  static_cast<std::string*>(closure)->append(reinterpret_cast<const char*>(data), length);
  return CAIRO_STATUS_SUCCESS;
}

// A 64x48 PNG, pure red: easy to find again in a rendered page.
std::string red_png() {
  cairo_surface_t* s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, 64, 48);
  cairo_t* cr = cairo_create(s);
  cairo_set_source_rgb(cr, 1, 0, 0);
  cairo_paint(cr);
  cairo_destroy(cr);
  std::string out;
  cairo_surface_write_to_png_stream(s, append_png, &out);
  cairo_surface_destroy(s);
  return out;
}

book::Book sample_book() {
  book::Book b;
  b.title = "The Fox & the <Moon>";
  b.author_line = "offline placeholder text, not a language model";
  b.identifier = "run-123";
  b.pages.push_back({1, "Once upon a time a fox looked up.\n\nThe moon looked back.",
                     book::Picture{"image/png", red_png()}});
  b.pages.push_back({2, "And they were friends.", std::nullopt});
  return b;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Runs a shell command; returns its exit status and what it printed.
std::pair<int, std::string> shell(const std::string& command) {
  std::string out;
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (!p) return {-1, "popen failed"};
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

}  // namespace

TEST(Book, MarkdownLinksThePicturesWrittenBesideIt) {
  storyloom::testing::TempDir dir;
  std::string path = dir.file("story.md");
  book::write_book(sample_book(), book::Format::markdown, path);
  std::string md = read_file(path);
  EXPECT_NE(md.find("# The Fox & the <Moon>\n"), std::string::npos) << md;
  EXPECT_NE(md.find("![Picture of page 1](story_pictures/page-1.png)"), std::string::npos) << md;
  EXPECT_NE(md.find("## Page 2\n\n*(no picture)*"), std::string::npos) << md;
  EXPECT_EQ(read_file(dir.file("story_pictures/page-1.png")), red_png());
}

TEST(Book, EpubPassesEpubcheck) {
  storyloom::testing::TempDir dir;
  std::string path = dir.file("story.epub");
  book::write_book(sample_book(), book::Format::epub, path);
  // Debian's /usr/bin/epubcheck is the jar itself, run through binfmt_misc,
  // which containers often lack: ask java to run it.
  const std::string jar = "/usr/share/java/epubcheck.jar";
  std::string epubcheck = std::filesystem::exists(jar) ? "java -jar " + jar : "epubcheck";
  auto [status, output] = shell(epubcheck + " -q '" + path + "'");
  EXPECT_EQ(status, 0) << output;
  EXPECT_EQ(output.find("ERROR"), std::string::npos) << output;
}

TEST(Book, PdfHasACoverAndOnePagePerStoryPageWithItsPicture) {
  storyloom::testing::TempDir dir;
  std::string path = dir.file("story.pdf");
  book::write_book(sample_book(), book::Format::pdf, path);
  auto [status, info] = shell("pdfinfo '" + path + "'");
  ASSERT_EQ(status, 0) << info;
  EXPECT_NE(info.find("Pages:           3"), std::string::npos) << info;
  EXPECT_NE(info.find("Title:           The Fox & the <Moon>"), std::string::npos) << info;
  auto [fonts_status, fonts] = shell("pdffonts '" + path + "'");
  ASSERT_EQ(fonts_status, 0) << fonts;
  EXPECT_EQ(fonts.find(" no  "), std::string::npos) << "a font is not embedded:\n" << fonts;

  // The first story page (page 2 of the PDF), rendered: its picture is there.
  auto [render_status, render_out] =
      shell("pdftoppm -png -r 40 -f 2 -l 2 '" + path + "' '" + dir.file("page") + "'");
  ASSERT_EQ(render_status, 0) << render_out;
  std::string png;
  for (const auto& entry : std::filesystem::directory_iterator(dir.file(""))) {
    if (entry.path().extension() == ".png") png = entry.path().string();
  }
  ASSERT_FALSE(png.empty()) << "pdftoppm wrote no PNG";
  cairo_surface_t* page = cairo_image_surface_create_from_png(png.c_str());
  ASSERT_EQ(cairo_surface_status(page), CAIRO_STATUS_SUCCESS);
  int w = cairo_image_surface_get_width(page), h = cairo_image_surface_get_height(page);
  int stride = cairo_image_surface_get_stride(page);
  const unsigned char* data = cairo_image_surface_get_data(page);
  size_t red = 0, dark = 0;
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      uint32_t px = *reinterpret_cast<const uint32_t*>(data + y * stride + x * 4);
      int r = (px >> 16) & 0xff, g = (px >> 8) & 0xff, b = px & 0xff;
      if (r > 200 && g < 60 && b < 60) ++red;
      if (r < 100 && g < 100 && b < 100) ++dark;  // text
    }
  }
  cairo_surface_destroy(page);
  EXPECT_GT(red, static_cast<size_t>(w * h / 20)) << "the picture is missing from the page";
  EXPECT_GT(dark, 20u) << "the page text is missing";
}

TEST(Book, BadFormatAndMissingStoryAreNamed) {
  try {
    book::parse_format("docx");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "unknown book format 'docx'; use epub, pdf or md");
  }
  Snapshot empty;
  empty.run.id = "r1";
  try {
    book::book_from_snapshot(empty, [](const ArtifactInfo&) { return std::string(); });
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::not_found);
    EXPECT_EQ(std::string(e.what()),
              "run 'r1' has no story to export: neither a 'story' artifact nor any 'page/N' "
              "artifact");
  }
}

TEST(Book, AStoryRunBecomesABookWithItsPictures) {
  Snapshot snap;
  snap.run.id = "r2";
  snap.artifacts.push_back(ArtifactInfo{
      "page/1/picture", 1, boost::json::object{{"size", 3}}, 0, "image/png"});
  snap.artifacts.push_back(ArtifactInfo{
      "story", 1,
      boost::json::parse(R"({"title":"Owls","written_by":{"provider":"offline","model":"m",
        "language_model":false},"pages":[{"page":1,"content":"Hoo."},{"page":2,"content":"Hoo!"}]})"),
      0, ""});
  auto b = book::book_from_snapshot(snap, [](const ArtifactInfo& a) { return "bytes of " + a.key; });
  EXPECT_EQ(b.title, "Owls");
  EXPECT_EQ(b.author_line, "offline placeholder text, not a language model");
  ASSERT_EQ(b.pages.size(), 2u);
  EXPECT_EQ(b.pages[0].text, "Hoo.");
  ASSERT_TRUE(b.pages[0].picture.has_value());
  EXPECT_EQ(b.pages[0].picture->bytes, "bytes of page/1/picture");
  EXPECT_FALSE(b.pages[1].picture.has_value());
}

TEST(PlaceholderPicture, IsADeterministicPngOfTheBrief) {
  std::string a = book::placeholder_png("A fox under the moon, watercolour", 320, 240);
  EXPECT_EQ(a, book::placeholder_png("A fox under the moon, watercolour", 320, 240));
  EXPECT_NE(a, book::placeholder_png("A lighthouse in a storm, watercolour", 320, 240));
  ASSERT_GT(a.size(), 8u);
  EXPECT_EQ(a.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  storyloom::testing::TempDir dir;
  std::ofstream(dir.file("p.png"), std::ios::binary) << a;
  cairo_surface_t* s = cairo_image_surface_create_from_png(dir.file("p.png").c_str());
  ASSERT_EQ(cairo_surface_status(s), CAIRO_STATUS_SUCCESS);
  EXPECT_EQ(cairo_image_surface_get_width(s), 320);
  EXPECT_EQ(cairo_image_surface_get_height(s), 240);
  cairo_surface_destroy(s);
  try {
    book::placeholder_png("x", 10, 240);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "placeholder picture width is 10; use 64 to 2048");
  }
}
