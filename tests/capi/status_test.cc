// The library as a whole: version, sl_free, status numbers and the
// per-thread last error.
#include <future>
#include <thread>

#include "capi_test_util.h"
#include "storyloom/error.h"

using namespace capi_test;
using storyloom::ErrorClass;
using storyloom::ErrorCode;

namespace {

// A failing call whose message names `run_id`.
int fail_get_run(sl_engine* engine, const std::string& run_id) {
  char* out = nullptr;
  return sl_engine_get_run(&out, nullptr, engine, run_id.data(), run_id.size());
}

}  // namespace

TEST(CapiStatus, CodesAreTheCoreErrorCodes) {
  static_assert(SL_EINVALID == static_cast<int>(ErrorCode::invalid_argument));
  static_assert(SL_ENOTFOUND == static_cast<int>(ErrorCode::not_found));
  static_assert(SL_EINVALIDSTATE == static_cast<int>(ErrorCode::invalid_state));
  static_assert(SL_ETOOLARGE == static_cast<int>(ErrorCode::payload_too_large));
  static_assert(SL_ESTORE == static_cast<int>(ErrorCode::store));
  static_assert(SL_ENOTADB == static_cast<int>(ErrorCode::not_a_database));
  static_assert(SL_ESCHEMATOONEW == static_cast<int>(ErrorCode::schema_too_new));
  static_assert(SL_ENONDETERMINISM == static_cast<int>(ErrorCode::nondeterminism));
  static_assert(SL_ECANCELLED == static_cast<int>(ErrorCode::cancelled));
  static_assert(SL_ESTEPFAILED == static_cast<int>(ErrorCode::step_failed));
  static_assert(SL_ECLOSED == static_cast<int>(ErrorCode::closed));
  static_assert(SL_ETIMEOUT == static_cast<int>(ErrorCode::timeout));
  static_assert(SL_EINTERNAL == static_cast<int>(ErrorCode::internal));
  static_assert(SL_CLASS_RETRYABLE == static_cast<int>(ErrorClass::retryable));
  static_assert(SL_CLASS_FATAL == static_cast<int>(ErrorClass::fatal));
  static_assert(SL_CLASS_RATE_LIMITED == static_cast<int>(ErrorClass::rate_limited));
  SUCCEED();
}

TEST(CapiStatus, VersionIsTheHeaderVersion) {
  EXPECT_STREQ(sl_version(), SL_VERSION_STRING);
  EXPECT_EQ(std::string(SL_VERSION_STRING),
            std::to_string(SL_VERSION_MAJOR) + "." + std::to_string(SL_VERSION_MINOR) + "." +
                std::to_string(SL_VERSION_PATCH));
}

TEST(CapiStatus, FreeAcceptsNull) { sl_free(nullptr); }

TEST(CapiStatus, LastErrorIsClearOnAFreshThread) {
  std::thread([] {
    EXPECT_EQ(sl_last_error_code(), SL_OK);
    EXPECT_EQ(last_message(), "");
    const char* msg = nullptr;
    sl_last_error_message(&msg, nullptr);
    ASSERT_NE(msg, nullptr);
    EXPECT_STREQ(msg, "");
    sl_last_error_message(nullptr, nullptr);  // both out-parameters are optional
  }).join();
}

TEST(CapiStatus, LastErrorCarriesCodeClassAndMessage) {
  EXPECT_EQ(sl_engine_open(nullptr, nullptr), SL_EINVALID);
  EXPECT_EQ(sl_last_error_code(), SL_EINVALID);
  EXPECT_EQ(sl_last_error_class(), SL_CLASS_FATAL);
  EXPECT_EQ(last_message(), "sl_engine_open: out is NULL");
  const char* msg = nullptr;
  sl_last_error_message(&msg, nullptr);
  EXPECT_STREQ(msg, "sl_engine_open: out is NULL");  // also NUL-terminated
}

TEST(CapiStatus, LastErrorSurvivesSuccessfulCalls) {
  EXPECT_EQ(sl_engine_open(nullptr, nullptr), SL_EINVALID);
  char* out = nullptr;
  ASSERT_EQ(sl_sse_heartbeat(&out, nullptr), SL_OK);
  sl_free(out);
  EXPECT_EQ(sl_last_error_code(), SL_EINVALID);
  EXPECT_EQ(last_message(), "sl_engine_open: out is NULL");
}

TEST(CapiStatus, LastErrorIsPerThread) {
  sl_engine* engine = nullptr;
  ASSERT_EQ(sl_engine_open(&engine, nullptr), SL_OK) << last_message();
  std::promise<void> a_failed, b_failed;
  std::thread a([&] {
    EXPECT_EQ(fail_get_run(engine, "run-of-a"), SL_ENOTFOUND);
    a_failed.set_value();
    b_failed.get_future().wait();
    // B's later, different failure did not touch A's last error.
    EXPECT_EQ(sl_last_error_code(), SL_ENOTFOUND);
    EXPECT_EQ(last_message(), "no run with id 'run-of-a'");
  });
  std::thread b([&] {
    a_failed.get_future().wait();
    EXPECT_EQ(sl_last_error_code(), SL_OK);
    EXPECT_EQ(fail_get_run(engine, ""), SL_EINVALID);
    EXPECT_EQ(last_message(), "run id is empty");
    b_failed.set_value();
  });
  a.join();
  b.join();
  sl_engine_close(engine);
}
