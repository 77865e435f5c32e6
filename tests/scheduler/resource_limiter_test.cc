// ResourceLimiter: request buckets, token budgets, in-flight caps, pauses and
// provider headers, FIFO admission, cancel and close, validation, threads.
#include "scheduler/resource_limiter.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <limits>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "support/test_support.h"

using namespace storyloom;
using namespace storyloom::detail;
using namespace storyloom::testing;
using namespace std::chrono_literals;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

ResourceLimits limits(double requests, double burst = 0, int max_in_flight = 0,
                      double tokens_per_minute = 0, std::chrono::milliseconds period = 1s) {
  ResourceLimits l;
  l.requests = requests;
  l.burst = burst;
  l.max_in_flight = max_in_flight;
  l.tokens_per_minute = tokens_per_minute;
  l.period = period;
  return l;
}

ResourceLimits in_flight(int max) { return limits(0, 0, max); }
ResourceLimits token_budget(double per_minute) { return limits(0, 0, 0, per_minute); }

// What the callbacks received, by label, in the order they ran. Thread-safe.
class Grants {
 public:
  ResourceLimiter::Granted to(const std::string& label) {
    return [this, label](ResourcePermit permit, const Error* error) {
      std::lock_guard lock(mutex_);
      ++calls_[label];
      threads_[label] = std::this_thread::get_id();
      if (error) {
        errors_.emplace(label, *error);
      } else {
        order_.push_back(label);
        permits_[label] = std::move(permit);
      }
    };
  }
  bool granted(const std::string& label) {
    std::lock_guard lock(mutex_);
    return permits_.count(label) > 0;
  }
  bool failed(const std::string& label) {
    std::lock_guard lock(mutex_);
    return errors_.count(label) > 0;
  }
  Error error(const std::string& label) {
    std::lock_guard lock(mutex_);
    return errors_.at(label);
  }
  int calls(const std::string& label) {
    std::lock_guard lock(mutex_);
    return calls_[label];
  }
  std::thread::id thread(const std::string& label) {
    std::lock_guard lock(mutex_);
    return threads_[label];
  }
  std::vector<std::string> order() {
    std::lock_guard lock(mutex_);
    return order_;
  }
  ResourcePermit& permit(const std::string& label) {
    std::lock_guard lock(mutex_);
    return permits_.at(label);
  }
  void release(const std::string& label) { permit(label).release(); }

 private:
  std::mutex mutex_;
  std::map<std::string, int> calls_;
  std::map<std::string, std::thread::id> threads_;
  std::map<std::string, ResourcePermit> permits_;
  std::map<std::string, Error> errors_;
  std::vector<std::string> order_;
};

// Grants outlives the limiter: close() in its destructor still calls back.
struct LimiterTest : ::testing::Test {
  Grants grants;
  std::shared_ptr<ManualClock> clock = std::make_shared<ManualClock>();
  ResourceLimiter limiter{clock, 5ms};

  std::shared_ptr<ResourceWait> ask(const std::string& label, double tokens = 0,
                                    const std::string& resource = "r") {
    return limiter.acquire(resource, tokens, grants.to(label));
  }
  void advance(int64_t ms) {
    clock->advance_ms(ms);
    limiter.wake();
  }
  bool admitted_soon(const std::string& label) {
    return eventually([&] { return grants.granted(label); }, 5s);
  }
  // A negative check: the limiter's thread gets several passes to (wrongly) admit.
  bool still_waiting(const std::string& label) {
    limiter.wake();
    return !eventually([&] { return grants.calls(label) > 0; }, 25ms);
  }
};

using ResourceLimiterTest = LimiterTest;

}  // namespace

TEST_F(ResourceLimiterTest, BurstAdmitsAtOnceThenOnePerPeriod) {
  limiter.configure("r", limits(1, 3));
  for (const char* label : {"a", "b", "c"}) {
    ask(label);
    EXPECT_TRUE(grants.granted(label)) << label << " before acquire returned";
    EXPECT_EQ(grants.thread(label), std::this_thread::get_id());
  }
  ask("d");
  EXPECT_EQ(limiter.status("r").waiting, 1u);
  advance(999);
  EXPECT_TRUE(still_waiting("d"));
  advance(1);
  EXPECT_TRUE(admitted_soon("d"));
  EXPECT_NE(grants.thread("d"), std::this_thread::get_id());  // the limiter's thread
}

