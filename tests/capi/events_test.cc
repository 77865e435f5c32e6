// sl_engine_subscribe / sl_subscription_close and the SSE wire format.
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>

#include "capi_test_util.h"

using namespace capi_test;

namespace {

// An sl_event copied out of the callback (its pointers die with the call).
struct EventCopy {
  int64_t id;
  int kind;
  std::string run_id;
  std::string type;
  std::string data;
  int64_t created_at_ms;
  std::thread::id thread;
};

// Collects the events of one subscription; the callback is its user_data.
class Collector {
 public:
  static void on_event(void* user_data, const sl_event* e) {
    auto* self = static_cast<Collector*>(user_data);
    {
      std::lock_guard lock(self->mutex_);
      self->events_.push_back(EventCopy{e->id, e->kind, std::string(e->run_id, e->run_id_len),
                                        std::string(e->type, e->type_len),
                                        std::string(e->data_json, e->data_len), e->created_at_ms,
                                        std::this_thread::get_id()});
      // The strings are NUL-terminated too.
      EXPECT_EQ(e->type[e->type_len], '\0');
      EXPECT_EQ(e->data_json[e->data_len], '\0');
    }
    self->changed_.notify_all();
  }

  // Waits until `count` events arrived or one of type `type`; returns all so far.
  std::vector<EventCopy> wait_for(size_t count, const std::string& type = "",
                                  std::chrono::milliseconds limit = 5s) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, limit, [&] {
      if (events_.size() >= count) return true;
      for (const auto& e : events_) {
        if (!type.empty() && e.type == type) return true;
      }
      return false;
    });
    return events_;
  }

  size_t size() {
    std::lock_guard lock(mutex_);
    return events_.size();
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<EventCopy> events_;
};

std::string id_of(const Json& run) { return std::string(run.at("id").as_string()); }

std::string sse_of(const EventCopy& e) {
  sl_event view{};
  view.id = e.id;
  view.kind = e.kind;
  view.run_id = e.run_id.c_str();
  view.run_id_len = e.run_id.size();
  view.type = e.type.c_str();
  view.type_len = e.type.size();
  view.data_json = e.data.c_str();
  view.data_len = e.data.size();
  view.created_at_ms = e.created_at_ms;
  char* out = nullptr;
  EXPECT_EQ(sl_event_to_sse(&out, nullptr, &view), SL_OK) << last_message();
  return take(out);
}

sl_event make_event(int64_t id, int kind, const char* type, const char* data) {
  sl_event e{};
  e.id = id;
  e.kind = kind;
  e.run_id = "run-1";
  e.run_id_len = 5;
  e.type = type;
  e.type_len = std::strlen(type);
  e.data_json = data;
  e.data_len = data ? std::strlen(data) : 0;
  e.created_at_ms = 1700000000000;
  return e;
}

}  // namespace

class CapiEvents : public EngineTest {
 protected:
  sl_subscription* subscribe(const std::string& run_id, int64_t after_id, Collector& collector) {
    sl_subscription* sub = nullptr;
    EXPECT_EQ(sl_engine_subscribe(&sub, engine_, run_id.data(), run_id.size(), after_id,
                                  Collector::on_event, &collector),
              SL_OK)
        << last_message();
    return sub;
  }
  void signal(const std::string& run_id, const std::string& name) {
    ASSERT_EQ(sl_engine_signal(engine_, run_id.data(), run_id.size(), name.data(), name.size(),
                               "{}", 2),
              SL_OK)
        << last_message();
  }
};

