// sl_execution_llm, sl_engine_configure_resource, sl_engine_resource_status,
// sl_engine_llm_providers and sl_engine_options.config_json: the built-in llm
// step and resources as a C host sees them (offline provider, no network).
#include <atomic>
#include <cstring>
#include <future>
#include <memory>

#include "capi_test_util.h"

using namespace capi_test;

namespace {

constexpr const char* kConfig =
    R"({"llm":{"use_environment":false,"default_provider":"offline",)"
    R"("providers":[{"name":"offline","kind":"offline","model":"offline-placeholder"},)"
    R"({"name":"local","kind":"openai","base_url":"http://127.0.0.1:9/v1",)"
    R"("api_key":"test-key-not-a-secret","model":"m"}]},)"
    R"("resources":{"llm:offline":{"max_in_flight":2}}})";

constexpr const char* kRequest =
    R"({"messages":[{"role":"user","content":"A story about a brave owl"}],"max_tokens":60})";

struct Outcome {
  int status = -1;
  int error_class = -1;
  std::string message;
  std::string result;
  int memoized = -1;
  int will_retry = -1;
};

void record(void* user_data, const sl_llm_outcome* o) {
  auto* promise = static_cast<std::promise<Outcome>*>(user_data);
  Outcome out;
  out.status = o->status;
  out.error_class = o->error_class;
  out.message.assign(o->message, o->message_len);
  if (o->result_json) out.result.assign(o->result_json, o->result_len);
  out.memoized = o->memoized;
  out.will_retry = o->will_retry;
  promise->set_value(out);
}

class CapiLlm : public EngineTest {
 protected:
  void SetUp() override {
    EngineTest::SetUp();
    sl_engine_options opts = options();
    opts.config_json = kConfig;
    opts.config_json_len = std::strlen(kConfig);
    open(opts);
  }