TEST_F(ResourceLimiterTest, RefillIsContinuous) {
  limiter.configure("r", limits(1, 1));
  ask("a");
  ask("b");
  advance(500);
  EXPECT_NEAR(limiter.status("r").available_requests, 0.5, 1e-9);
  EXPECT_TRUE(still_waiting("b"));
  advance(500);
  EXPECT_TRUE(admitted_soon("b"));
  EXPECT_NEAR(limiter.status("r").available_requests, 0, 1e-9);
}

TEST_F(ResourceLimiterTest, MaxInFlightAdmitsInOrderAsPermitsAreReleased) {
  limiter.configure("r", in_flight(2));
  std::atomic<int> alive{0};
  std::atomic<int> peak{0};
  std::mutex mutex;
  std::vector<std::string> order;
  std::map<std::string, ResourcePermit> held;
  auto track = [&](const std::string& label) {
    return [&, label](ResourcePermit permit, const Error* error) {
      ASSERT_EQ(error, nullptr);
      int now = ++alive;
      peak = std::max(peak.load(), now);
      std::lock_guard lock(mutex);
      order.push_back(label);
      held[label] = std::move(permit);
    };
  };
  auto release = [&](const std::string& label) {
    ResourcePermit permit;
    {
      std::lock_guard lock(mutex);
      permit = std::move(held.at(label));
    }
    --alive;
    permit.release();
  };
  auto admitted = [&](size_t n) {
    return eventually(
        [&] {
          std::lock_guard lock(mutex);
          return order.size() == n;
        },
        5s);
  };
  for (const char* label : {"a", "b", "c", "d", "e"}) limiter.acquire("r", 0, track(label));
  EXPECT_TRUE(admitted(2));
  EXPECT_EQ(limiter.status("r").waiting, 3u);
  release("a");
  EXPECT_TRUE(admitted(3));
  release("c");
  EXPECT_TRUE(admitted(4));
  release("b");
  EXPECT_TRUE(admitted(5));
  EXPECT_LE(peak.load(), 2);
  EXPECT_EQ(limiter.status("r").in_flight, 2);
  std::lock_guard lock(mutex);
  EXPECT_EQ(order, (std::vector<std::string>{"a", "b", "c", "d", "e"}));
}

