// Bad bytes through the C ABI batch calls: sl_engine_start_many,
// sl_engine_signal_many and sl_engine_start_async. A call whose arguments
// are malformed (NULL pointers, lengths that cut or pad the text, invalid
// UTF-8, an element of the wrong shape) is refused as a whole, names what was
// wrong, hands out nothing and writes nothing; a well-formed call judges each
// element alone and its neighbours are unaffected.
#include <chrono>
#include <string>
#include <thread>

#include "capi_test_util.h"

using namespace capi_test;

namespace {

class CapiBatch : public EngineTest {
 protected:
  // Runs sl_engine_start_many on `text` (its first `len` bytes, all by default)
  // expecting SL_EINVALID, and checks that nothing was handed out.
  std::string refused_start_many(const std::string& text, size_t len = std::string::npos) {
    char* out = reinterpret_cast<char*>(this);  // must be reset to NULL
    size_t out_len = 99;
    int status = sl_engine_start_many(&out, &out_len, engine_, text.data(),
                                      len == std::string::npos ? text.size() : len);
    EXPECT_EQ(status, SL_EINVALID) << text;
    EXPECT_EQ(out, nullptr);
    EXPECT_EQ(out_len, 0u);
    return last_message();
  }
  std::string refused_signal_many(const std::string& text, size_t len = std::string::npos) {
    char* out = reinterpret_cast<char*>(this);
    size_t out_len = 99;
    int status = sl_engine_signal_many(&out, &out_len, engine_, text.data(),
                                       len == std::string::npos ? text.size() : len);
    EXPECT_EQ(status, SL_EINVALID) << text;
    EXPECT_EQ(out, nullptr);
    EXPECT_EQ(out_len, 0u);
    return last_message();
  }
  Json start_many(const std::string& text) {
    char* out = nullptr;
    return take_json(sl_engine_start_many(&out, nullptr, engine_, text.data(), text.size()), out);
  }
  Json signal_many(const std::string& text) {
    char* out = nullptr;
    return take_json(sl_engine_signal_many(&out, nullptr, engine_, text.data(), text.size()), out);
  }
  void echo_workflow() {
    workflow("echo", [](sl_execution* e) {
      std::string input = input_of(e);
      complete(e, input);
    });
  }
};

// {"a":{"a":...1}}: `levels` nested objects.
std::string nested(int levels) {
  std::string text;
  for (int i = 0; i < levels; ++i) text += R"({"a":)";
  text += "1";
  for (int i = 0; i < levels; ++i) text += "}";
  return text;
}

const char kNotValidJson[] = "sl_engine_start_many: requests_json is not valid JSON: ";

bool starts_with(const std::string& text, const std::string& prefix) {
  return text.compare(0, prefix.size(), prefix) == 0;
}

}  // namespace