TEST_F(CapiEvents, SubscribeDeliversStoredThenLiveEventsUntilTheRunCompletes) {
  workflow("story", [&](sl_execution* e) {
    step(e, "outline", [] { return std::string("\"plot\""); });
    int state = -1;
    char* payload = nullptr;
    ASSERT_EQ(sl_execution_wait_for_signal(&state, &payload, nullptr, e, "go", 2, -1), SL_OK);
    sl_free(payload);
    if (state == SL_WAIT_PARKED) {
      sl_execution_finish_parked(e);
      return;
    }
    step(e, "page", [] { return std::string("\"text\""); });
    complete(e, R"({"pages":1})");
  });
  std::string id = id_of(start("story"));
  ASSERT_EQ(wait_status(id, "waiting").at("status"), "waiting");
  Json stored_before = events(id);

  Collector collector;
  sl_subscription* sub = subscribe(id, 0, collector);
  ASSERT_NE(sub, nullptr);
  signal(id, "go");
  auto got = collector.wait_for(SIZE_MAX, "run.completed");
  sl_subscription_close(sub);

  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got.back().type, "run.completed");
  // Stored first, in order, then live, with no gap and no duplicate.
  Json stored_after = events(id);
  ASSERT_EQ(got.size(), stored_after.as_array().size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].kind, SL_EVENT_STORED);
    EXPECT_EQ(got[i].id, stored_after.at(i).at("id").as_int64());
    EXPECT_EQ(got[i].type, stored_after.at(i).at("type").as_string().c_str());
    EXPECT_EQ(got[i].run_id, id);
    EXPECT_EQ(boost::json::parse(got[i].data), stored_after.at(i).at("data"));
    if (i > 0) {
      EXPECT_GT(got[i].id, got[i - 1].id);
    }
    EXPECT_NE(got[i].thread, std::this_thread::get_id());
  }
  EXPECT_GT(got.size(), stored_before.as_array().size());
  EXPECT_EQ(sse_of(got.back()), "id: " + std::to_string(got.back().id) +
                                    "\nevent: run.completed\ndata: " + got.back().data + "\n\n");
}

TEST_F(CapiEvents, ChunkTextArrivesLiveThenItsStoredEventOnlyMovesTheCursor) {
  std::mutex held_mutex;
  std::condition_variable held_ready;
  sl_execution* held = nullptr;
  workflow("typing", [&](sl_execution* e) {
    std::lock_guard lock(held_mutex);
    held = e;
    held_ready.notify_all();
  });
  std::string id = id_of(start("typing"));
  {
    std::unique_lock lock(held_mutex);
    ASSERT_TRUE(held_ready.wait_for(lock, 5s, [&] { return held != nullptr; }));
  }
  Collector collector;
  sl_subscription* sub = subscribe(id, 0, collector);
  ASSERT_EQ(sl_execution_chunk(held, "page-1", 6, "Once", 4), SL_OK) << last_message();
  auto got = collector.wait_for(SIZE_MAX, "chunk");
  ASSERT_EQ(got.back().type, "chunk");
  EXPECT_EQ(got.back().kind, SL_EVENT_TRANSIENT);
  EXPECT_EQ(got.back().id, 0);
  EXPECT_EQ(boost::json::parse(got.back().data),
            boost::json::parse(R"({"stream":"page-1","offset":0,"text":"Once","attempt_start":0})"));
  EXPECT_EQ(sse_of(got.back()), "event: chunk\ndata: " + got.back().data + "\n\n");

  complete(held);  // persists the text, then completes
  got = collector.wait_for(SIZE_MAX, "run.completed");
  sl_subscription_close(sub);
  const EventCopy* cursor = nullptr;
  for (const auto& e : got) {
    if (e.kind == SL_EVENT_CURSOR) cursor = &e;
  }
  ASSERT_NE(cursor, nullptr);
  EXPECT_EQ(cursor->type, "chunk");
  EXPECT_GT(cursor->id, 0);
  EXPECT_EQ(sse_of(*cursor), "id: " + std::to_string(cursor->id) + "\n\n");
}

TEST_F(CapiEvents, SubscribeAfterAnIdSkipsEarlierEvents) {
  std::string id = start_waiting();
  signal(id, "a");
  signal(id, "b");
  Json all = events(id);
  size_t n = all.as_array().size();
  Collector collector;
  sl_subscription* sub = subscribe(id, all.at(n - 3).at("id").as_int64(), collector);
  auto got = collector.wait_for(2);
  std::this_thread::sleep_for(20ms);  // nothing else may arrive
  EXPECT_EQ(collector.size(), 2u);
  sl_subscription_close(sub);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].id, all.at(n - 2).at("id").as_int64());
  EXPECT_EQ(got[0].type, "signal.received");
  EXPECT_EQ(got[1].id, all.at(n - 1).at("id").as_int64());
}

