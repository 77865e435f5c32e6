// Binary artifacts: pictures stored with a media type, size and digest,
// versioned like JSON artifacts, read back byte for byte.
#include <gtest/gtest.h>

#include "common/sha256.h"
#include "storyloom/store_reader.h"
#include "support/test_support.h"

using namespace storyloom;
using namespace storyloom::testing;

namespace {

// Every byte value, NULs included, so nothing treats the bytes as text.
std::string all_bytes(size_t size) {
  std::string out(size, '\0');
  for (size_t i = 0; i < size; ++i) out[i] = static_cast<char>(i * 7 % 256);
  return out;
}

std::string message_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST(Sha256, MatchesKnownDigests) {
  EXPECT_EQ(detail::sha256_hex(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(detail::sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // 56 bytes: the padding needs a second block.
  EXPECT_EQ(detail::sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(detail::sha256_hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(BinaryArtifact, StoresBytesWithTypeSizeAndDigestAndVersions) {
  TempDir dir;
  auto store = "sqlite:" + dir.file("pictures.db");
  auto engine = Engine::open(fast_options(store));
  std::string first = all_bytes(70000), second = all_bytes(300);
  engine->register_workflow("pictures", [&](Context& ctx, const Json&) -> Json {
    ctx.binary_artifact("page-1.picture", "image/png", first);
    ctx.binary_artifact("page-1.picture", "image/png", second);
    ctx.artifact("page-1", boost::json::object{{"text", "Once"}});
    return nullptr;
  });
  engine->launch();
  auto run = engine->start("pictures", boost::json::object{});
  ASSERT_EQ(wait_finished(*engine, run.id).status, RunStatus::completed);

  auto latest = engine->artifact_bytes(run.id, "page-1.picture");
  EXPECT_EQ(latest.bytes, second);
  EXPECT_EQ(latest.info.version, 2);
  EXPECT_EQ(latest.info.content_type, "image/png");
  EXPECT_EQ(latest.info.value.at("size").as_int64(), 300);
  EXPECT_EQ(latest.info.value.at("sha256").as_string(), detail::sha256_hex(second));
  EXPECT_EQ(engine->artifact_bytes(run.id, "page-1.picture", 1).bytes, first);

  auto listed = engine->artifacts(run.id);
  ASSERT_EQ(listed.size(), 3u);
  EXPECT_EQ(listed[0].key, "page-1");
  EXPECT_EQ(listed[0].content_type, "");
  EXPECT_FALSE(to_json(listed[0]).as_object().contains("content_type"));
  EXPECT_EQ(to_json(listed[1]).at("content_type").as_string(), "image/png");
  EXPECT_EQ(to_json(listed[1]).at("value").at("size").as_int64(), 70000);

  bool saw_event = false;
  for (const auto& e : engine->events(run.id, 0)) {
    if (e.type == "artifact" && e.data.at("key").as_string() == "page-1.picture") {
      saw_event = true;
      EXPECT_EQ(e.data.at("content_type").as_string(), "image/png");
      EXPECT_FALSE(e.data.at("value").as_object().contains("bytes"));
    }
  }
  EXPECT_TRUE(saw_event);
  engine->close();

  // The read-only reader (the CLI's) answers the same.
  auto reader = StoreReader::open(store);
  EXPECT_EQ(reader->artifact_bytes(run.id, "page-1.picture", 1).bytes, first);
  EXPECT_EQ(reader->snapshot(run.id).artifacts[1].content_type, "image/png");
}

TEST(BinaryArtifact, ReadErrorsNameWhatIsMissing) {
  auto engine = Engine::open(fast_options());
  engine->register_workflow("one", [](Context& ctx, const Json&) -> Json {
    ctx.binary_artifact("cover", "image/png", "png");
    ctx.artifact("outline", boost::json::object{});
    return nullptr;
  });
  engine->launch();
  auto run = engine->start("one", boost::json::object{});
  ASSERT_EQ(wait_finished(*engine, run.id).status, RunStatus::completed);
  EXPECT_EQ(message_of([&] { engine->artifact_bytes(run.id, "back"); }),
            "no artifact 'back' of run '" + run.id + "'");
  EXPECT_EQ(message_of([&] { engine->artifact_bytes(run.id, "cover", 2); }),
            "no artifact 'cover' version 2 of run '" + run.id + "'");
  EXPECT_EQ(message_of([&] { engine->artifact_bytes(run.id, "outline"); }),
            "artifact 'outline' of run '" + run.id +
                "' holds JSON, not bytes; read it with artifacts()");
  EXPECT_EQ(message_of([&] { engine->artifact_bytes(run.id, "cover", -1); }),
            "artifact version must not be negative, got -1");
  EXPECT_EQ(message_of([&] { engine->artifact_bytes("nope", "cover"); }), "no run with id 'nope'");
}

TEST(BinaryArtifact, SizeLimitAndMediaTypeAreChecked) {
  auto options = fast_options();
  options.max_artifact_bytes = 2048;
  auto engine = Engine::open(options);
  std::vector<std::string> errors;
  engine->register_workflow("bad", [&](Context& ctx, const Json&) -> Json {
    auto record = [&](const std::function<void()>& fn) { errors.push_back(message_of(fn)); };
    record([&] { ctx.binary_artifact("big", "image/png", std::string(2049, 'x')); });
    record([&] { ctx.binary_artifact("ok", "image/png", std::string(2048, 'x')); });
    record([&] { ctx.binary_artifact("t", "", "x"); });
    record([&] { ctx.binary_artifact("t", "png", "x"); });
    record([&] { ctx.binary_artifact("t", "image/png\n", "x"); });
    record([&] { ctx.binary_artifact("", "image/png", "x"); });
    return nullptr;
  });
  engine->launch();
  auto run = engine->start("bad", boost::json::object{});
  ASSERT_EQ(wait_finished(*engine, run.id).status, RunStatus::completed);
  ASSERT_EQ(errors.size(), 6u);
  EXPECT_EQ(errors[0],
            "binary artifact 'big' is 2049 bytes; the limit is 2048 (max_artifact_bytes)");
  EXPECT_EQ(errors[1], "no error");
  EXPECT_EQ(errors[2], "content type is empty; give a media type such as image/png");
  EXPECT_EQ(errors[3],
            "content type 'png' is not a media type of the form type/subtype (such as image/png)");
  EXPECT_EQ(errors[4], "content type 'image/png\n' has a byte that is not printable ASCII");
  EXPECT_EQ(errors[5], "artifact key is empty");
  EXPECT_EQ(engine->artifact_bytes(run.id, "ok").bytes.size(), 2048u);

  options.max_artifact_bytes = 10;
  EXPECT_EQ(message_of([&] { Engine::open(options); }),
            "max_artifact_bytes must be at least 1024, got 10");
}

TEST(BinaryArtifact, ReplayAfterRetryKeepsOneVersion) {
  auto engine = Engine::open(fast_options());
  std::atomic<int> executions{0};
  engine->register_workflow("flaky", [&](Context& ctx, const Json&) -> Json {
    // Written before the failing step on every execution: replays after
    // the retry write the same bytes again.
    ctx.binary_artifact("cover", "image/png", "same bytes");
    ctx.step("fails once", [&]() -> Json {
      if (executions++ == 0) throw Error(ErrorCode::step_failed, "once", ErrorClass::fatal);
      return nullptr;
    });
    return nullptr;
  });
  engine->launch();
  auto run = engine->start("flaky", boost::json::object{});
  ASSERT_EQ(wait_finished(*engine, run.id).status, RunStatus::failed);
  engine->retry(run.id);
  ASSERT_EQ(wait_finished(*engine, run.id).status, RunStatus::completed);
  EXPECT_EQ(engine->artifacts(run.id).size(), 1u);
}

TEST(BinaryArtifact, DeletingTheRunDeletesTheBytes) {
  auto engine = Engine::open(fast_options());
  engine->register_workflow("w", [](Context& ctx, const Json&) -> Json {
    ctx.binary_artifact("cover", "image/png", "bytes");
    return nullptr;
  });
  engine->launch();
  auto run = engine->start("w", boost::json::object{});
  ASSERT_EQ(wait_finished(*engine, run.id).status, RunStatus::completed);
  engine->remove(run.id);
  EXPECT_EQ(message_of([&] { engine->artifact_bytes(run.id, "cover"); }),
            "no run with id '" + run.id + "'");
}