TEST_F(CapiBatch, StartManyRefusesMalformedArgumentsAsAWholeAndWritesNothing) {
  echo_workflow();
  const std::string one = R"([{"workflow":"echo","input":{"x":1},"idempotency_key":"k"}])";
  char* out = nullptr;
  EXPECT_EQ(sl_engine_start_many(&out, nullptr, nullptr, one.data(), one.size()), SL_EINVALID);
  EXPECT_EQ(last_message(), "sl_engine_start_many: engine is NULL");
  EXPECT_EQ(sl_engine_start_many(nullptr, nullptr, engine_, one.data(), one.size()), SL_EINVALID);
  EXPECT_EQ(last_message(), "sl_engine_start_many: results_json is NULL");
  EXPECT_EQ(sl_engine_start_many(&out, nullptr, engine_, nullptr, 12), SL_EINVALID);
  EXPECT_EQ(last_message(), "sl_engine_start_many: requests_json is NULL");
  EXPECT_EQ(sl_engine_start_many(&out, nullptr, engine_, nullptr, 0), SL_EINVALID);
  EXPECT_EQ(last_message(), "sl_engine_start_many: requests_json is NULL");

  // A length that cuts the text, one that takes in a NUL after it, none at all.
  EXPECT_TRUE(starts_with(refused_start_many(one, one.size() - 2), kNotValidJson)) << last_message();
  std::string padded = one + std::string(1, '\0');
  EXPECT_TRUE(starts_with(refused_start_many(padded), kNotValidJson)) << last_message();
  EXPECT_TRUE(starts_with(refused_start_many(one, 0), kNotValidJson)) << last_message();
  // Invalid UTF-8 inside a string, and outside any.
  EXPECT_TRUE(starts_with(
      refused_start_many(R"([{"workflow":"echo","input":{"s":")" "\xff\xfe" R"("}}])"),
      kNotValidJson))
      << last_message();
  EXPECT_TRUE(starts_with(refused_start_many("[\xc3]"), kNotValidJson)) << last_message();
  // Well-formed JSON of the wrong shape.
  EXPECT_EQ(refused_start_many(R"({"workflow":"echo"})"),
            "sl_engine_start_many: requests_json must be a JSON array");
  EXPECT_EQ(refused_start_many(R"([{"workflow":"echo","input":{}},7])"),
            "sl_engine_start_many: requests_json[1] must be an object");
  EXPECT_EQ(refused_start_many(R"([{"workflow":"echo","input":{},"idempotency_key":7}])"),
            "sl_engine_start_many: requests_json[0].idempotency_key must be a string");
  EXPECT_EQ(refused_start_many(R"([{"workflow":"echo","input":{},"priority":1.5}])"),
            "sl_engine_start_many: requests_json[0].priority must be a 32-bit integer");
  EXPECT_EQ(refused_start_many(R"([{"workflow":"echo","input":{},"priority":4294967296}])"),
            "sl_engine_start_many: requests_json[0].priority must be a 32-bit integer");
  EXPECT_EQ(refused_start_many(std::string(R"([{"workflow":"echo","input":{"x":2},)"
                                           R"("idempotency_key":"k"},{"owner":[]}])")),
            "sl_engine_start_many: requests_json[1].owner must be a string");

  // None of those wrote anything: key "k" is still free.
  Json results = start_many(one);
  ASSERT_EQ(results.as_array().size(), 1u);
  EXPECT_EQ(results.at(0).at("run").at("input").at("x"), 1);
  EXPECT_EQ(results.at(0).at("run").at("status"), "queued");
}

TEST_F(CapiBatch, StartManyAnswersEachElementAloneAndItsNeighboursStart) {
  echo_workflow();
  std::string requests = std::string("[") +
      R"({"workflow":"echo","input":{"x":0},"idempotency_key":"a"},)" +
      R"({"workflow":"echo","input":[1],"idempotency_key":"array"},)" +
      R"({"workflow":"echo","idempotency_key":"no-input"},)" +
      R"({"workflow":"echo","input":)" + nested(40) + R"(,"idempotency_key":"deep"},)" +
      R"({"workflow":"ghost","input":{},"idempotency_key":"ghost"},)" +
      R"({"workflow":"echo","input":{"x":5},"idempotency_key":"a"},)" +
      R"({"workflow":"echo","input":{},"idempotency_key":"line\nbreak"},)" +
      R"({"workflow":"echo","input":{},"trace_parent":"00-nope"},)" +
      R"({"workflow":"echo","input":{"x":8},"idempotency_key":"b"}])";
  Json results = start_many(requests);
  ASSERT_EQ(results.as_array().size(), 9u);
  auto error = [&](size_t i) { return results.at(i).at("error"); };
  std::string a(results.at(0).at("run").at("id").as_string());
  EXPECT_EQ(error(1).at("code"), "invalid_argument");
  EXPECT_EQ(error(1).at("message"), "run input must be a JSON object, not an array");
  EXPECT_EQ(error(2).at("message"), "run input must be a JSON object, not null");
  EXPECT_EQ(error(3).at("message"),
            "run input is nested deeper than the JSON depth limit of 32 levels (max_json_depth)");
  EXPECT_EQ(error(4).at("code"), "not_found");
  EXPECT_EQ(error(4).at("message"), "workflow 'ghost' is not registered by any engine on this store");
  EXPECT_EQ(std::string(results.at(5).at("run").at("id").as_string()), a) << "the same key later in the batch";
  EXPECT_EQ(results.at(5).at("run").at("input").at("x"), 0);
  EXPECT_EQ(error(6).at("message"), "idempotency key contains a control character");
  EXPECT_EQ(error(7).at("code"), "invalid_argument");
  EXPECT_NE(std::string(error(7).at("message").as_string()).find("trace_parent '00-nope'"),
            std::string::npos)
      << error(7);
  std::string b(results.at(8).at("run").at("id").as_string());
  EXPECT_EQ(wait_finished(a).at("output").at("x"), 0);
  EXPECT_EQ(wait_finished(b).at("output").at("x"), 8);

  // The refused keys stayed free: a second batch creates them.
  results = start_many(R"([{"workflow":"echo","input":{"x":1},"idempotency_key":"array"},)"
                       R"({"workflow":"echo","input":{"x":4},"idempotency_key":"ghost"}])");
  EXPECT_EQ(wait_finished(std::string(results.at(0).at("run").at("id").as_string())).at("output").at("x"), 1);
  EXPECT_EQ(wait_finished(std::string(results.at(1).at("run").at("id").as_string())).at("output").at("x"), 4);
}