  // Runs the llm step `name` inside an execution and waits for its outcome.
  static Outcome llm(sl_execution* e, const std::string& name, const std::string& request) {
    auto promise = std::make_unique<std::promise<Outcome>>();
    auto ready = promise->get_future();
    int rc = sl_execution_llm(e, name.data(), name.size(), request.data(), request.size(), record,
                              promise.get());
    if (rc != SL_OK) {
      Outcome refused;
      refused.status = rc;
      refused.message = last_message();
      return refused;
    }
    return ready.get();
  }
};

TEST_F(CapiLlm, TheStepStreamsIsStoredAndIsMemoizedOnReplay) {
  std::atomic<int> executions{0};
  std::vector<Outcome> outcomes(2);
  workflow("write", [&](sl_execution* e) {
    int n = executions++;
    outcomes[n] = llm(e, "page", kRequest);
    if (n == 0) {
      int state = -1;
      char* payload = nullptr;
      ASSERT_EQ(sl_execution_wait_for_signal(&state, &payload, nullptr, e, "go", 2, -1), SL_OK)
          << last_message();
      sl_free(payload);
      ASSERT_EQ(sl_execution_finish_parked(e), SL_OK);
      return;
    }
    complete(e, outcomes[n].result);
  });
  Json run = start("write");
  std::string id(run.at("id").as_string());
  wait_status(id, "waiting");
  ASSERT_EQ(sl_engine_signal(engine_, id.data(), id.size(), "go", 2, "{}", 2), SL_OK);
  Json done = wait_finished(id);
  ASSERT_EQ(done.at("status"), "completed") << done;
  EXPECT_EQ(outcomes[0].status, SL_OK);
  EXPECT_EQ(outcomes[0].memoized, 0);
  EXPECT_EQ(outcomes[1].memoized, 1);
  EXPECT_EQ(outcomes[0].result, outcomes[1].result);
  Json result = boost::json::parse(outcomes[0].result);
  EXPECT_EQ(result.at("provider"), "offline");
  EXPECT_EQ(result.at("model"), "offline-placeholder");
  std::string streamed;
  size_t attempts = 0;
  Json all = events(id);
  for (const auto& e : all.as_array()) {
    if (e.at("type") == "chunk") streamed += std::string(e.at("data").at("text").as_string());
    attempts += e.at("type") == "llm.attempt";
  }
  EXPECT_EQ(streamed, result.at("text").as_string());
  EXPECT_EQ(attempts, 1u);
}

TEST_F(CapiLlm, BadCallsAreRefusedWithoutCallingBack) {
  std::promise<std::vector<Outcome>> seen;
  workflow("bad", [&](sl_execution* e) {
    std::vector<Outcome> out;
    out.push_back(llm(e, "a", "{not json"));
    out.push_back(llm(e, "b", R"({"messages":[]})"));
    out.push_back(
        llm(e, "c", R"({"provider":"nowhere","messages":[{"role":"user","content":"x"}]})"));
    int rc = sl_execution_llm(e, "d", 1, kRequest, std::strlen(kRequest), nullptr, nullptr);
    Outcome null_fn;
    null_fn.status = rc;
    null_fn.message = last_message();
    out.push_back(null_fn);
    seen.set_value(out);
    complete(e);
  });
  start("bad");
  auto out = seen.get_future().get();
  EXPECT_EQ(out[0].status, SL_EINVALID);
  EXPECT_NE(out[0].message.find("request_json"), std::string::npos) << out[0].message;
  EXPECT_EQ(out[1].status, SL_EINVALID);
  EXPECT_NE(out[1].message.find("messages must not be empty"), std::string::npos) << out[1].message;
  EXPECT_EQ(out[2].status, SL_ENOTFOUND);
  EXPECT_NE(out[2].message.find("'nowhere' is not configured"), std::string::npos)
      << out[2].message;
  EXPECT_EQ(out[3].status, SL_EINVALID);
  EXPECT_NE(out[3].message.find("fn is NULL"), std::string::npos) << out[3].message;
}

TEST_F(CapiLlm, AFailedRequestReportsItsClassAndWhetherItWillBeRetried) {
  // Port 9 (discard) on 127.0.0.1 refuses: a connect failure, retryable.
  std::promise<Outcome> seen;
  sl_workflow_options wf = SL_WORKFLOW_OPTIONS_INIT;
  wf.max_attempts = 2;
  wf.initial_backoff_ms = 1;
  std::atomic<int> executions{0};
  workflow(
      "refused",
      [&](sl_execution* e) {
        Outcome o =
            llm(e, "ask", R"({"provider":"local","messages":[{"role":"user","content":"x"}]})");
        if (executions++ == 1) seen.set_value(o);
        if (o.status == SL_OK) return complete(e);
        sl_execution_finish_failed(e, o.error_class, o.message.data(), o.message.size());
      },
      &wf);
  Json run = start("refused");
  Outcome last = seen.get_future().get();
  EXPECT_EQ(last.status, SL_EPROVIDER);
  EXPECT_EQ(last.error_class, SL_CLASS_RETRYABLE);
  EXPECT_EQ(last.will_retry, 0);  // the second attempt was the last
  EXPECT_NE(last.message.find("could not connect"), std::string::npos) << last.message;
  Json done = wait_finished(std::string(run.at("id").as_string()));
  EXPECT_EQ(done.at("status"), "failed");
}

TEST_F(CapiLlm, ResourcesAreConfiguredAndReported) {
  char* out = nullptr;
  Json status =
      take_json(sl_engine_resource_status(&out, nullptr, engine_, "llm:offline", 11), out);
  EXPECT_EQ(status.at("in_flight"), 0);
  EXPECT_TRUE(status.at("available_requests").is_null());  // no rate limit
  const char* limits = R"({"requests":5,"period_ms":1000,"max_in_flight":1})";
  ASSERT_EQ(sl_engine_configure_resource(engine_, "images", 6, limits, std::strlen(limits)), SL_OK)
      << last_message();
  status = take_json(sl_engine_resource_status(&out, nullptr, engine_, "images", 6), out);
  EXPECT_EQ(status.at("available_requests"), 5.0);

  EXPECT_EQ(sl_engine_resource_status(&out, nullptr, engine_, "", 0), SL_EINVALID);
  EXPECT_NE(last_message().find("resource name"), std::string::npos) << last_message();
  const char* negative = R"({"max_in_flight":-1})";
  EXPECT_EQ(sl_engine_configure_resource(engine_, "images", 6, negative, std::strlen(negative)),
            SL_EINVALID);
  EXPECT_NE(last_message().find("max_in_flight"), std::string::npos) << last_message();
  const char* unknown = R"({"rps":3})";
  EXPECT_EQ(sl_engine_configure_resource(engine_, "images", 6, unknown, std::strlen(unknown)),
            SL_EINVALID);
  EXPECT_NE(last_message().find("unknown key 'rps'"), std::string::npos) << last_message();
}

TEST_F(CapiLlm, ProvidersAreListedWithoutTheirKeys) {
  char* out = nullptr;
  size_t len = 0;
  ASSERT_EQ(sl_engine_llm_providers(&out, &len, engine_), SL_OK);
  std::string text = take(out);
  EXPECT_EQ(text.find("not-a-secret"), std::string::npos) << text;
  Json providers = boost::json::parse(text);
  EXPECT_EQ(providers.at("default"), "offline");
  ASSERT_EQ(providers.at("providers").as_array().size(), 2u);
  EXPECT_EQ(providers.at("providers").as_array()[1].at("has_key"), true);
  EXPECT_EQ(providers.at("providers").as_array()[1].at("resource"), "llm:local");
}

void admitted(void* user_data, int status, const char* message, size_t message_len) {
  static_cast<std::promise<std::pair<int, std::string>>*>(user_data)->set_value(
      {status, std::string(message, message_len)});
}

TEST_F(CapiLlm, HostStepsAcquireResourcesAndARateLimitPausesThem) {
  std::promise<std::vector<std::pair<int, std::string>>> seen;
  workflow("host", [&](sl_execution* e) {
    std::vector<std::pair<int, std::string>> out;
    auto call = [&](int rc) { out.push_back({rc, rc == SL_OK ? "" : last_message()}); };
    call(sl_execution_acquire(e, 5, "images", 6, 0, admitted, nullptr));  // no step 5
    int64_t seq = -1;
    int memoized = -1;
    char* result = nullptr;
    ASSERT_EQ(sl_execution_step_begin(&seq, &memoized, &result, nullptr, e, "draw", 4), SL_OK);
    call(sl_execution_acquire(e, seq, "images", 6, 0, nullptr, nullptr));
    call(sl_execution_acquire(e, seq, "images", 6, -2, admitted, nullptr));
    std::promise<std::pair<int, std::string>> granted;
    call(sl_execution_acquire(e, seq, "images", 6, 0, admitted, &granted));
    out.push_back(granted.get_future().get());
    call(sl_execution_step_rate_limited(e, seq, -1, "slow down", 9));
    call(sl_execution_step_rate_limited(e, seq, 60000, "slow down", 9));
    seen.set_value(out);
    sl_execution_finish_failed(e, SL_CLASS_RATE_LIMITED, "slow down", 9);
  });
  start("host");
  auto out = seen.get_future().get();
  ASSERT_EQ(out.size(), 7u);
  EXPECT_EQ(out[0].first, SL_EINVALID);
  EXPECT_NE(out[0].second.find("step position 5"), std::string::npos) << out[0].second;
  EXPECT_EQ(out[1].first, SL_EINVALID);
  EXPECT_NE(out[1].second.find("fn is NULL"), std::string::npos) << out[1].second;
  EXPECT_EQ(out[2].first, SL_EINVALID);
  EXPECT_NE(out[2].second.find("-2"), std::string::npos) << out[2].second;
  EXPECT_EQ(out[3].first, SL_OK);
  EXPECT_EQ(out[4].first, SL_OK);  // the callback: admitted
  EXPECT_EQ(out[5].first, SL_EINVALID);
  EXPECT_NE(out[5].second.find("retry_after_ms is -1"), std::string::npos) << out[5].second;
  EXPECT_EQ(out[6].first, SL_OK) << out[6].second;
  char* status = nullptr;
  Json paused =
      take_json(sl_engine_resource_status(&status, nullptr, engine_, "images", 6), status);
  EXPECT_GT(paused.at("paused_until_ms").as_int64(), 0);
  EXPECT_EQ(paused.at("in_flight"), 0);  // the failed step returned its use
}

TEST(CapiLlmConfig, BadConfigJsonIsRefusedNamingThePath) {
  auto refused = [](const char* config) {
    sl_engine_options opts = SL_ENGINE_OPTIONS_INIT;
    opts.config_json = config;
    opts.config_json_len = std::strlen(config);
    sl_engine* engine = nullptr;
    EXPECT_NE(sl_engine_open(&engine, &opts), SL_OK);
    EXPECT_EQ(engine, nullptr);
    return last_message();
  };
  EXPECT_NE(refused(R"({"llm":{"providers":[{"name":"x","kind":"palm"}]}})")
                .find("config.llm.providers[0].kind must be openai, anthropic, gemini or offline"),
            std::string::npos);
  EXPECT_NE(refused(R"({"resources":{"r":{"period_ms":0}}})").find("period"), std::string::npos);
  EXPECT_NE(refused(R"({"llm":{"providers":[{"kind":"offline"}]}})")
                .find("config.llm.providers[0].name is required"),
            std::string::npos);
  EXPECT_NE(refused(R"({"queues":{}})").find("unknown key 'queues'"), std::string::npos);
  EXPECT_NE(refused("[]").find("config must be a JSON object"), std::string::npos);
  // A version 1 struct has no config fields: they are not read.
  sl_engine_options v1 = SL_ENGINE_OPTIONS_INIT;
  v1.version = 1;
  v1.config_json = "garbage";
  v1.config_json_len = 7;
  sl_engine* engine = nullptr;
  EXPECT_EQ(sl_engine_open(&engine, &v1), SL_OK) << last_message();
  sl_engine_close(engine);
}

}  // namespace

