// The demo's book (scripts/demo.sh runs `story ... --export story.md --export
// story.epub --export story.pdf`): the same exports of a story written with the
// offline provider, checked with the tools a reader's machine has: Debian's
// epubcheck finds no error, pdfinfo counts the cover and one page per story
// page, and the first story page rendered by pdftoppm shows its picture.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <tuple>

namespace {

namespace fs = std::filesystem;

constexpr int kPages = 3;

// (exit status, stdout + stderr) of a shell command.
std::pair<int, std::string> shell(const std::string& command) {
  std::string output;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return {-1, "popen failed: " + command};
  char buffer[4096];
  while (size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) output.append(buffer, n);
  int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// A binary PPM (P6, what pdftoppm writes by default): width, height, RGB bytes.
struct Image {
  int width = 0, height = 0;
  std::string rgb;
};

Image read_ppm(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::string magic;
  int max = 0;
  Image image;
  in >> magic >> image.width >> image.height >> max;
  in.get();  // the single whitespace before the pixels
  if (magic != "P6" || max != 255) return {};
  image.rgb.resize(static_cast<size_t>(image.width) * static_cast<size_t>(image.height) * 3);
  in.read(image.rgb.data(), static_cast<std::streamsize>(image.rgb.size()));
  return in ? image : Image{};
}

class DemoBook : public ::testing::Test {
 protected:
  // One story for every check: writing it takes a few seconds.
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("storyloom-demo-book-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    std::tie(status_, output_) =
        shell("cd '" + dir_.string() + "' && '" STORY_PROGRAM "' --db ./storyloom-demo.db "
              "--topic 'a lighthouse keeper who befriends a storm' --pages " +
              std::to_string(kPages) +
              " --fast --export story.md --export story.epub --export story.pdf");
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  static fs::path file(const std::string& name) { return dir_ / name; }

  static inline fs::path dir_;
  static inline int status_ = -1;
  static inline std::string output_;
};

TEST_F(DemoBook, WritesTheThreeFiles) {
  ASSERT_EQ(status_, 0) << output_;
  for (const char* name : {"story.md", "story.epub", "story.pdf"}) {
    EXPECT_NE(output_.find(std::string("exported to ") + name), std::string::npos) << output_;
    EXPECT_GT(fs::file_size(file(name)), 0u) << name;
  }
  // The Markdown links each page's picture, written beside it.
  std::string markdown = read_file(file("story.md"));
  for (int n = 1; n <= kPages; ++n) {
    std::string picture = "story_pictures/page-" + std::to_string(n) + ".png";
    EXPECT_NE(markdown.find("(" + picture + ")"), std::string::npos) << markdown;
    EXPECT_TRUE(fs::exists(file(picture))) << picture;
  }
}

TEST_F(DemoBook, EpubcheckReportsNoError) {
  ASSERT_EQ(status_, 0) << output_;
  // Debian's /usr/bin/epubcheck is the jar itself, run through binfmt_misc,
  // which containers often lack: ask java to run it.
  const std::string jar = "/usr/share/java/epubcheck.jar";
  std::string epubcheck = fs::exists(jar) ? "java -jar " + jar : "epubcheck";
  auto [status, report] = shell(epubcheck + " '" + file("story.epub").string() + "'");
  EXPECT_EQ(status, 0) << report;
  EXPECT_NE(report.find("No errors or warnings detected"), std::string::npos) << report;
}

TEST_F(DemoBook, PdfHasACoverThenOnePagePerStoryPage) {
  ASSERT_EQ(status_, 0) << output_;
  auto [status, info] = shell("pdfinfo '" + file("story.pdf").string() + "'");
  ASSERT_EQ(status, 0) << info;
  EXPECT_NE(info.find("Pages:           " + std::to_string(kPages + 1)), std::string::npos)
      << info;
  auto [fonts_status, fonts] = shell("pdffonts '" + file("story.pdf").string() + "'");
  ASSERT_EQ(fonts_status, 0) << fonts;
  EXPECT_EQ(fonts.find(" no  "), std::string::npos) << "a font is not embedded:\n" << fonts;
}

TEST_F(DemoBook, TheFirstStoryPageRendersWithItsPicture) {
  ASSERT_EQ(status_, 0) << output_;
  // PDF page 2 (page 1 is the cover), at 40 dpi.
  auto [status, out] = shell("pdftoppm -r 40 -f 2 -l 2 '" + file("story.pdf").string() + "' '" +
                             file("rendered").string() + "'");
  ASSERT_EQ(status, 0) << out;
  fs::path ppm;
  for (const auto& entry : fs::directory_iterator(dir_)) {
    if (entry.path().extension() == ".ppm") ppm = entry.path();
  }
  ASSERT_FALSE(ppm.empty()) << "pdftoppm wrote no page";
  Image page = read_ppm(ppm);
  ASSERT_GT(page.width, 0) << "not a P6 PPM: " << ppm;
  // The placeholder picture is a coloured sky and ground; the text is dark on white.
  size_t coloured = 0, dark = 0;
  for (size_t i = 0; i + 2 < page.rgb.size(); i += 3) {
    int r = static_cast<unsigned char>(page.rgb[i]);
    int g = static_cast<unsigned char>(page.rgb[i + 1]);
    int b = static_cast<unsigned char>(page.rgb[i + 2]);
    coloured += std::max({r, g, b}) - std::min({r, g, b}) > 40;
    dark += r < 100 && g < 100 && b < 100;
  }
  size_t pixels = page.rgb.size() / 3;
  EXPECT_GT(coloured, pixels / 10) << "the page shows no picture (" << coloured << " of "
                                   << pixels << " pixels coloured)";
  EXPECT_GT(dark, 50u) << "the page shows no text";
}

}  // namespace