TEST_F(CapiBatch, SignalManyRefusesMalformedArgumentsAndJudgesEachSignalAlone) {
  workflow("wait", [](sl_execution* e) {
    int state = 0;
    char* payload = nullptr;
    size_t len = 0;
    if (sl_execution_wait_for_signal(&state, &payload, &len, e, "go", 2, -1) != SL_OK) {
      sl_execution_finish_failed(e, SL_CLASS_FATAL, "wait failed", 11);
    } else if (state == SL_WAIT_PARKED) {
      sl_execution_finish_parked(e);
    } else {
      sl_execution_finish_completed(e, payload, len);
    }
    sl_free(payload);
  });
  echo_workflow();
  char* out = nullptr;
  Json w = start("wait");
  std::string waiting(w.at("id").as_string());
  ASSERT_EQ(wait_status(waiting, "waiting").at("status"), "waiting");
  std::string finished(start("echo").at("id").as_string());
  ASSERT_EQ(wait_finished(finished).at("status"), "completed");

  const std::string good = R"([{"run_id":")" + waiting + R"(","name":"go","payload":{"v":1}}])";
  EXPECT_EQ(sl_engine_signal_many(&out, nullptr, nullptr, good.data(), good.size()), SL_EINVALID);
  EXPECT_EQ(last_message(), "sl_engine_signal_many: engine is NULL");
  EXPECT_EQ(sl_engine_signal_many(nullptr, nullptr, engine_, good.data(), good.size()), SL_EINVALID);
  EXPECT_EQ(last_message(), "sl_engine_signal_many: results_json is NULL");
  EXPECT_EQ(sl_engine_signal_many(&out, nullptr, engine_, nullptr, 5), SL_EINVALID);
  EXPECT_EQ(last_message(), "sl_engine_signal_many: signals_json is NULL");
  const std::string not_json = "sl_engine_signal_many: signals_json is not valid JSON: ";
  EXPECT_TRUE(starts_with(refused_signal_many(good, good.size() - 1), not_json)) << last_message();
  EXPECT_TRUE(starts_with(refused_signal_many(good + std::string(1, '\0')), not_json))
      << last_message();
  EXPECT_TRUE(starts_with(
      refused_signal_many(R"([{"run_id":")" + waiting + R"(","name":"g)" "\xc0\xaf" R"("}])"),
      not_json))
      << last_message();
  EXPECT_EQ(refused_signal_many(R"([{"name":"go"}])"),
            "sl_engine_signal_many: signals_json[0].run_id must be a string");
  EXPECT_EQ(refused_signal_many(R"([{"run_id":")" + waiting + R"(","name":null}])"),
            "sl_engine_signal_many: signals_json[0].name must be a string");
  EXPECT_EQ(refused_signal_many(R"([{"run_id":")" + waiting + R"(","name":"go","once":"yes"}])"),
            "sl_engine_signal_many: signals_json[0].once must be true or false");
  EXPECT_EQ(refused_signal_many(R"(["go"])"), "sl_engine_signal_many: signals_json[0] must be an object");
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(get(waiting).at("status"), "waiting") << "a refused call delivered a signal";

  std::string signals = "[" + std::string(R"({"run_id":"nobody","name":"go"},)") +
                        R"({"run_id":")" + finished + R"(","name":"go"},)" +
                        R"({"run_id":")" + waiting + R"(","name":"go","payload":)" + nested(40) + "}," +
                        R"({"run_id":")" + waiting + R"(","name":""},)" +
                        R"({"run_id":")" + waiting + R"(","name":"go","payload":{"v":2},"once":true}])";
  Json results = signal_many(signals);
  ASSERT_EQ(results.as_array().size(), 5u);
  EXPECT_EQ(results.at(0).at("error").at("code"), "not_found");
  EXPECT_EQ(results.at(0).at("error").at("message"), "no run with id 'nobody'");
  EXPECT_EQ(results.at(1).at("error").at("code"), "invalid_state");
  EXPECT_EQ(std::string(results.at(1).at("error").at("message").as_string()),
            "run '" + finished + "' is already completed; signals can only be sent to unfinished runs");
  ASSERT_TRUE(results.at(2).as_object().contains("error")) << "a payload 40 levels deep was delivered";
  EXPECT_EQ(results.at(2).at("error").at("message"),
            "signal payload is nested deeper than the JSON depth limit of 32 levels (max_json_depth)");
  EXPECT_EQ(results.at(3).at("error").at("code"), "invalid_argument");
  EXPECT_EQ(results.at(4).at("ok"), true);
  EXPECT_EQ(wait_finished(waiting).at("output").at("v"), 2);
  int received = 0;
  Json finished_events = events(finished);
  for (const auto& e : finished_events.as_array()) received += e.at("type") == "signal.received";
  EXPECT_EQ(received, 0) << "the finished run got a signal";
}

