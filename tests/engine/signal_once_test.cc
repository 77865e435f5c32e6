// signal_once / SignalRequest::once: of several senders of one signal name,
// exactly the first is delivered, even racing; later ones are refused by name.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "support/test_support.h"

namespace storyloom::testing {
namespace {

// `hold`: after the approval the run waits for a "finish" signal, so senders
// racing the first one find it unfinished (not completed) whatever the timing.
std::unique_ptr<Engine> approval_engine(bool hold = false) {
  auto engine = Engine::open(fast_options());
  engine->register_workflow("approve", [hold](Context& ctx, const Json&) -> Json {
    auto reply = ctx.wait_for_signal("approve");
    if (hold) ctx.wait_for_signal("finish");
    return *reply;
  });
  engine->launch();
  return engine;
}

TEST(SignalOnce, OfRacingSendersExactlyOneIsDelivered) {
  auto engine = approval_engine(/*hold=*/true);
  auto run = engine->start("approve", boost::json::object{});
  wait_status(*engine, run.id, RunStatus::waiting);
  std::atomic<int> delivered{0};
  std::atomic<int> refused{0};
  std::vector<std::thread> senders;
  for (int i = 0; i < 8; ++i) {
    senders.emplace_back([&, i] {
      try {
        engine->signal_once(run.id, "approve", boost::json::object{{"by", i}});
        delivered++;
      } catch (const Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::invalid_state);
        EXPECT_EQ(std::string(e.what()),
                  "run '" + run.id +
                      "' has already received signal 'approve'; a signal sent once is "
                      "delivered to the first sender only");
        refused++;
      }
    });
  }
  for (auto& t : senders) t.join();
  EXPECT_EQ(delivered.load(), 1);
  EXPECT_EQ(refused.load(), 7);
  engine->signal(run.id, "finish", Json(nullptr));
  auto done = wait_finished(*engine, run.id);
  ASSERT_EQ(done.status, RunStatus::completed) << boost::json::serialize(done.error);
  // The output is the one delivered payload, and only one approval was stored.
  int received = 0;
  for (auto& e : engine->events(run.id, 0)) {
    if (e.type == "signal.received" && e.data.at("name") == "approve") {
      received++;
      EXPECT_EQ(e.data.at("payload"), done.output);
    }
  }
  EXPECT_EQ(received, 1);
}

TEST(SignalOnce, ASignalAlreadyReadStillCounts) {
  auto engine = Engine::open(fast_options());
  engine->register_workflow("two", [](Context& ctx, const Json&) -> Json {
    ctx.wait_for_signal("approve");
    return *ctx.wait_for_signal("go");
  });
  engine->launch();
  auto run = engine->start("two", boost::json::object{});
  wait_status(*engine, run.id, RunStatus::waiting);
  engine->signal_once(run.id, "approve", boost::json::object{{"first", true}});
  // Read by the wait: the run now waits for "go".
  ASSERT_TRUE(eventually([&] {
    for (auto& s : engine->snapshot(run.id).steps) {
      if (s.name == "approve" && s.status == "completed") return true;
    }
    return false;
  }));
  EXPECT_THROW(engine->signal_once(run.id, "approve", boost::json::object{}), Error);
  // A plain signal is not first-wins; another name is free.
  engine->signal(run.id, "approve", boost::json::object{});
  engine->signal_once(run.id, "go", boost::json::object{{"go", 1}});
  auto done = wait_finished(*engine, run.id);
  EXPECT_EQ(done.output, (boost::json::object{{"go", 1}}));
}

TEST(SignalOnce, SignalManyCarriesOncePerSignal) {
  auto engine = approval_engine();
  auto run = engine->start("approve", boost::json::object{});
  auto results = engine->signal_many({SignalRequest{run.id, "approve", Json(1), true},
                                      SignalRequest{run.id, "approve", Json(2), true},
                                      SignalRequest{run.id, "approve", Json(3), false}});
  ASSERT_EQ(results.size(), 3u);
  EXPECT_FALSE(results[0]);
  ASSERT_TRUE(results[1]);
  EXPECT_EQ(results[1]->code(), ErrorCode::invalid_state);
  EXPECT_FALSE(results[2]);
  EXPECT_EQ(wait_finished(*engine, run.id).output, Json(1));
}

}  // namespace
}  // namespace storyloom::testing
