// The README's ```sh lines that run the `storyloom` tool, run for real: the
// test writes an illustrated story with the story example (offline text and
// pictures), parks a second run on a signal, then runs every documented line
// against that store, as a reader would type it, with RUN replaced by a run
// the line fits (the story, or the parked run for signal and cancel). Each
// line must exit 0 within its time; the exports must be an EPUB and a PDF.
// Not run: `storyloom ui` (a server, tested by tools/cli/ui/e2e), lines
// naming a PostgreSQL server (tests/pg), and the setup scripts, which are
// what CI runs (scripts/test.sh).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "storyloom/context.h"
#include "storyloom/engine.h"
#include "support/test_support.h"

namespace fs = std::filesystem;
using storyloom::testing::TempDir;

namespace {

const fs::path kRoot = STORYLOOM_SOURCE_DIR;
const char* kDocumentedTool = "build/tools/cli/storyloom";
const char* kDocumentedStore = "storyloom-demo.db";

struct Line {
  int number;
  std::string text;
};

// The `storyloom` lines of README.md's ```sh blocks, comments dropped.
std::vector<Line> documented_tool_lines() {
  std::ifstream in(kRoot / "README.md");
  std::vector<Line> out;
  bool in_sh = false;
  int n = 0;
  for (std::string line; std::getline(in, line);) {
    ++n;
    if (!in_sh) {
      in_sh = line == "```sh";
      continue;
    }
    if (line.rfind("```", 0) == 0) {
      in_sh = false;
      continue;
    }
    if (line.find(kDocumentedTool) != 0) continue;
    // A comment starts at " #" outside quotes; the README's lines quote no '#'.
    if (auto hash = line.find(" #"); hash != std::string::npos) line.resize(hash);
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out.push_back({n, line});
  }
  return out;
}

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

// Runs `command` in `dir` with a time limit; its exit status, and its output.
int run_in(const fs::path& dir, const std::string& command, std::string* output) {
  fs::path out_file = dir / "last_output.txt";
  std::string shell = "cd '" + dir.string() + "' && timeout 60 " + command + " >'" +
                      out_file.string() + "' 2>&1 </dev/null";
  int status = std::system(shell.c_str());
  std::ifstream in(out_file);
  std::stringstream text;
  text << in.rdbuf();
  *output = text.str();
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string first_bytes(const fs::path& file, size_t n) {
  std::ifstream in(file, std::ios::binary);
  std::string bytes(n, '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(n));
  bytes.resize(static_cast<size_t>(in.gcount()));
  return bytes;
}

}  // namespace

TEST(DocsCliLines, EveryReadmeToolLineRunsAgainstAStoryStore) {
  TempDir dir;
  const fs::path work = dir.file("");
  const std::string store = (work / kDocumentedStore).string();

  // An illustrated story, written end to end offline by the story example.
  std::string output;
  ASSERT_EQ(run_in(work,
                   std::string("'") + STORYLOOM_STORY_EXAMPLE + "' --db '" + store +
                       "' --topic 'a lighthouse keeper' --pages 2 --fast",
                   &output),
            0)
      << output;

  std::string story_run;
  std::string parked_run;
  {
    storyloom::EngineOptions options;
    options.store = "sqlite:" + store;
    auto engine = storyloom::Engine::open(options);
    storyloom::RunFilter filter;
    filter.workflow = "story";
    auto stories = engine->list(filter).runs;
    ASSERT_EQ(stories.size(), 1u);
    ASSERT_EQ(stories[0].status, storyloom::RunStatus::completed);
    story_run = stories[0].id;
    // A run no engine executes (never launched): it takes signals into its
    // mailbox, and cancel ends it.
    engine->register_workflow("approval", [](storyloom::Context& ctx, const storyloom::Json&) {
      return *ctx.wait_for_signal("approve");
    });
    parked_run = engine->start("approval", boost::json::object{}).id;
    engine->close();
  }
  std::ofstream(work / "ids.txt") << parked_run << "\n";

  auto lines = documented_tool_lines();
  ASSERT_GE(lines.size(), 10u) << "README.md lost its storyloom lines";
  int ran = 0;
  for (const auto& line : lines) {
    std::string command = line.text;
    if (command.find(" ui ") != std::string::npos || command.find("postgres") != std::string::npos) {
      continue;
    }
    bool takes_parked = command.find(" signal ") != std::string::npos ||
                        command.find(" cancel ") != std::string::npos;
    command = replace_all(command, kDocumentedTool, std::string("'") + STORYLOOM_CLI + "'");
    command = replace_all(command, " RUN", " " + (takes_parked ? parked_run : story_run));
    int status = run_in(work, command, &output);
    EXPECT_EQ(status, 0) << "README.md:" << line.number << ": `" << line.text << "` exited "
                         << status << ":\n"
                         << output;
    ++ran;
  }
  EXPECT_GE(ran, 10);

  // What the lines wrote is what they say.
  EXPECT_EQ(first_bytes(work / "story.pdf", 5), "%PDF-");
  EXPECT_EQ(first_bytes(work / "story.epub", 58).substr(30), "mimetypeapplication/epub+zip");
  EXPECT_TRUE(fs::exists(work / "story.md"));
  ASSERT_TRUE(fs::is_directory(work / "pictures"));
  EXPECT_FALSE(fs::is_empty(work / "pictures"));
}
