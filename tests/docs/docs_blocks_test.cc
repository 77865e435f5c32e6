// The code blocks of the READMEs and docs/, as written: every ```cpp block
// compiles against the public headers, every ```json block parses, and every
// ```sh line that runs the `storyloom` tool or a script of this repository
// names a command the tool accepts (its own argument parser) or a script that
// exists; every relative link points at a file inside the repository. (The
// ```python blocks run in python/tests/test_readme_examples.py, the Node ones
// in node/test/readme.test.mjs.)
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "args.h"
#include "storyloom/json.h"
#include "support/test_support.h"

namespace fs = std::filesystem;
using storyloom::testing::TempDir;

namespace {

const fs::path kRoot = STORYLOOM_SOURCE_DIR;

struct Block {
  fs::path file;
  int line;  // of the opening fence
  std::string text;
};

std::vector<fs::path> documents() {
  std::vector<fs::path> out{kRoot / "README.md", kRoot / "node" / "README.md",
                            kRoot / "python" / "README.md"};
  for (const auto& dir : {kRoot / "docs", kRoot / "examples"}) {
    for (const auto& entry : fs::recursive_directory_iterator(dir)) {
      auto path = entry.path();
      if (path.extension() != ".md" || path.string().find("node_modules") != std::string::npos) continue;
      out.push_back(path);
    }
  }
  return out;
}

std::vector<Block> blocks(const std::string& language) {
  std::vector<Block> out;
  for (const auto& file : documents()) {
    std::ifstream in(file);
    std::string line;
    int n = 0;
    Block* open = nullptr;
    while (std::getline(in, line)) {
      ++n;
      if (!open && line == "```" + language) {
        out.push_back({file, n, ""});
        open = &out.back();
      } else if (open && line.rfind("```", 0) == 0) {
        open = nullptr;
      } else if (open) {
        open->text += line + "\n";
      }
    }
  }
  return out;
}

std::string where(const Block& b) {
  return fs::relative(b.file, kRoot).string() + ":" + std::to_string(b.line);
}

int run_shell(const std::string& command) {
  int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Splits a shell line into words: '...' and "..." quoting, no expansion; stops at '#'.
std::vector<std::string> shell_words(const std::string& line) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (c == '\'' || c == '"') {
      size_t end = line.find(c, i + 1);
      word += line.substr(i + 1, end - i - 1);
      in_word = true;
      i = end == std::string::npos ? line.size() : end;
    } else if (c == ' ' || c == '\t') {
      if (in_word) words.push_back(word);
      word.clear();
      in_word = false;
    } else if (c == '#' && !in_word) {
      break;
    } else {
      word += c;
      in_word = true;
    }
  }
  if (in_word) words.push_back(word);
  return words;
}

}  // namespace

TEST(DocsBlocks, EveryCppBlockCompilesAgainstThePublicHeaders) {
  auto cpp = blocks("cpp");
  ASSERT_GE(cpp.size(), 2u);
  TempDir dir;
  for (const auto& b : cpp) {
    // Includes and using-directives go to file scope; the rest is the body of a
    // function that has an `engine`, as the fragments after the first assume.
    std::string head = "#include <cstdio>\n#include <cstdlib>\n#include <storyloom/engine.h>\n"
                       "#include <storyloom/webhooks.h>\n";
    std::string body;
    std::istringstream lines(b.text);
    for (std::string line; std::getline(lines, line);) {
      bool file_scope = line.rfind("#include", 0) == 0 || line.rfind("using namespace", 0) == 0;
      (file_scope ? head : body) += line + "\n";
    }
    std::string source = head + "[[maybe_unused]] static void block(std::unique_ptr<storyloom::Engine>& engine) {\n"
                                "  (void)engine;\n  {\n" + body + "  }\n}\n";
    std::string file = dir.file("block.cc");
    std::ofstream(file) << source;
    std::string command = std::string(STORYLOOM_CXX) + " -std=c++20 -fsyntax-only -w -I" +
                          (kRoot / "include").string() + " " + file + " 2>" + dir.file("errors.txt");
    int rc = run_shell(command);
    std::ifstream errors(dir.file("errors.txt"));
    std::stringstream text;
    text << errors.rdbuf();
    EXPECT_EQ(rc, 0) << where(b) << " does not compile:\n" << b.text << "\n" << text.str();
  }
}

