// sl_execution_binary_artifact and sl_engine_artifact_bytes: pictures through
// the C ABI, byte for byte, with their limits and errors.
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "capi_test_util.h"

using namespace capi_test;

namespace {

class CapiArtifactBytes : public EngineTest {};

std::string id_of(const Json& run) { return std::string(run.at("id").as_string()); }
std::string status_of(const Json& run) { return std::string(run.at("status").as_string()); }

}  // namespace

TEST_F(CapiArtifactBytes, BytesGoInAndComeBackWithTheirArtifactJson) {
  const std::string picture("\x89PNG\0\0\xff\x01", 8);
  workflow("painter", [&](sl_execution* e) {
    EXPECT_EQ(sl_execution_binary_artifact(e, "cover", 5, "image/png", 9, picture.data(),
                                           picture.size()),
              SL_OK)
        << last_message();
    complete(e);
  });
  std::string id = id_of(start("painter"));
  ASSERT_EQ(status_of(wait_finished(id)), "completed");

  char* bytes = nullptr;
  size_t len = 0;
  char* info = nullptr;
  size_t info_len = 0;
  ASSERT_EQ(sl_engine_artifact_bytes(&bytes, &len, &info, &info_len, engine_, id.data(), id.size(),
                                     "cover", 5, 0),
            SL_OK)
      << last_message();
  EXPECT_EQ(std::string(bytes, len), picture);
  EXPECT_EQ(bytes[len], '\0');
  sl_free(bytes);
  Json artifact = take_json(SL_OK, info);
  EXPECT_EQ(artifact.at("content_type"), "image/png");
  EXPECT_EQ(artifact.at("value").at("size"), 8);
  EXPECT_EQ(artifact.at("value").at("sha256").as_string().size(), 64u);

  // The JSON is optional; the listing shows the same artifact.
  ASSERT_EQ(sl_engine_artifact_bytes(&bytes, &len, nullptr, nullptr, engine_, id.data(), id.size(),
                                     "cover", 5, 1),
            SL_OK)
      << last_message();
  EXPECT_EQ(std::string(bytes, len), picture);
  sl_free(bytes);
  char* listed = nullptr;
  Json all = take_json(sl_engine_artifacts(&listed, nullptr, engine_, id.data(), id.size()), listed);
  EXPECT_EQ(all.at(0).at("content_type"), "image/png");
}

TEST_F(CapiArtifactBytes, ErrorsNameTheProblem) {
  close();
  auto opts = options();
  opts.config_json = R"({"max_artifact_bytes": 1024})";
  opts.config_json_len = std::strlen(opts.config_json);
  open(opts);
  std::vector<std::pair<int, std::string>> seen;
  workflow("bad", [&](sl_execution* e) {
    auto record = [&](int status) { seen.emplace_back(status, last_message()); };
    record(sl_execution_binary_artifact(e, "k", 1, "image/png", 9, nullptr, 3));
    record(sl_execution_binary_artifact(e, "k", 1, "png", 3, "x", 1));
    std::string big(2048, 'x');
    record(sl_execution_binary_artifact(e, "k", 1, "image/png", 9, big.data(), big.size()));
    EXPECT_EQ(sl_execution_artifact(e, "outline", 7, "{}", 2), SL_OK);
    complete(e);
  });
  std::string id = id_of(start("bad"));
  ASSERT_EQ(status_of(wait_finished(id)), "completed");
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0].first, SL_EINVALID);
  EXPECT_EQ(seen[0].second, "sl_execution_binary_artifact: bytes is NULL but bytes_len is not 0");
  EXPECT_EQ(seen[1].first, SL_EINVALID);
  EXPECT_EQ(seen[1].second,
            "content type 'png' is not a media type of the form type/subtype (such as image/png)");
  EXPECT_EQ(seen[2].first, SL_ETOOLARGE);
  EXPECT_EQ(seen[2].second,
            "binary artifact 'k' is 2048 bytes; the limit is 1024 (max_artifact_bytes)");

  char* bytes = nullptr;
  size_t len = 7;
  EXPECT_EQ(sl_engine_artifact_bytes(&bytes, &len, nullptr, nullptr, engine_, id.data(), id.size(),
                                     "outline", 7, 0),
            SL_EINVALID);
  EXPECT_EQ(last_message(), "artifact 'outline' of run '" + id +
                                "' holds JSON, not bytes; read it with artifacts()");
  EXPECT_EQ(bytes, nullptr);
  EXPECT_EQ(len, 0u);
  EXPECT_EQ(sl_engine_artifact_bytes(&bytes, &len, nullptr, nullptr, engine_, id.data(), id.size(),
                                     "k", 1, 0),
            SL_ENOTFOUND);
  EXPECT_EQ(last_message(), "no artifact 'k' of run '" + id + "'");

  opts.config_json = R"({"max_artifact_bytes": 12})";
  opts.config_json_len = std::strlen(opts.config_json);
  close();
  sl_engine* refused = nullptr;
  EXPECT_EQ(sl_engine_open(&refused, &opts), SL_EINVALID);
  EXPECT_EQ(last_message(), "config.max_artifact_bytes must be an integer of at least 1024, got 12");
  open(options());
}

TEST_F(CapiArtifactBytes, ExportBookWritesTheStoryWithItsPictures) {
  workflow("book", [&](sl_execution* e) {
    const std::string png("\x89PNG", 4);
    EXPECT_EQ(sl_execution_binary_artifact(e, "page/1/picture", 14, "image/png", 9, png.data(),
                                           png.size()),
              SL_OK);
    const std::string story = R"({"title":"Owls","pages":[{"page":1,"content":"Hoo."}]})";
    EXPECT_EQ(sl_execution_artifact(e, "story", 5, story.data(), story.size()), SL_OK);
    complete(e);
  });
  std::string id = id_of(start("book"));
  ASSERT_EQ(status_of(wait_finished(id)), "completed");
  std::string path = store_.path() + ".md";
  ASSERT_EQ(sl_engine_export_book(engine_, id.data(), id.size(), "md", 2, path.data(), path.size()),
            SL_OK)
      << last_message();
  FILE* f = std::fopen(path.c_str(), "rb");
  ASSERT_NE(f, nullptr);
  char head[32] = {};
  EXPECT_GT(std::fread(head, 1, sizeof head - 1, f), 0u);
  std::fclose(f);
  EXPECT_EQ(std::string(head).rfind("# Owls", 0), 0u) << head;
  std::remove(path.c_str());
  auto pictures = std::filesystem::path(path).parent_path() /
                  (std::filesystem::path(path).stem().string() + "_pictures");
  EXPECT_TRUE(std::filesystem::exists(pictures / "page-1.png"));
  std::filesystem::remove_all(pictures);

  EXPECT_EQ(sl_engine_export_book(engine_, id.data(), id.size(), "doc", 3, path.data(), path.size()),
            SL_EINVALID);
  EXPECT_EQ(last_message(), "unknown book format 'doc'; use epub, pdf or md");
  EXPECT_EQ(sl_engine_export_book(engine_, "nope", 4, "md", 2, path.data(), path.size()),
            SL_ENOTFOUND);
  EXPECT_EQ(last_message(), "no run with id 'nope'");
}
