// A step's own retry policy as JSON (the C ABI's and the bindings' form).
#include <gtest/gtest.h>

#include "storyloom/retry.h"
#include "support/test_support.h"

namespace storyloom::testing {
namespace {

TEST(RetryPolicyFromJson, NullIsNoPolicyAndFalseIsOneAttempt) {
  EXPECT_FALSE(retry_policy_from_json(nullptr).has_value());
  auto off = retry_policy_from_json(false);
  ASSERT_TRUE(off.has_value());
  EXPECT_EQ(off->max_attempts, 1);
}

TEST(RetryPolicyFromJson, FieldsReplaceTheDefaults) {
  auto p = retry_policy_from_json(boost::json::parse(
      R"({"max_attempts": 4, "initial_backoff_ms": 10, "multiplier": 3, "jitter": false, "timeout_ms": 500})"));
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->max_attempts, 4);
  EXPECT_EQ(p->initial_backoff.count(), 10);
  EXPECT_EQ(p->multiplier, 3.0);
  EXPECT_EQ(p->max_backoff.count(), 60000);
  EXPECT_FALSE(p->jitter);
  EXPECT_EQ(p->timeout.count(), 500);
  // An object with nothing in it is a policy too: RetryPolicy{}, one attempt.
  EXPECT_EQ(retry_policy_from_json(boost::json::object{})->max_attempts, 1);
}

TEST(RetryPolicyFromJson, BadPoliciesNameTheField) {
  auto message = [](const char* text) {
    return std::string(error_of([&] { retry_policy_from_json(boost::json::parse(text)); }).what());
  };
  EXPECT_NE(message(R"({"max_attempt": 3})").find("unknown field 'max_attempt'"), std::string::npos);
  EXPECT_NE(message(R"({"max_attempts": 0})").find("max_attempts must be 1 to 1000000, got 0"),
            std::string::npos);
  EXPECT_NE(message(R"({"max_attempts": "3"})").find("'max_attempts' must be an integer"),
            std::string::npos);
  EXPECT_NE(message(R"({"jitter": 1})").find("'jitter' must be true or false"), std::string::npos);
  EXPECT_NE(message("true").find("true is not a policy"), std::string::npos);
  EXPECT_NE(message("3").find("must be null, false or an object"), std::string::npos);
  EXPECT_NE(message(R"({"initial_backoff_ms": -5})").find("initial_backoff must not be negative"),
            std::string::npos);
}

}  // namespace
}  // namespace storyloom::testing
