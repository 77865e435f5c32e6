// sl_execution_image: the built-in image step as a C host sees it, with the
// offline provider the C ABI wires to the book library's placeholder (no
// network, no key); the fake images server is exercised by tests/image.
#include <cstring>
#include <future>
#include <memory>

#include "capi_test_util.h"

using namespace capi_test;

namespace {

constexpr const char* kConfig =
    R"({"images":{"use_environment":false,"providers":[{"name":"offline","kind":"offline",)"
    R"("size":"256x192"}]}})";

struct Outcome {
  int status = -1;
  std::string message;
  std::string result;
  int memoized = -1;
};

void record(void* user_data, const sl_image_outcome* o) {
  auto* promise = static_cast<std::promise<Outcome>*>(user_data);
  Outcome out;
  out.status = o->status;
  out.message.assign(o->message, o->message_len);
  if (o->result_json) out.result.assign(o->result_json, o->result_len);
  out.memoized = o->memoized;
  promise->set_value(out);
}

class CapiImage : public EngineTest {
 protected:
  void SetUp() override {
    EngineTest::SetUp();
    sl_engine_options opts = options();
    opts.config_json = kConfig;
    opts.config_json_len = std::strlen(kConfig);
    open(opts);
  }

  static Outcome image(sl_execution* e, const std::string& name, const std::string& request) {
    auto promise = std::make_unique<std::promise<Outcome>>();
    auto ready = promise->get_future();
    int rc = sl_execution_image(e, name.data(), name.size(), request.data(), request.size(),
                                nullptr, 0, record, promise.get());
    if (rc != SL_OK) {
      Outcome refused;
      refused.status = rc;
      refused.message = last_message();
      return refused;
    }
    return ready.get();
  }
};

TEST_F(CapiImage, TheOfflineProviderDrawsAPictureStoredAsABinaryArtifact) {
  std::promise<Outcome> seen;
  workflow("draw", [&](sl_execution* e) {
    Outcome o = image(e, "cover", R"({"prompt":"A fox in the snow"})");
    seen.set_value(o);
    complete(e, o.result.empty() ? "null" : o.result);
  });
  Json run = start("draw");
  std::string id(run.at("id").as_string());
  Json done = wait_finished(id);
  ASSERT_EQ(done.at("status"), "completed") << done;
  Outcome o = seen.get_future().get();
  ASSERT_EQ(o.status, SL_OK) << o.message;
  EXPECT_EQ(o.memoized, 0);
  Json result = boost::json::parse(o.result);
  EXPECT_EQ(result.at("artifact"), "cover");
  EXPECT_EQ(result.at("content_type"), "image/png");
  EXPECT_EQ(result.at("width"), 256);
  EXPECT_EQ(result.at("height"), 192);
  char* bytes = nullptr;
  size_t len = 0;
  ASSERT_EQ(sl_engine_artifact_bytes(&bytes, &len, nullptr, nullptr, engine_, id.data(), id.size(),
                                     "cover", 5, result.at("version").as_int64()),
            SL_OK)
      << last_message();
  ASSERT_GE(len, 8u);
  EXPECT_EQ(std::string(bytes, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  EXPECT_EQ(static_cast<int64_t>(len), result.at("bytes").as_int64());
  sl_free(bytes);
}

TEST_F(CapiImage, BadCallsAreRefusedWithoutCallingBack) {
  std::promise<std::vector<Outcome>> seen;
  workflow("bad", [&](sl_execution* e) {
    std::vector<Outcome> out;
    out.push_back(image(e, "a", "{not json"));
    out.push_back(image(e, "b", R"({"prompt":"x","size":"10x10"})"));
    out.push_back(image(e, "c", R"({"prompt":"x","provider":"nowhere"})"));
    int rc = sl_execution_image(e, "d", 1, R"({"prompt":"x"})", 14, nullptr, 0, nullptr, nullptr);
    out.push_back(Outcome{rc, last_message(), "", -1});
    seen.set_value(out);
    complete(e);
  });
  start("bad");
  auto out = seen.get_future().get();
  EXPECT_EQ(out[0].status, SL_EINVALID);
  EXPECT_NE(out[0].message.find("request_json"), std::string::npos) << out[0].message;
  EXPECT_EQ(out[1].status, SL_EINVALID);
  EXPECT_NE(out[1].message.find("image request size is '10x10'"), std::string::npos)
      << out[1].message;
  EXPECT_EQ(out[2].status, SL_ENOTFOUND);
  EXPECT_NE(out[2].message.find("no image provider 'nowhere' is configured"), std::string::npos)
      << out[2].message;
  EXPECT_EQ(out[3].status, SL_EINVALID);
  EXPECT_NE(out[3].message.find("fn is NULL"), std::string::npos) << out[3].message;
}

}  // namespace