TEST_F(ResourceLimiterTest, BigTokenWaiterAtTheHeadBlocksSmallerOnes) {
  limiter.configure("r", token_budget(1000));  // 1000 tokens a minute: 1 per 60 ms
  ask("a", 800);
  ask("big", 500);
  ask("small", 100);  // would fit in the 200 left, but must not pass "big"
  EXPECT_TRUE(still_waiting("small"));
  advance(17'999);  // 299.98 tokens refilled: 499.98 < 500
  EXPECT_TRUE(still_waiting("big"));
  advance(1);
  EXPECT_TRUE(admitted_soon("big"));
  EXPECT_TRUE(still_waiting("small"));
  advance(6'000);
  EXPECT_TRUE(admitted_soon("small"));
  EXPECT_EQ(grants.order(), (std::vector<std::string>{"a", "big", "small"}));
}

TEST_F(ResourceLimiterTest, ActualTokensBelowTheEstimateReturnTheRest) {
  limiter.configure("r", token_budget(600));
  ask("a", 600);
  ask("b", 100);
  EXPECT_TRUE(still_waiting("b"));
  grants.permit("a").set_actual_tokens(200);  // 400 come back; no clock movement needed
  EXPECT_TRUE(admitted_soon("b"));
  EXPECT_NEAR(limiter.status("r").available_tokens, 300, 1e-9);
}

TEST_F(ResourceLimiterTest, ActualTokensAboveTheEstimateDelayTheNextWaiter) {
  limiter.configure("r", token_budget(600));  // 10 tokens a second
  ask("a", 600);
  grants.permit("a").set_actual_tokens(800);  // the budget goes to -200
  EXPECT_NEAR(limiter.status("r").available_tokens, -200, 1e-9);
  ask("b", 100);
  advance(10'000);  // would have been enough without the extra 200
  EXPECT_TRUE(still_waiting("b"));
  advance(19'900);
  EXPECT_TRUE(still_waiting("b"));
  advance(100);  // -200 + 300 = 100
  EXPECT_TRUE(admitted_soon("b"));
}

TEST_F(ResourceLimiterTest, RequestLargerThanTheBudgetWaitsForAFullBudget) {
  limiter.configure("r", token_budget(1000));
  ask("a", 10);
  ask("huge", 1500);
  advance(599);  // 999.99 tokens: not full
  EXPECT_TRUE(still_waiting("huge"));
  advance(1);
  EXPECT_TRUE(admitted_soon("huge"));
  EXPECT_NEAR(limiter.status("r").available_tokens, -500, 1e-9);  // its whole estimate
}

TEST_F(ResourceLimiterTest, PauseHoldsEverythingBackUntilItsTime) {
  limiter.configure("r", limits(10));
  int64_t start = clock->now_ms();
  limiter.pause_until("r", start + 1000);
  ask("a");
  ask("b");
  EXPECT_FALSE(grants.granted("a"));  // a full bucket does not help
  advance(999);
  EXPECT_TRUE(still_waiting("a"));
  advance(1);
  EXPECT_TRUE(admitted_soon("a"));
  EXPECT_TRUE(admitted_soon("b"));
  EXPECT_EQ(limiter.status("r").paused_until_ms, 0);
}

TEST_F(ResourceLimiterTest, LaterPauseExtendsEarlierOneDoesNotShorten) {
  limiter.configure("r", limits(10));
  int64_t start = clock->now_ms();
  limiter.pause_until("r", start + 1000);
  limiter.pause_until("r", start + 2000);
  limiter.pause_until("r", start + 500);
  EXPECT_EQ(limiter.status("r").paused_until_ms, start + 2000);
  ask("a");
  advance(1000);
  EXPECT_TRUE(still_waiting("a"));
  advance(999);
  EXPECT_TRUE(still_waiting("a"));
  advance(1);
  EXPECT_TRUE(admitted_soon("a"));
}

TEST_F(ResourceLimiterTest, ProviderWithNoRequestsLeftPausesUntilTheReset) {
  limiter.configure("r", limits(10));
  int64_t reset = clock->now_ms() + 5000;
  limiter.observe_provider_limits("r", 0.0, reset, std::nullopt, 0);
  EXPECT_EQ(limiter.status("r").paused_until_ms, reset);
  EXPECT_EQ(limiter.status("r").available_requests, 0);
  ask("a");
  advance(4999);
  EXPECT_TRUE(still_waiting("a"));
  advance(1);
  EXPECT_TRUE(admitted_soon("a"));
}

TEST_F(ResourceLimiterTest, ProviderWithNoTokensLeftPausesUntilTheTokenReset) {
  limiter.configure("r", token_budget(60'000));
  int64_t reset = clock->now_ms() + 3000;
  limiter.observe_provider_limits("r", 50.0, clock->now_ms() + 60'000, 0.0, reset);
  EXPECT_EQ(limiter.status("r").paused_until_ms, reset);  // 50 requests left: no request pause
  ask("a", 1);
  advance(2999);
  EXPECT_TRUE(still_waiting("a"));
  advance(1);
  EXPECT_TRUE(admitted_soon("a"));
}

TEST_F(ResourceLimiterTest, ProviderCountsLowerTheBucketsButNeverRaiseThem) {
  limiter.configure("r", limits(10, 10, 0, 1000));
  limiter.observe_provider_limits("r", 2.0, 0, 300.0, 0);
  EXPECT_EQ(limiter.status("r").available_requests, 2);
  EXPECT_EQ(limiter.status("r").available_tokens, 300);
  limiter.observe_provider_limits("r", 50.0, 0, 5000.0, 0);
  EXPECT_EQ(limiter.status("r").available_requests, 2);
  EXPECT_EQ(limiter.status("r").available_tokens, 300);
  EXPECT_EQ(limiter.status("r").paused_until_ms, 0);
  ask("a");
  ask("b");
  ask("c");
  EXPECT_TRUE(grants.granted("b"));
  EXPECT_TRUE(still_waiting("c"));
}

TEST_F(ResourceLimiterTest, ProviderCountMustBeFiniteAndNotNegative) {
  Error e = error_of([&] { limiter.observe_provider_limits("r", -1.0, 0, std::nullopt, 0); });
  EXPECT_EQ(e.code(), ErrorCode::invalid_argument);
  EXPECT_STREQ(e.what(), "resource 'r': requests_left must be finite and at least 0, got -1");
  e = error_of([&] { limiter.observe_provider_limits("r", std::nullopt, 0, NAN, 0); });
  EXPECT_STREQ(e.what(), "resource 'r': tokens_left must be finite and at least 0, got nan");
}

TEST_F(ResourceLimiterTest, PauseOfAnUnconfiguredNameHoldsItBack) {
  limiter.pause_until("img", clock->now_ms() + 100);
  EXPECT_EQ(limiter.names(), std::vector<std::string>{"img"});
  ask("a", 0, "img");
  EXPECT_TRUE(still_waiting("a"));
  advance(100);
  EXPECT_TRUE(admitted_soon("a"));
}

TEST_F(ResourceLimiterTest, CancelEndsAQueuedWaiterOnceAndTheNextIsAdmitted) {
  limiter.configure("llm:openai", in_flight(1));
  auto a = ask("a", 0, "llm:openai");
  auto b = ask("b", 0, "llm:openai");
  ask("c", 0, "llm:openai");
  b->cancel();
  b->cancel();
  EXPECT_EQ(grants.calls("b"), 1);
  Error e = grants.error("b");
  EXPECT_EQ(e.code(), ErrorCode::cancelled);
  EXPECT_EQ(e.error_class(), ErrorClass::fatal);
  EXPECT_STREQ(e.what(), "resource 'llm:openai': the acquisition was cancelled while waiting");
  a->cancel();  // already admitted: nothing happens
  EXPECT_EQ(grants.calls("a"), 1);
  EXPECT_TRUE(grants.permit("a"));
  EXPECT_EQ(limiter.status("llm:openai").waiting, 1u);
  grants.release("a");
  EXPECT_TRUE(admitted_soon("c"));
  EXPECT_EQ(grants.calls("b"), 1);
}

TEST_F(ResourceLimiterTest, CancelOfTheHeadLetsASmallerWaiterThrough) {
  limiter.configure("r", token_budget(1000));
  ask("a", 900);
  auto big = ask("big", 500);
  ask("small", 100);
  EXPECT_TRUE(still_waiting("small"));
  big->cancel();
  EXPECT_TRUE(admitted_soon("small"));
}

TEST_F(ResourceLimiterTest, CloseFailsWaitersAndLaterAcquisitions) {
  limiter.configure("r", in_flight(1));
  ask("a");
  ask("b");
  ask("c");
  limiter.close();
  for (const char* label : {"b", "c"}) {
    ASSERT_TRUE(grants.failed(label)) << label;
    EXPECT_EQ(grants.error(label).code(), ErrorCode::closed);
    EXPECT_EQ(grants.error(label).error_class(), ErrorClass::fatal);
    EXPECT_STREQ(grants.error(label).what(), "resource 'r': the resource limiter is closed");
  }
  ask("d");
  ask("e", 0, "never-configured");
  EXPECT_TRUE(grants.failed("d"));  // at once, before acquire returned
  EXPECT_TRUE(grants.failed("e"));
  grants.release("a");  // still valid after close
  EXPECT_EQ(limiter.status("r").in_flight, 0);
  limiter.close();
  EXPECT_EQ(grants.calls("b"), 1);
}

TEST(ResourceLimiter, PermitOutlivingTheLimiterReleasesNothing) {
  auto clock = std::make_shared<ManualClock>();
  ResourcePermit kept;
  std::shared_ptr<ResourceWait> wait;
  {
    ResourceLimiter limiter(clock, 5ms);
    limiter.configure("r", limits(1, 1, 1, 100));
    limiter.acquire("r", 10, [&](ResourcePermit p, const Error*) { kept = std::move(p); });
    wait = limiter.acquire("r", 10, [](ResourcePermit, const Error*) {});
    EXPECT_TRUE(kept);
  }
  EXPECT_FALSE(kept);
  EXPECT_EQ(kept.resource(), "r");
  kept.set_actual_tokens(50);
  kept.release();
  wait->cancel();
  ResourcePermit moved = std::move(kept);
}

TEST_F(ResourceLimiterTest, PermitReleasesItsSlotOnceWhateverIsMovedOrReleased) {
  limiter.configure("r", in_flight(2));
  ask("a");
  ask("b");
  {
    ResourcePermit moved = std::move(grants.permit("a"));
    EXPECT_FALSE(grants.permit("a"));
    EXPECT_TRUE(moved);
    grants.release("a");  // moved from: releases nothing
    EXPECT_EQ(limiter.status("r").in_flight, 2);
    moved.release();
    moved.release();
    EXPECT_FALSE(moved);
    EXPECT_EQ(limiter.status("r").in_flight, 1);
  }
  EXPECT_EQ(limiter.status("r").in_flight, 1);
  grants.permit("b") = ResourcePermit();  // assignment releases what it held
  EXPECT_EQ(limiter.status("r").in_flight, 0);
}

TEST_F(ResourceLimiterTest, UnconfiguredNamesAreUnlimited) {
  for (int i = 0; i < 100; ++i) ask("a" + std::to_string(i), 1e9, "image-api");
  EXPECT_TRUE(grants.granted("a99"));
  EXPECT_TRUE(grants.permit("a0"));
  ResourceStatus s = limiter.status("image-api");
  EXPECT_EQ(s.name, "image-api");
  EXPECT_EQ(s.available_requests, kInf);
  EXPECT_EQ(s.available_tokens, kInf);
  EXPECT_EQ(s.in_flight, 0);
  EXPECT_EQ(s.waiting, 0u);
  EXPECT_TRUE(limiter.names().empty());
  // Configured later: the permits taken before hold no slot of it.
  limiter.configure("image-api", in_flight(1));
  grants.release("a0");
  EXPECT_EQ(limiter.status("image-api").in_flight, 0);
  ask("b", 0, "image-api");
  EXPECT_TRUE(grants.granted("b"));
}

TEST_F(ResourceLimiterTest, StatusReportsCurrentValues) {
  limiter.configure("r", limits(2, 4, 3, 1200));
  limiter.configure("a", limits(1));
  EXPECT_EQ(limiter.names(), (std::vector<std::string>{"a", "r"}));
  ResourceStatus s = limiter.status("r");
  EXPECT_EQ(s.name, "r");
  EXPECT_EQ(s.available_requests, 4);
  EXPECT_EQ(s.available_tokens, 1200);
  EXPECT_EQ(s.in_flight, 0);
  EXPECT_EQ(s.waiting, 0u);
  EXPECT_EQ(s.paused_until_ms, 0);
  ask("x", 100);
  ask("y", 100);
  ask("z", 100);
  ask("w", 100);  // in-flight cap of 3
  limiter.pause_until("r", clock->now_ms() + 250);
  s = limiter.status("r");
  EXPECT_EQ(s.available_requests, 1);
  EXPECT_EQ(s.available_tokens, 900);
  EXPECT_EQ(s.in_flight, 3);
  EXPECT_EQ(s.waiting, 1u);
  EXPECT_EQ(s.paused_until_ms, clock->now_ms() + 250);
  clock->advance_ms(500);  // 1 request and 10 tokens refilled
  s = limiter.status("r");
  EXPECT_NEAR(s.available_requests, 2, 1e-9);
  EXPECT_NEAR(s.available_tokens, 910, 1e-9);
  EXPECT_EQ(s.paused_until_ms, 0);
  EXPECT_EQ(limiter.status("a").available_tokens, kInf);
}

TEST_F(ResourceLimiterTest, ReconfiguringKeepsSlotsWaitersAndWhatTheBucketHolds) {
  limiter.configure("r", limits(1, 2, 1));
  ask("a");
  ask("b");
  EXPECT_EQ(limiter.status("r").available_requests, 1);
  limiter.configure("r", limits(1, 5, 2));  // a larger bucket is not refilled for free
  EXPECT_TRUE(admitted_soon("b"));
  ResourceStatus s = limiter.status("r");
  EXPECT_EQ(s.in_flight, 2);
  EXPECT_NEAR(s.available_requests, 0, 1e-9);
  limiter.configure("r", limits(0, 0, 2, 500));  // no request limit, a new token budget: full
  s = limiter.status("r");
  EXPECT_EQ(s.available_requests, kInf);
  EXPECT_EQ(s.available_tokens, 500);
  EXPECT_EQ(s.in_flight, 2);
}

TEST_F(ResourceLimiterTest, FractionalRateMakesABucketOfOne) {
  limiter.configure("r", limits(0.5));  // one every 2 s
  ask("a");
  EXPECT_TRUE(grants.granted("a"));
  ask("b");
  advance(1999);
  EXPECT_TRUE(still_waiting("b"));
  advance(1);
  EXPECT_TRUE(admitted_soon("b"));
}

TEST_F(ResourceLimiterTest, AcquireRefusesABadTokenEstimate) {
  limiter.configure("r", token_budget(100));
  for (double bad : {-1.0, static_cast<double>(NAN), kInf}) {
    Error e = error_of([&] { ask("a", bad); });
    EXPECT_EQ(e.code(), ErrorCode::invalid_argument);
    EXPECT_NE(std::string(e.what()).find(
                  "resource 'r': tokens estimate must be finite and at least 0, got "),
              std::string::npos)
        << e.what();
  }
  EXPECT_STREQ(error_of([&] { ask("a", -2.5); }).what(),
               "resource 'r': tokens estimate must be finite and at least 0, got -2.5");
  EXPECT_EQ(grants.calls("a"), 0);
  EXPECT_EQ(limiter.status("r").waiting, 0u);
  EXPECT_STREQ(error_of([&] { limiter.acquire("r", 1, nullptr); }).what(),
               "resource 'r': acquire needs a granted callback");
  ask("ok", 1);
  EXPECT_STREQ(error_of([&] { grants.permit("ok").set_actual_tokens(-3); }).what(),
               "resource 'r': actual tokens must be finite and at least 0, got -3");
}

TEST(ResourceLimits, ValidateNamesTheResourceTheFieldAndTheValue) {
  auto message = [](const std::string& name, const ResourceLimits& l) {
    Error e = error_of([&] { validate(name, l); });
    EXPECT_EQ(e.code(), ErrorCode::invalid_argument);
    EXPECT_EQ(e.error_class(), ErrorClass::fatal);
    return std::string(e.what());
  };
  ResourceLimits ok;
  EXPECT_NO_THROW(validate("llm:openai", ok));  // every field zero: unlimited
  EXPECT_NO_THROW(validate("llm:openai", limits(3, 1, 2, 1000, 1ms)));
  EXPECT_NO_THROW(validate(std::string(128, 'n'), ok));

  EXPECT_EQ(message("", ok), "resource '': name must be 1 to 128 bytes, got 0");
  EXPECT_EQ(message(std::string(129, 'n'), ok),
            "resource '" + std::string(64, 'n') + "...': name must be 1 to 128 bytes, got 129");
  EXPECT_EQ(message("llm\nopenai", ok),
            "resource 'llm\\x0aopenai': name must not contain control characters, got byte 0x0a "
            "at offset 3");
  EXPECT_EQ(
      message("a\x7f", ok),
      "resource 'a\\x7f': name must not contain control characters, got byte 0x7f at offset 1");

  ResourceLimits l;
  l.max_in_flight = -1;
  EXPECT_EQ(message("llm:openai", l),
            "resource 'llm:openai': max_in_flight must be at least 0, got -1");
  EXPECT_EQ(message("llm:openai", limits(-1)),
            "resource 'llm:openai': requests must be finite and at least 0, got -1");
  EXPECT_EQ(message("llm:openai", limits(NAN)),
            "resource 'llm:openai': requests must be finite and at least 0, got nan");
  EXPECT_EQ(message("llm:openai", limits(kInf)),
            "resource 'llm:openai': requests must be finite and at least 0, got inf");
  EXPECT_EQ(message("llm:openai", limits(1, 0, 0, 0, 0ms)),
            "resource 'llm:openai': period must be at least 1 ms, got 0 ms");
  EXPECT_EQ(message("llm:openai", limits(1, 0, 0, 0, -5ms)),
            "resource 'llm:openai': period must be at least 1 ms, got -5 ms");
  EXPECT_EQ(message("llm:openai", limits(1, 0.5)),
            "resource 'llm:openai': burst must be 0 (the size of requests) or at least 1, got 0.5");
  EXPECT_EQ(message("llm:openai", limits(1, -2)),
            "resource 'llm:openai': burst must be finite and at least 0, got -2");
  EXPECT_EQ(message("llm:openai", limits(0, 0, 0, -100)),
            "resource 'llm:openai': tokens_per_minute must be finite and at least 0, got -100");
  EXPECT_EQ(message("llm:openai", limits(0, 0, 0, -kInf)),
            "resource 'llm:openai': tokens_per_minute must be finite and at least 0, got -inf");
}

TEST(ResourceLimiter, ConfigureValidatesAndTheConstructorChecksItsArguments) {
  ResourceLimiter limiter(std::make_shared<ManualClock>());
  EXPECT_STREQ(error_of([&] { limiter.configure("r", limits(-1)); }).what(),
               "resource 'r': requests must be finite and at least 0, got -1");
  EXPECT_TRUE(limiter.names().empty());
  EXPECT_EQ(error_of([] { ResourceLimiter l(nullptr); }).code(), ErrorCode::invalid_argument);
  EXPECT_STREQ(error_of([] { ResourceLimiter l(std::make_shared<ManualClock>(), 0ms); }).what(),
               "resource limiter recheck_interval must be at least 1 ms, got 0 ms");
}

TEST_F(ResourceLimiterTest, CallbacksMayCallTheLimiter) {
  limiter.configure("r", in_flight(1));
  // On the calling thread, inside acquire().
  limiter.acquire("r", 0, [&](ResourcePermit permit, const Error*) {
    EXPECT_EQ(limiter.status("r").in_flight, 1);
    ask("nested-at-once", 0, "other");
    ask("nested-queued");
    permit.release();  // lets "nested-queued" through, on the limiter's thread
  });
  EXPECT_TRUE(grants.granted("nested-at-once"));
  EXPECT_TRUE(admitted_soon("nested-queued"));
  // On the limiter's thread.
  std::atomic<bool> done{false};
  limiter.acquire("r", 0, [&](ResourcePermit, const Error* error) {
    EXPECT_EQ(error, nullptr);
    EXPECT_EQ(limiter.status("r").in_flight, 1);
    limiter.configure("r", in_flight(2));
    ask("from-thread");
    done = true;
  });
  grants.release("nested-queued");
  EXPECT_TRUE(eventually([&] { return done.load(); }, 5s));
  EXPECT_TRUE(admitted_soon("from-thread"));
}

TEST_F(ResourceLimiterTest, CloseFromACallbackOnTheLimitersThread) {
  limiter.configure("r", in_flight(1));
  ask("a");
  limiter.acquire("r", 0, [&](ResourcePermit, const Error*) { limiter.close(); });
  ask("c");
  grants.release("a");
  EXPECT_TRUE(eventually([&] { return grants.failed("c"); }, 5s));
  EXPECT_EQ(grants.error("c").code(), ErrorCode::closed);
}

TEST(ResourceLimiter, StressNeverExceedsTheCapAndCallsBackOnce) {
  constexpr int kThreads = 8;
  constexpr int kEach = 200;
  constexpr int kTotal = kThreads * kEach;
  auto clock = std::make_shared<ManualClock>();
  std::vector<std::atomic<int>> calls(kTotal);
  std::atomic<int> alive{0};
  std::atomic<int> peak{0};
  std::atomic<int> finished{0};
  std::atomic<int> cancelled{0};
  std::mutex held_mutex;
  std::vector<ResourcePermit> held;
  ResourceLimiter limiter(clock, 5ms);
  limiter.configure("r", in_flight(3));

  auto release_held = [&] {
    std::vector<ResourcePermit> taken;
    {
      std::lock_guard lock(held_mutex);
      taken.swap(held);
    }
    for (auto& p : taken) {
      --alive;
      p.release();
    }
  };
  auto on_granted = [&](int k) {
    return [&, k](ResourcePermit permit, const Error* error) {
      ++calls[k];
      if (error) {
        EXPECT_EQ(error->code(), ErrorCode::cancelled);
        ++cancelled;
      } else {
        int now = ++alive;
        for (int p = peak.load(); now > p && !peak.compare_exchange_weak(p, now);) {
        }
        if (k % 2 == 0) {
          --alive;
          permit.release();
        } else {
          std::lock_guard lock(held_mutex);
          held.push_back(std::move(permit));
        }
      }
      ++finished;
    };
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        int k = t * kEach + i;
        auto wait = limiter.acquire("r", 0, on_granted(k));
        if (k % 7 == 0) wait->cancel();
        if (i % 3 == 0) release_held();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_TRUE(eventually(
      [&] {
        release_held();
        return finished.load() == kTotal;
      },
      10s));
  release_held();
  EXPECT_LE(peak.load(), 3);
  EXPECT_GE(peak.load(), 1);
  for (int k = 0; k < kTotal; ++k) ASSERT_EQ(calls[k].load(), 1) << "acquisition " << k;
  ResourceStatus s = limiter.status("r");
  EXPECT_EQ(s.in_flight, 0);
  EXPECT_EQ(s.waiting, 0u);
}