TEST(DocsBlocks, EveryJsonBlockParses) {
  auto json = blocks("json");
  ASSERT_GE(json.size(), 3u);
  for (const auto& b : json) {
    // A fragment such as `"allowScripts": {...}` is a member of package.json.
    std::string text = b.text.find('"') == b.text.find_first_not_of(" \n") ? "{" + b.text + "}" : b.text;
    boost::system::error_code ec;
    boost::json::parse(text, ec);
    EXPECT_FALSE(ec) << where(b) << " is not JSON (" << ec.message() << "):\n" << b.text;
  }
}

TEST(DocsBlocks, EveryShellLineNamesAToolCommandOrAScriptThatExists) {
  auto sh = blocks("sh");
  ASSERT_GE(sh.size(), 5u);
  int checked = 0;
  for (const auto& b : sh) {
    std::istringstream lines(b.text);
    for (std::string line; std::getline(lines, line);) {
      auto words = shell_words(line);
      // Environment assignments before the command (OPENAI_API_KEY=... ./run.sh).
      while (!words.empty() && words[0].find('=') != std::string::npos && words[0][0] != '-') {
        words.erase(words.begin());
      }
      if (words.empty()) continue;
      const std::string& program = words[0];
      if (program == "storyloom" || program.ends_with("/storyloom")) {
        std::vector<std::string_view> args(words.begin() + 1, words.end());
        if (!args.empty() && args[0] == "ui") continue;  // a server (tools/cli/ui), not parse_args
        try {
          storyloom::cli::parse_args(args);
        } catch (const std::exception& e) {
          ADD_FAILURE() << where(b) << ": `" << line << "` is refused by the tool: " << e.what();
        }
        ++checked;
      } else if (program.ends_with(".sh")) {
        // Relative to the repository root, or to the document's folder.
        fs::path from_root = kRoot / program;
        fs::path from_doc = b.file.parent_path() / program;
        bool found = access(from_root.c_str(), X_OK) == 0 || access(from_doc.c_str(), X_OK) == 0;
        EXPECT_TRUE(found) << where(b) << ": `" << program << "` is not an executable script";
        ++checked;
      }
    }
  }
  EXPECT_GE(checked, 15);
}

// Someone who clones the repository has nothing outside it: a link that
// climbs out of it, or to a file that was moved, leads nowhere.
TEST(DocsLinks, EveryRelativeLinkPointsAtAFileInsideTheRepository) {
  // [text](target) and ![alt](target); an optional "title" after the target.
  const std::regex link(R"(\]\(([^)\s]+)(\s+"[^"]*")?\))");
  const fs::path root = fs::canonical(kRoot);
  int checked = 0;
  for (const auto& file : documents()) {
    std::ifstream in(file);
    std::string line;
    int n = 0;
    bool fenced = false;
    while (std::getline(in, line)) {
      ++n;
      if (line.rfind("```", 0) == 0) fenced = !fenced;
      if (fenced) continue;
      // Inline code (`a[i](x)`) is not a link.
      std::string prose = std::regex_replace(line, std::regex("`[^`]*`"), "``");
      for (std::sregex_iterator m(prose.begin(), prose.end(), link), e; m != e; ++m) {
        std::string target = (*m)[1];
        if (target.starts_with("#") || target.find("://") != std::string::npos ||
            target.starts_with("mailto:")) {
          continue;
        }
        std::string place = fs::relative(file, kRoot).string() + ":" + std::to_string(n);
        target = target.substr(0, target.find('#'));
        EXPECT_FALSE(target.starts_with("/")) << place << ": " << target << " is an absolute path";
        std::error_code ec;
        fs::path resolved = fs::weakly_canonical(file.parent_path() / target, ec);
        bool inside = !ec && resolved.string().rfind(root.string() + "/", 0) == 0;
        EXPECT_TRUE(inside) << place << ": " << target << " leads outside the repository";
        EXPECT_TRUE(fs::exists(resolved)) << place << ": " << target << " does not exist";
        ++checked;
      }
    }
  }
  EXPECT_GE(checked, 10);
}
