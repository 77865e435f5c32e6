// The built-in image step end to end: the engine, libcurl and the fake
// images server on 127.0.0.1 (one scenario per behaviour), and the offline
// placeholder provider drawn by the book library.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "common/sha256.h"
#include "fake_images.h"
#include "fake_llm_server.h"
#include "placeholder_picture.h"
#include "storyloom/config.h"
#include "support/lifecycle_recorder.h"
#include "support/test_support.h"

namespace storyloom::testing {
namespace {

// Obviously fake; the tests check that it never reaches the store.
constexpr const char* kKey = "test-key-not-a-secret-img-93q";

RetryPolicy retries(int attempts) {
  RetryPolicy p;
  p.max_attempts = attempts;
  p.initial_backoff = std::chrono::milliseconds(10);
  p.max_backoff = std::chrono::milliseconds(50);
  return p;
}

class ImageStep : public ::testing::Test {
 protected:
  void TearDown() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  // A store file of this test's own.
  std::string store_file() {
    dir_ = std::filesystem::temp_directory_path() /
           ("storyloom-image-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    return (dir_ / "store.db").string();
  }

  // Providers "fake" (the fake server under `scenario`) and "offline" (the
  // book library's placeholder); a workflow "draw" asking for input.request,
  // then, when input.wait is true, waiting for the signal "go".
  std::unique_ptr<Engine> open(const std::string& scenario, RetryPolicy retry = retries(3),
                               std::string store = ":memory:", bool with_drawer = true) {
    EngineOptions o = fast_options(std::move(store));
    o.images.use_environment = false;
    ImageProviderConfig fake;
    fake.name = "fake";
    fake.base_url = server.base_url(scenario) + "/v1";
    fake.api_key = kKey;
    fake.model = "fake-image-model";
    fake.size = "256x256";
    fake.idle_timeout = std::chrono::milliseconds(1500);
    o.images.providers = {fake};
    o.images.default_provider = "fake";
    if (with_drawer) o.images.offline_drawer = book::placeholder_png;
    auto engine = Engine::open(o);
    engine->register_workflow(
        "draw",
        [](Context& ctx, const Json& input) -> Json {
          ImageResult result =
              ctx.image("page-1/picture", image_request_from_json(input.at("request")));
          if (const auto* wait = input.as_object().if_contains("wait"); wait && wait->as_bool()) {
            ctx.wait_for_signal("go");
          }
          return to_json(result);
        },
        WorkflowOptions{.retry = retry});
    engine->launch();
    return engine;
  }

  static Json request(boost::json::object extra = {}) {
    boost::json::object r{{"prompt", "A lighthouse keeper and her cat, watercolour"}};
    for (auto& [k, v] : extra) r[k] = v;
    return r;
  }

  static RunInfo run_to_end(Engine& engine, Json req, bool wait = false) {
    auto run = engine.start("draw", boost::json::object{{"request", req}, {"wait", wait}});
    return wait_finished(engine, run.id, std::chrono::seconds(20));
  }

  static std::vector<Event> events_of(Engine& engine, const std::string& run_id,
                                      const std::string& type) {
    std::vector<Event> out;
    for (auto& e : engine.events(run_id, 0, 10000)) {
      if (e.type == type) out.push_back(e);
    }
    return out;
  }

  // The store file (and its WAL) never holds the key, in any form we wrote.
  void expect_key_not_in(const std::string& store) {
    for (const char* suffix : {"", "-wal", "-journal"}) {
      std::ifstream in(store + suffix, std::ios::binary);
      if (!in) continue;
      std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      EXPECT_EQ(bytes.find("not-a-secret"), std::string::npos) << store << suffix;
    }
  }

  FakeLlmServer server;
  std::filesystem::path dir_;
};

TEST_F(ImageStep, StoresThePictureAsABinaryArtifactNamedByTheResult) {
  auto engine = open("normal");
  auto run = run_to_end(*engine, request());
  ASSERT_EQ(run.status, RunStatus::completed) << boost::json::serialize(run.error);
  ImageResult result = image_result_from_json(run.output);
  EXPECT_EQ(result.artifact, "page-1/picture");
  EXPECT_EQ(result.version, 1);
  EXPECT_EQ(result.content_type, "image/png");
  EXPECT_EQ(result.width, fake::kFakePictureWidth);
  EXPECT_EQ(result.height, fake::kFakePictureHeight);
  EXPECT_EQ(result.provider, "fake");
  EXPECT_EQ(result.model, "fake-image-model");
  EXPECT_EQ(result.revised_prompt, "Fake picture of: A lighthouse keeper and her cat, waterco");
  // The bytes are the server's picture, byte for byte.
  auto picture = engine->artifact_bytes(run.id, "page-1/picture", result.version);
  EXPECT_EQ(picture.bytes, fake::fake_png("A lighthouse keeper and her cat, watercolour"));
  EXPECT_EQ(picture.info.content_type, "image/png");
  EXPECT_EQ(static_cast<int64_t>(picture.bytes.size()), result.bytes);
  EXPECT_EQ(detail::sha256_hex(picture.bytes), result.sha256);
  // Events: the attempt, then the artifact (what a live view shows).
  auto attempts = events_of(*engine, run.id, "image.attempt");
  ASSERT_EQ(attempts.size(), 1u);
  EXPECT_EQ(attempts[0].data.at("provider"), "fake");
  EXPECT_EQ(attempts[0].data.at("size"), "256x256");
  EXPECT_EQ(attempts[0].data.at("artifact"), "page-1/picture");
  auto artifacts = events_of(*engine, run.id, "artifact");
  ASSERT_EQ(artifacts.size(), 1u);
  EXPECT_EQ(artifacts[0].data.at("content_type"), "image/png");
  // What went over the wire.
  auto requests = server.recorded();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_NE(requests[0].path.find("/v1/images/generations"), std::string::npos);
  EXPECT_EQ(requests[0].header("authorization"), std::string("Bearer ") + kKey);
  EXPECT_EQ(requests[0].header("idempotency-key"), run.id + ":0");
  Json body = boost::json::parse(requests[0].body);
  EXPECT_EQ(body.at("model"), "fake-image-model");
  EXPECT_EQ(body.at("size"), "256x256");
  EXPECT_EQ(body.at("n"), 1);
  EXPECT_EQ(body.at("response_format"), "b64_json");
}

TEST_F(ImageStep, RequestFieldsReplaceTheProvidersAndExtraIsMerged) {
  auto engine = open("normal");
  auto run = run_to_end(
      *engine, request({{"model", "other-model"},
                        {"size", "512x256"},
                        {"artifact", "cover"},
                        {"extra", boost::json::object{{"quality", "hd"}}}}));
  ASSERT_EQ(run.status, RunStatus::completed) << boost::json::serialize(run.error);
  EXPECT_EQ(run.output.at("artifact"), "cover");
  Json body = boost::json::parse(server.recorded().at(0).body);
  EXPECT_EQ(body.at("model"), "other-model");
  EXPECT_EQ(body.at("size"), "512x256");
  EXPECT_EQ(body.at("quality"), "hd");
  EXPECT_EQ(engine->artifact_bytes(run.id, "cover").info.version, 1);
}

TEST_F(ImageStep, A429WithRetryAfterWaitsThenSucceeds) {
  std::string store = store_file();
  auto engine = open("rate_limited_then_ok;retry_after=1", retries(3), store);
  auto started = std::chrono::steady_clock::now();
  auto run = run_to_end(*engine, request());
  auto took = std::chrono::steady_clock::now() - started;
  ASSERT_EQ(run.status, RunStatus::completed) << boost::json::serialize(run.error);
  EXPECT_EQ(server.requests("rate_limited_then_ok;retry_after=1"), 2u);
  // Retry-After: 1 replaced the 10 ms backoff.
  EXPECT_GE(took, std::chrono::milliseconds(900));
  EXPECT_EQ(events_of(*engine, run.id, "image.attempt").size(), 2u);
  engine->close();
  expect_key_not_in(store);
}

TEST_F(ImageStep, A500ThenOkIsRetried) {
  auto engine = open("server_error_then_ok;status=503");
  auto run = run_to_end(*engine, request());
  ASSERT_EQ(run.status, RunStatus::completed) << boost::json::serialize(run.error);
  EXPECT_EQ(server.requests("server_error_then_ok;status=503"), 2u);
}

TEST_F(ImageStep, ASilentServerTimesOutAndFailsWithATimeout) {
  auto engine = open("stall;stall_ms=5000", retries(2));
  auto run = run_to_end(*engine, request({{"idle_timeout_ms", 300}}));
  ASSERT_EQ(run.status, RunStatus::failed);
  EXPECT_EQ(run.error.at("code"), "timeout") << boost::json::serialize(run.error);
  EXPECT_NE(std::string(run.error.at("message").as_string()).find("image step 'page-1/picture'"),
            std::string::npos)
      << boost::json::serialize(run.error);
  EXPECT_EQ(server.requests("stall;stall_ms=5000"), 2u);
}

TEST_F(ImageStep, AMalformedBodyIsRetriedThenFailsNamingTheProblem) {
  auto engine = open("malformed_chunk", retries(2));
  auto run = run_to_end(*engine, request());
  ASSERT_EQ(run.status, RunStatus::failed);
  std::string message(run.error.at("message").as_string());
  EXPECT_NE(message.find("the images response is not JSON"), std::string::npos) << message;
  EXPECT_EQ(server.requests("malformed_chunk"), 2u);
}

TEST_F(ImageStep, ABadKeyIsFatalAndTheKeyIsNeverStored) {
  std::string store = store_file();
  auto engine = open("unauthorized", retries(3), store);
  auto run = run_to_end(*engine, request());
  ASSERT_EQ(run.status, RunStatus::failed);
  EXPECT_EQ(server.requests("unauthorized"), 1u);  // fatal: not retried
  std::string message(run.error.at("message").as_string());
  EXPECT_NE(message.find("401"), std::string::npos) << message;
  EXPECT_EQ(message.find("not-a-secret"), std::string::npos);
  engine->close();
  expect_key_not_in(store);
}

TEST_F(ImageStep, AStoredPictureIsNotAskedForAgainAfterARestart) {
  std::string store = store_file();
  std::string run_id;
  ImageResult first;
  {
    auto engine = open("normal", retries(3), store);
    auto run = engine->start("draw", boost::json::object{{"request", request()}, {"wait", true}});
    run_id = run.id;
    wait_status(*engine, run_id, RunStatus::waiting, std::chrono::seconds(20));
    engine->close();
  }
  EXPECT_EQ(server.requests("normal"), 1u);
  auto engine = open("normal", retries(3), store);
  engine->signal(run_id, "go", nullptr);
  auto run = wait_finished(*engine, run_id, std::chrono::seconds(20));
  ASSERT_EQ(run.status, RunStatus::completed) << boost::json::serialize(run.error);
  EXPECT_EQ(server.requests("normal"), 1u);  // memoized: the replay sent nothing
  ImageResult result = image_result_from_json(run.output);
  EXPECT_EQ(result.version, 1);
  EXPECT_EQ(engine->artifacts(run_id).size(), 1u);
  EXPECT_EQ(engine->artifact_bytes(run_id, "page-1/picture").bytes,
            fake::fake_png("A lighthouse keeper and her cat, watercolour"));
  engine->close();
  expect_key_not_in(store);
}

TEST_F(ImageStep, CancellingTheRunStopsTheTransferAtOnce) {
  auto engine = open("stall;stall_ms=8000");
  auto run = engine->start("draw", boost::json::object{{"request", request()}});
  eventually([&] { return !events_of(*engine, run.id, "image.attempt").empty(); },
             std::chrono::seconds(10));
  auto started = std::chrono::steady_clock::now();
  engine->cancel(run.id);
  auto done = wait_finished(*engine, run.id, std::chrono::seconds(5));
  EXPECT_EQ(done.status, RunStatus::cancelled);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(3));
  EXPECT_TRUE(engine->artifacts(run.id).empty());
}

TEST_F(ImageStep, ACancelledAttemptIsReportedAsFailedWithTheClassCancelled) {
  auto engine = open("stall;stall_ms=8000");
  LifecycleRecorder recorder;
  engine->set_lifecycle_callback(recorder.callback());
  auto run = engine->start("draw", boost::json::object{{"request", request()}});
  ASSERT_TRUE(eventually([&] { return !events_of(*engine, run.id, "image.attempt").empty(); },
                         std::chrono::seconds(10)));
  engine->cancel(run.id);
  ASSERT_EQ(wait_finished(*engine, run.id, std::chrono::seconds(5)).status, RunStatus::cancelled);
  ASSERT_TRUE(eventually([&] { return recorder.has_run_end(); }));
  auto lines = recorder.lines();
  ASSERT_EQ(lines.size(), 4u) << ::testing::PrintToString(lines);
  EXPECT_EQ(lines[1].rfind("step.started ", 0), 0u) << lines[1];
  EXPECT_EQ(lines[2], "step.failed" + lines[1].substr(12) + " cancelled");
  EXPECT_EQ(lines[3], "run.finished cancelled");
  EXPECT_EQ(recorder.events()[2].step_kind, "image");
}

TEST_F(ImageStep, TheOfflineProviderDrawsALabelledPlaceholder) {
  auto engine = open("normal");
  auto run = run_to_end(*engine, request({{"provider", "offline"}}));
  ASSERT_EQ(run.status, RunStatus::completed) << boost::json::serialize(run.error);
  ImageResult result = image_result_from_json(run.output);
  EXPECT_EQ(result.provider, "offline");
  EXPECT_EQ(result.model, "offline-placeholder");
  EXPECT_EQ(result.width, 512);
  EXPECT_EQ(result.height, 384);
  EXPECT_EQ(engine->artifact_bytes(run.id, "page-1/picture").bytes,
            book::placeholder_png("A lighthouse keeper and her cat, watercolour", 512, 384));
  EXPECT_EQ(server.recorded().size(), 0u);  // no network
}

TEST_F(ImageStep, TheOfflineProviderWithoutADrawerSaysWhatToSet) {
  auto engine = open("normal", retries(1), ":memory:", /*with_drawer=*/false);
  auto run = run_to_end(*engine, request({{"provider", "offline"}}));
  ASSERT_EQ(run.status, RunStatus::failed);
  std::string message(run.error.at("message").as_string());
  EXPECT_NE(message.find("the offline image provider has no drawer; set ImageOptions::offline_drawer"),
            std::string::npos)
      << message;
}

TEST_F(ImageStep, BadRequestsAreRefusedNamingTheField) {
  auto message = [](Json json) -> std::string {
    try {
      validate(image_request_from_json(json));
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::invalid_argument);
      return e.what();
    }
    return "no error";
  };
  EXPECT_EQ(message(boost::json::object{{"prompt", ""}}), "image request has no prompt");
  EXPECT_EQ(message(boost::json::object{{"size", "1024x1024"}}), "image request has no prompt");
  EXPECT_EQ(message(boost::json::object{{"prompt", "p"}, {"size", "big"}}),
            "image request size is 'big'; use WIDTHxHEIGHT, each 64 to 4096 (e.g. 1024x1024)");
  EXPECT_EQ(message(boost::json::object{{"prompt", "p"}, {"size", "32x32"}}),
            "image request size is '32x32'; use WIDTHxHEIGHT, each 64 to 4096 (e.g. 1024x1024)");
  EXPECT_EQ(message(boost::json::object{{"prompt", "p"},
                                        {"extra", boost::json::object{{"n", 2}}}}),
            "image request extra sets 'n', which the request sets itself; use the request's own "
            "field");
  EXPECT_EQ(message(boost::json::object{{"prompt", "p"}, {"colour", "red"}}),
            "image request has an unknown field 'colour' (known: provider, model, prompt, size, "
            "artifact, extra, idle_timeout_ms, total_timeout_ms)");
  EXPECT_EQ(message(boost::json::object{{"prompt", "p"}, {"idle_timeout_ms", 0}}),
            "image request idle_timeout_ms is 0; use 1 to 86400000");
}

TEST_F(ImageStep, AnUnknownProviderIsNotFoundNamingTheConfiguredOnes) {
  auto engine = open("normal", retries(1));
  auto run = run_to_end(*engine, request({{"provider", "nope"}}));
  ASSERT_EQ(run.status, RunStatus::failed);
  std::string message(run.error.at("message").as_string());
  EXPECT_NE(message.find("no image provider 'nope' is configured (configured: "),
            std::string::npos)
      << message;
}

TEST_F(ImageStep, EngineConfigJsonConfiguresImageProviders) {
  EngineOptions o;
  apply_engine_config(o, boost::json::parse(R"({"images":{"default_provider":"local",
      "use_environment":false,"providers":[{"name":"local","base_url":"http://127.0.0.1:1/v1",
      "model":"m","size":"640x480"}]}})"));
  ASSERT_EQ(o.images.providers.size(), 1u);
  EXPECT_EQ(o.images.providers[0].size, "640x480");
  EXPECT_EQ(o.images.default_provider, "local");
  EXPECT_FALSE(o.images.use_environment);
  auto e = error_of([] {
    EngineOptions bad;
    apply_engine_config(bad, boost::json::parse(R"({"images":{"providers":[{"name":"x","kind":"dalle"}]}})"));
  });
  EXPECT_STREQ(e.what(),
               "config.images.providers[0].kind must be \"openai\" or \"offline\", got \"dalle\"");
}

TEST(ImageProviders, ANamelessProviderIsRefusedAtOpen) {
  EngineOptions o = fast_options();
  o.images.use_environment = false;
  o.images.providers = {ImageProviderConfig{}};
  Error e = error_of([&] { Engine::open(o); });
  EXPECT_EQ(e.code(), ErrorCode::invalid_argument);
  EXPECT_STREQ(e.what(), "an image provider needs a name");
}

TEST(ImageProvidersFromEnvironment, OpenAiWhenItsKeyIsSetAndOfflineAlways) {
  auto none = image_providers_from_environment([](const char*) -> const char* { return nullptr; });
  ASSERT_EQ(none.size(), 1u);
  EXPECT_EQ(none[0].name, "offline");
  auto some = image_providers_from_environment([](const char* name) -> const char* {
    std::string n(name);
    if (n == "OPENAI_API_KEY") return "k";
    if (n == "OPENAI_IMAGE_SIZE") return "1792x1024";
    return nullptr;
  });
  ASSERT_EQ(some.size(), 2u);
  EXPECT_EQ(some[0].name, "openai");
  EXPECT_EQ(some[0].model, "dall-e-3");
  EXPECT_EQ(some[0].size, "1792x1024");
}

}  // namespace
}  // namespace storyloom::testing