TEST_F(CapiEvents, SubscriptionCloseStopsDelivery) {
  std::string id = start_waiting();
  Collector collector;
  size_t stored = events(id).as_array().size();
  sl_subscription* sub = subscribe(id, 0, collector);
  signal(id, "a");
  collector.wait_for(stored + 1);
  sl_subscription_close(sub);
  size_t before = collector.size();
  EXPECT_EQ(before, stored + 1);
  signal(id, "b");
  std::this_thread::sleep_for(30ms);
  EXPECT_EQ(collector.size(), before);
}

namespace {

// Closes its own subscription from inside the first callback.
struct SelfClosing {
  std::atomic<sl_subscription*> subscription{nullptr};
  std::atomic<int> calls{0};
  static void on_event(void* user_data, const sl_event*) {
    auto* self = static_cast<SelfClosing*>(user_data);
    ++self->calls;
    sl_subscription_close(self->subscription.exchange(nullptr));
  }
};

}  // namespace

TEST_F(CapiEvents, SubscriptionCanCloseItselfFromInsideTheCallback) {
  std::string id = start_waiting();
  int64_t last = events(id).as_array().back().at("id").as_int64();
  SelfClosing self;
  sl_subscription* sub = nullptr;
  ASSERT_EQ(sl_engine_subscribe(&sub, engine_, id.data(), id.size(), last, SelfClosing::on_event,
                                &self),
            SL_OK);
  self.subscription = sub;
  signal(id, "a");
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (self.calls == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(1ms);
  }
  signal(id, "b");
  std::this_thread::sleep_for(30ms);
  EXPECT_EQ(self.calls, 1);
  EXPECT_EQ(self.subscription.load(), nullptr);
}

TEST_F(CapiEvents, SubscriptionMayBeClosedAfterTheEngine) {
  std::string id = start_waiting();
  size_t stored = events(id).as_array().size();
  Collector collector;
  sl_subscription* sub = subscribe(id, 0, collector);
  collector.wait_for(stored);
  close();
  sl_subscription_close(sub);
  EXPECT_EQ(collector.size(), stored);
}

TEST_F(CapiEvents, SubscriptionCloseAcceptsNull) { sl_subscription_close(nullptr); }

TEST_F(CapiEvents, SubscribeRejectsBadArguments) {
  std::string id = start_waiting();
  Collector collector;
  sl_subscription* sub = nullptr;
  EXPECT_EQ(sl_engine_subscribe(nullptr, engine_, id.data(), id.size(), 0, Collector::on_event,
                                &collector),
            SL_EINVALID);
  EXPECT_EQ(last_message(), "sl_engine_subscribe: out is NULL");
  EXPECT_EQ(sl_engine_subscribe(&sub, engine_, id.data(), id.size(), 0, nullptr, nullptr),
            SL_EINVALID);
  EXPECT_EQ(last_message(), "sl_engine_subscribe: fn is NULL");
  EXPECT_EQ(sl_engine_subscribe(&sub, nullptr, id.data(), id.size(), 0, Collector::on_event,
                                &collector),
            SL_EINVALID);
  EXPECT_EQ(last_message(), "sl_engine_subscribe: engine is NULL");
  EXPECT_EQ(sl_engine_subscribe(&sub, engine_, "ghost", 5, 0, Collector::on_event, &collector),
            SL_ENOTFOUND);
  EXPECT_EQ(last_message(), "no run with id 'ghost'");
  EXPECT_EQ(sl_engine_subscribe(&sub, engine_, id.data(), id.size(), -1, Collector::on_event,
                                &collector),
            SL_EINVALID);
  EXPECT_EQ(last_message(), "after id must not be negative");
  EXPECT_EQ(sub, nullptr);
}

