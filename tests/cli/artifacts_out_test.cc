// `storyloom artifacts RUN --out DIR`: pictures written as their bytes, JSON
// artifacts as .json files, from a store an engine in this process wrote.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>

#include "artifacts_out.h"
#include "storyloom/engine.h"
#include "subprocess.h"

using namespace storyloom;

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class CliArtifactsOut : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/storyloom-cli-out-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::string dir_;
};

}  // namespace

TEST(CliArtifactFileName, KeysBecomeSafeFileNames) {
  EXPECT_EQ(cli::artifact_file_name(ArtifactInfo{"page/1", 1, nullptr, 0, ""}), "page_1.json");
  EXPECT_EQ(cli::artifact_file_name(ArtifactInfo{"page-1.picture", 1, nullptr, 0, "image/png"}),
            "page-1.picture.png");
  EXPECT_EQ(cli::artifact_file_name(ArtifactInfo{"..", 1, nullptr, 0, "image/jpeg"}), "_...jpg");
  EXPECT_EQ(cli::artifact_file_name(ArtifactInfo{"x", 1, nullptr, 0, "application/x-thing"}),
            "x.bin");
}

TEST_F(CliArtifactsOut, WritesPicturesAsBytesAndJsonAsFiles) {
  std::string db = dir_ + "/store.db";
  std::string picture("\x89PNG\r\n\x1a\n\0\0\xff", 11);
  std::string run_id;
  {
    EngineOptions options;
    options.store = db;
    auto engine = Engine::open(options);
    engine->register_workflow("book", [&](Context& ctx, const Json&) -> Json {
      ctx.binary_artifact("cover", "image/png", "old");
      ctx.binary_artifact("cover", "image/png", picture);
      ctx.artifact("page/1", boost::json::object{{"text", "Once"}});
      return nullptr;
    });
    engine->launch();
    run_id = engine->start("book", boost::json::object{}).id;
    for (int i = 0; i < 5000 && !is_finished(engine->get(run_id).status); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    ASSERT_EQ(engine->get(run_id).status, RunStatus::completed);
  }
  std::string out = dir_ + "/out/nested";
  auto result = storyloom::testing::run_program(
      {STORYLOOM_CLI_PATH, "--db", db, "artifacts", run_id, "--out", out});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(read_file(out + "/cover.png"), picture);
  EXPECT_EQ(read_file(out + "/page_1.json"), "{\"text\":\"Once\"}\n");
  EXPECT_EQ(result.out, out + "/cover.png (11 bytes)\n" + out + "/page_1.json (16 bytes)\n");

  // A file where the directory should be: a clear error, exit 1.
  std::ofstream(dir_ + "/taken") << "x";
  auto refused = storyloom::testing::run_program(
      {STORYLOOM_CLI_PATH, "--db", db, "artifacts", run_id, "--out", dir_ + "/taken"});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_EQ(refused.err, "storyloom: invalid_argument: --out: cannot create the directory '" +
                             dir_ + "/taken': a file of that name exists\n");
}

TEST_F(CliArtifactsOut, ExportWritesTheStoryAsABook) {
  std::string db = dir_ + "/store.db";
  std::string run_id;
  {
    EngineOptions options;
    options.store = db;
    auto engine = Engine::open(options);
    engine->register_workflow("book", [&](Context& ctx, const Json&) -> Json {
      ctx.binary_artifact("page/1/picture", "image/png", "not really a png");
      ctx.artifact("story", boost::json::parse(
                                R"({"title":"Owls","pages":[{"page":1,"content":"Hoo."},
                                    {"page":2,"content":"Hoo!"}]})"));
      return nullptr;
    });
    engine->launch();
    run_id = engine->start("book", boost::json::object{}).id;
    for (int i = 0; i < 5000 && !is_finished(engine->get(run_id).status); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    ASSERT_EQ(engine->get(run_id).status, RunStatus::completed);
  }
  std::string md = dir_ + "/owls.md";
  auto result = storyloom::testing::run_program(
      {STORYLOOM_CLI_PATH, "--db", db, "export", run_id, "--format", "md", "--out", md});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, md + ": 2 pages, 1 pictures\n");
  EXPECT_NE(read_file(md).find("![Picture of page 1](owls_pictures/page-1.png)"),
            std::string::npos);
  EXPECT_EQ(read_file(dir_ + "/owls_pictures/page-1.png"), "not really a png");

  auto bad = storyloom::testing::run_program(
      {STORYLOOM_CLI_PATH, "--db", db, "export", run_id, "--format", "docx", "--out", md});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_EQ(bad.err.substr(0, bad.err.find('\n')), "storyloom: --format: 'docx' is not epub, pdf or md");
  auto missing = storyloom::testing::run_program(
      {STORYLOOM_CLI_PATH, "--db", db, "export", run_id, "--format", "pdf"});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_EQ(missing.err.substr(0, missing.err.find('\n')), "storyloom: export needs --out FILE");
}
