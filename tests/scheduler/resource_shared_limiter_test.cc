// ResourceLimiter in shared mode (share()) over a fake store: a database that
// cannot be reached admits nothing (waiters stay queued and pass once it
// answers), and releases and pauses reach the store, batched, even when its
// first write failed.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <vector>

#include "scheduler/resource_limiter.h"
#include "store/shared_resources.h"
#include "support/test_support.h"

using namespace storyloom;
using namespace storyloom::detail;
using namespace storyloom::testing;
using namespace std::chrono_literals;

namespace {

// Admits everything while up; throws Error(store) while down. Records what it was told.
class FakeSharedResources : public store::SharedResources {
 public:
  std::atomic<bool> down{false};

  store::SharedAdmission admit(const std::string&, const std::string&, const ResourceLimits&,
                               double, int64_t, int64_t) override {
    ++asked;
    if (down) throw Error(ErrorCode::store, "the database is down", ErrorClass::retryable);
    store::SharedAdmission out;
    out.admitted = true;
    return out;
  }
  void apply(const std::string&, const std::vector<store::SharedResourceUpdate>& updates,
             int64_t) override {
    if (down) throw Error(ErrorCode::store, "the database is down", ErrorClass::retryable);
    std::lock_guard lock(mutex);
    for (const auto& u : updates) {
      released += u.released;
      paused_until = std::max(paused_until, u.pause_until_ms);
    }
  }
  std::vector<store::SharedResourceRow> list(int64_t, int64_t) override { return {}; }
  void publish_workflow_limits(const store::WorkflowLimitsRow&, int64_t) override {}
  std::vector<store::KeyLoadRow> busiest_keys(size_t) override { return {}; }
  std::vector<store::ThrottleWindowRow> throttle_windows(int64_t, size_t) override { return {}; }

  std::atomic<int> asked{0};
  std::mutex mutex;
  int64_t released = 0;
  int64_t paused_until = 0;
};

TEST(SharedResourceLimiter, NothingPassesWhileTheStoreIsDownAndWaitersPassOnceItAnswers) {
  auto store = std::make_shared<FakeSharedResources>();
  store->down = true;
  ResourceLimiter limiter(std::make_shared<ManualClock>(), 5ms);
  limiter.configure("api", ResourceLimits{});
  limiter.share(store, "e1", 10s);
  std::atomic<bool> granted{false};
  ResourcePermit held;
  limiter.acquire("api", 0, [&](ResourcePermit p, const Error* e) {
    ASSERT_EQ(e, nullptr);
    held = std::move(p);
    granted = true;
  });
  ASSERT_TRUE(eventually([&] { return store->asked >= 1; }));
  std::this_thread::sleep_for(200ms);
  EXPECT_FALSE(granted) << "admitted while the store could not be asked";
  EXPECT_EQ(limiter.status("api").waiting, 1u);
  store->down = false;  // the limiter asks again within about a second
  ASSERT_TRUE(eventually([&] { return granted.load(); }, 5s));
  EXPECT_EQ(limiter.status("api").in_flight, 1);
}

TEST(SharedResourceLimiter, ReleasesAndPausesReachTheStoreAfterItComesBack) {
  auto store = std::make_shared<FakeSharedResources>();
  ResourceLimiter limiter(std::make_shared<ManualClock>(), 5ms);
  limiter.configure("api", ResourceLimits{});
  limiter.share(store, "e1", 10s);
  std::atomic<bool> granted{false};
  ResourcePermit held;
  limiter.acquire("api", 0, [&](ResourcePermit p, const Error*) {
    held = std::move(p);
    granted = true;
  });
  ASSERT_TRUE(eventually([&] { return granted.load(); }));
  store->down = true;
  held.release();
  limiter.pause_until("api", 123'456);
  std::this_thread::sleep_for(100ms);
  {
    std::lock_guard lock(store->mutex);
    EXPECT_EQ(store->released, 0);
  }
  store->down = false;
  ASSERT_TRUE(eventually(
      [&] {
        std::lock_guard lock(store->mutex);
        return store->released == 1 && store->paused_until == 123'456;
      },
      5s));
}

}  // namespace

// A shared resource's request waits for the store's answer, but that alone is
// not "held back": on_held (which the llm step turns into llm.waiting) runs
// only for a request the limits, a refusal or an unreachable store hold back.
TEST(SharedResourceLimiter, OnHeldRunsOnlyForRequestsHeldBackNotForTheStoresAnswer) {
  auto store = std::make_shared<FakeSharedResources>();
  ResourceLimiter limiter(std::make_shared<ManualClock>(), 5ms);
  ResourceLimits one_at_a_time;
  one_at_a_time.max_in_flight = 1;
  limiter.configure("api", one_at_a_time);
  limiter.share(store, "e1", 10s);

  std::atomic<int> held{0};
  std::atomic<int> granted{0};
  ResourcePermit first;
  limiter.acquire(
      "api", 0,
      [&](ResourcePermit p, const Error* e) {
        ASSERT_EQ(e, nullptr);
        first = std::move(p);
        ++granted;
      },
      [&] { ++held; });
  ASSERT_TRUE(eventually([&] { return granted.load() == 1; }));
  EXPECT_EQ(held.load(), 0) << "admitted by the store, yet reported as held back";

  // The cap is taken: the second request is held back at once, then admitted
  // once the first is released.
  std::atomic<bool> second_granted{false};
  ResourcePermit second;
  limiter.acquire(
      "api", 0,
      [&](ResourcePermit p, const Error* e) {
        ASSERT_EQ(e, nullptr);
        second = std::move(p);
        second_granted = true;
      },
      [&] { ++held; });
  EXPECT_EQ(held.load(), 1);
  first.release();
  ASSERT_TRUE(eventually([&] { return second_granted.load(); }));
  EXPECT_EQ(held.load(), 1);

  // An unreachable store holds a request back too.
  second.release();
  store->down = true;
  std::atomic<int> held_third{0};
  limiter.acquire("api", 0, [](ResourcePermit, const Error*) {}, [&] { ++held_third; });
  EXPECT_TRUE(eventually([&] { return held_third.load() == 1; }));
  limiter.close();
}