// ---- SSE ----

TEST(CapiSse, StoredEventHasIdEventAndDataLines) {
  sl_event e = make_event(5, SL_EVENT_STORED, "progress", R"({"a":1})");
  char* out = nullptr;
  size_t len = 0;
  ASSERT_EQ(sl_event_to_sse(&out, &len, &e), SL_OK) << last_message();
  std::string text = take(out);
  EXPECT_EQ(text, "id: 5\nevent: progress\ndata: {\"a\":1}\n\n");
  EXPECT_EQ(len, text.size());
}

TEST(CapiSse, TransientEventHasNoIdLine) {
  sl_event e = make_event(0, SL_EVENT_TRANSIENT, "chunk", R"({"text":"hi"})");
  char* out = nullptr;
  ASSERT_EQ(sl_event_to_sse(&out, nullptr, &e), SL_OK) << last_message();
  EXPECT_EQ(take(out), "event: chunk\ndata: {\"text\":\"hi\"}\n\n");
}

TEST(CapiSse, CursorEventIsAnIdOnlyRecord) {
  sl_event e = make_event(9, SL_EVENT_CURSOR, "chunk", nullptr);
  char* out = nullptr;
  ASSERT_EQ(sl_event_to_sse(&out, nullptr, &e), SL_OK) << last_message();
  EXPECT_EQ(take(out), "id: 9\n\n");
}

TEST(CapiSse, RejectsAnUnknownKind) {
  sl_event e = make_event(1, 5, "x", "{}");
  char* out = nullptr;
  EXPECT_EQ(sl_event_to_sse(&out, nullptr, &e), SL_EINVALID);
  EXPECT_EQ(last_message(),
            "sl_event_to_sse: event->kind is 5, not SL_EVENT_STORED, SL_EVENT_TRANSIENT or "
            "SL_EVENT_CURSOR");
}

TEST(CapiSse, RejectsDataThatIsNotJson) {
  sl_event e = make_event(1, SL_EVENT_STORED, "x", "{not json");
  char* out = nullptr;
  EXPECT_EQ(sl_event_to_sse(&out, nullptr, &e), SL_EINVALID);
  EXPECT_EQ(last_message().rfind("sl_event_to_sse: event->data_json is not valid JSON: ", 0), 0u)
      << last_message();
  e = make_event(1, SL_EVENT_STORED, "x", nullptr);
  EXPECT_EQ(sl_event_to_sse(&out, nullptr, &e), SL_EINVALID);
  EXPECT_EQ(last_message(), "sl_event_to_sse: event->data_json is NULL");
}

TEST(CapiSse, RejectsNullArguments) {
  char* out = nullptr;
  EXPECT_EQ(sl_event_to_sse(&out, nullptr, nullptr), SL_EINVALID);
  EXPECT_EQ(last_message(), "sl_event_to_sse: event is NULL");
  EXPECT_EQ(sl_sse_heartbeat(nullptr, nullptr), SL_EINVALID);
  EXPECT_EQ(last_message(), "sl_sse_heartbeat: out is NULL");
}

TEST(CapiSse, HeartbeatIsAComment) {
  char* out = nullptr;
  size_t len = 0;
  ASSERT_EQ(sl_sse_heartbeat(&out, &len), SL_OK);
  EXPECT_EQ(take(out), ": heartbeat\n\n");
  EXPECT_EQ(len, 13u);
}

TEST(CapiSse, RetryGivesTheReconnectDelay) {
  char* out = nullptr;
  ASSERT_EQ(sl_sse_retry(&out, nullptr, 3000), SL_OK);
  EXPECT_EQ(take(out), "retry: 3000\n\n");
  EXPECT_EQ(sl_sse_retry(&out, nullptr, -1), SL_EINVALID);
  EXPECT_EQ(last_message(), "sl_sse_retry: reconnect_ms is -1; it must not be negative");
}