TEST_F(CapiBatch, StartAsyncRefusesBadBytesAtOnceWithoutCallingBack) {
  echo_workflow();
  int calls = 0;
  sl_start_fn count = [](void* user_data, int, const char*, size_t, const char*, size_t) {
    ++*static_cast<int*>(user_data);
  };
  EXPECT_EQ(sl_engine_start_async(engine_, nullptr, 4, "{}", 2, nullptr, count, &calls), SL_EINVALID);
  EXPECT_EQ(last_message(), "sl_engine_start_async: workflow is NULL but its length is 4");
  EXPECT_EQ(sl_engine_start_async(engine_, "\xff\xfe", 2, "{}", 2, nullptr, count, &calls),
            SL_EINVALID);
  EXPECT_NE(last_message().find("not valid UTF-8"), std::string::npos) << last_message();
  EXPECT_EQ(sl_engine_start_async(engine_, "echo", 4, "{}", 0, nullptr, count, &calls), SL_EINVALID);
  EXPECT_TRUE(starts_with(last_message(), "sl_engine_start_async: input_json is not valid JSON: "))
      << last_message();
  EXPECT_EQ(sl_engine_start_async(engine_, "echo", 4, nullptr, 0, nullptr, count, &calls), SL_EINVALID);
  EXPECT_EQ(last_message(), "sl_engine_start_async: input_json is NULL");
  std::string deep = nested(40);
  EXPECT_EQ(sl_engine_start_async(engine_, "echo", 4, deep.data(), deep.size(), nullptr, count, &calls),
            SL_EINVALID);
  EXPECT_EQ(last_message(),
            "run input is nested deeper than the JSON depth limit of 32 levels (max_json_depth)");
  sl_start_options bad_key = SL_START_OPTIONS_INIT;
  bad_key.idempotency_key = "k\x01";
  bad_key.idempotency_key_len = 2;
  EXPECT_EQ(sl_engine_start_async(engine_, "echo", 4, "{}", 2, &bad_key, count, &calls), SL_EINVALID);
  EXPECT_EQ(last_message(), "idempotency key contains a control character");
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(calls, 0) << "a refused start called back";
}