// sl_workflow_options version 3: max_attempts 0 (the INIT value) leaves the
// policy unset, so llm steps retry by default; 1 is an explicit single attempt.
// A version 2 struct at its old INIT values is unset, as it always was.
class CapiLlmWorkflowRetry : public CapiLlm {
 protected:
  // The first attempt's outcome of an llm step against a refused port.
  Outcome first_attempt(const char* name, const sl_workflow_options* wf) {
    auto seen = std::make_shared<std::promise<Outcome>>();
    auto executions = std::make_shared<std::atomic<int>>(0);
    workflow(
        name,
        [seen, executions](sl_execution* e) {
          Outcome o =
              llm(e, "ask", R"({"provider":"local","messages":[{"role":"user","content":"x"}]})");
          if ((*executions)++ == 0) seen->set_value(o);
          sl_execution_finish_failed(e, o.error_class, o.message.data(), o.message.size());
        },
        wf);
    start(name);
    return seen->get_future().get();
  }
};

TEST_F(CapiLlmWorkflowRetry, UnsetPolicyLeavesTheLlmDefaultOn) {
  sl_workflow_options wf = SL_WORKFLOW_OPTIONS_INIT;
  EXPECT_EQ(wf.max_attempts, 0);
  Outcome o = first_attempt("unset", &wf);
  EXPECT_EQ(o.error_class, SL_CLASS_RETRYABLE);
  EXPECT_EQ(o.will_retry, 1);
}

TEST_F(CapiLlmWorkflowRetry, OneAttemptTurnsTheLlmDefaultOff) {
  sl_workflow_options wf = SL_WORKFLOW_OPTIONS_INIT;
  wf.max_attempts = 1;
  Outcome o = first_attempt("single", &wf);
  EXPECT_EQ(o.error_class, SL_CLASS_RETRYABLE);
  EXPECT_EQ(o.will_retry, 0);
}

TEST_F(CapiLlmWorkflowRetry, AVersion2StructAtItsOldDefaultsIsUnset) {
  sl_workflow_options wf = SL_WORKFLOW_OPTIONS_INIT;
  wf.version = 2;
  wf.max_attempts = 1;  // version 2's INIT value
  Outcome o = first_attempt("old", &wf);
  EXPECT_EQ(o.will_retry, 1);
}
