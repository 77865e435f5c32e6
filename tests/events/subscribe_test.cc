// Subscriptions: stored then live events with no gap and no duplicate, and
// token text delivered live at once but persisted coalesced.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>

#include "support/test_support.h"

using namespace storyloom;
using namespace storyloom::testing;
using namespace std::chrono_literals;

namespace {

// Collects what one subscriber sees.
struct Collector {
  std::mutex m;
  std::vector<int64_t> ids;               // stored and cursor ids, in order
  std::map<std::string, std::string> text;  // stream -> text assembled from deliveries
  std::map<std::string, int64_t> next_offset;
  bool ended = false;
  bool offsets_ok = true;

  EventCallback callback() {
    return [this](const Event& e) {
      std::lock_guard lock(m);
      if (e.kind != EventKind::transient) ids.push_back(e.id);
      if (e.type == "chunk" && e.kind != EventKind::cursor) {
        auto stream = std::string(e.data.at("stream").as_string());
        auto offset = e.data.at("offset").as_int64();
        // Every byte exactly once: each delivery starts where the last ended.
        if (next_offset.count(stream) && next_offset[stream] != offset) offsets_ok = false;
        auto& t = e.data.at("text").as_string();
        text[stream] += std::string(t);
        next_offset[stream] = offset + static_cast<int64_t>(t.size());
      }
      if (e.ends_run()) ended = true;
    };
  }
  bool done() {
    std::lock_guard lock(m);
    return ended;
  }
};

std::string page_text(int page) {
  std::string s;
  for (int w = 0; w < 200; ++w) s += "p" + std::to_string(page) + "w" + std::to_string(w) + " ";
  return s;
}

void register_writer(Engine& engine, std::atomic<int>* pages_written = nullptr,
                     std::chrono::microseconds word_gap = 50us) {
  engine.register_workflow("writer", [=](Context& ctx, const Json& input) -> Json {
    int pages = static_cast<int>(input.at("pages").as_int64());
    for (int p = 1; p <= pages; ++p) {
      ctx.step("page/" + std::to_string(p), [&] {
        std::string text = page_text(p);
        for (size_t i = 0; i < text.size(); i += 7) {
          ctx.chunk("page/" + std::to_string(p), text.substr(i, 7));
          std::this_thread::sleep_for(word_gap);
        }
        if (pages_written) ++*pages_written;
        return Json(text.size());
      });
      ctx.progress(boost::json::object{{"done", p}});
    }
    return nullptr;
  });
}

std::vector<int64_t> stored_ids(Engine& engine, const std::string& run) {
  std::vector<int64_t> ids;
  for (const auto& e : engine.events(run, 0, 10000)) ids.push_back(e.id);
  return ids;
}

}  // namespace

TEST(Subscribe, EarlyMidRunAndLateSubscribersSeeTheSameFullSequence) {
  TempDir dir;
  auto engine = Engine::open(fast_options(dir.file("s.db")));
  engine->launch();
  std::atomic<int> pages{0};
  register_writer(*engine, &pages);
  auto run = engine->start("writer", boost::json::object{{"pages", 3}});
  Collector early, mid, late;
  auto s1 = engine->subscribe(run.id, 0, early.callback());
  ASSERT_TRUE(eventually([&] { return pages.load() >= 1; }));
  auto s2 = engine->subscribe(run.id, 0, mid.callback());
  ASSERT_TRUE(eventually([&] { return early.done() && mid.done(); }));
  auto s3 = engine->subscribe(run.id, 0, late.callback());
  ASSERT_TRUE(eventually([&] { return late.done(); }));

  auto expected = stored_ids(*engine, run.id);
  for (auto* c : {&early, &mid, &late}) {
    std::lock_guard lock(c->m);
    EXPECT_EQ(c->ids, expected);
    EXPECT_TRUE(c->offsets_ok);
    for (int p = 1; p <= 3; ++p) EXPECT_EQ(c->text["page/" + std::to_string(p)], page_text(p)) << p;
  }
}

TEST(Subscribe, ResumeAfterAnIdGetsExactlyTheRest) {
  auto engine = Engine::open(fast_options());
  engine->launch();
  register_writer(*engine, nullptr, 0us);
  auto run = engine->start("writer", boost::json::object{{"pages", 2}});
  wait_finished(*engine, run.id);
  auto all = stored_ids(*engine, run.id);
  ASSERT_GT(all.size(), 4u);
  int64_t cut = all[all.size() / 2];
  Collector c;
  auto sub = engine->subscribe(run.id, cut, c.callback());
  ASSERT_TRUE(eventually([&] { return c.done(); }));
  std::lock_guard lock(c.m);
  EXPECT_EQ(c.ids, std::vector<int64_t>(all.begin() + static_cast<long>(all.size() / 2) + 1, all.end()));
}

TEST(Subscribe, ManySubscribersJoiningAtRandomMomentsMissNothing) {
  TempDir dir;
  auto engine = Engine::open(fast_options(dir.file("m.db")));
  engine->launch();
  register_writer(*engine);
  auto run = engine->start("writer", boost::json::object{{"pages", 4}});
  std::vector<std::unique_ptr<Collector>> collectors;
  std::vector<Subscription> subs;
  for (int i = 0; i < 20; ++i) {
    collectors.push_back(std::make_unique<Collector>());
    subs.push_back(engine->subscribe(run.id, 0, collectors.back()->callback()));
    std::this_thread::sleep_for(std::chrono::milliseconds(i % 4));
  }
  ASSERT_TRUE(eventually([&] {
    for (auto& c : collectors) {
      if (!c->done()) return false;
    }
    return true;
  }));
  auto expected = stored_ids(*engine, run.id);
  for (auto& c : collectors) {
    std::lock_guard lock(c->m);
    EXPECT_EQ(c->ids, expected);
    EXPECT_TRUE(c->offsets_ok);
    for (int p = 1; p <= 4; ++p) EXPECT_EQ(c->text["page/" + std::to_string(p)], page_text(p));
  }
}

TEST(Subscribe, ChunksArePersistedCoalesced) {
  auto engine = Engine::open(fast_options());
  engine->launch();
  register_writer(*engine, nullptr, 0us);
  auto run = engine->start("writer", boost::json::object{{"pages", 1}});
  wait_finished(*engine, run.id);
  std::string stored;
  int chunk_events = 0;
  for (const auto& e : engine->events(run.id, 0, 10000)) {
    if (e.type != "chunk") continue;
    ++chunk_events;
    EXPECT_EQ(e.data.at("offset").as_int64(), static_cast<int64_t>(stored.size()));
    stored += std::string(e.data.at("text").as_string());
  }
  EXPECT_EQ(stored, page_text(1));
  // ~330 chunk() calls of 7 bytes each, written at once: coalesced into a few events.
  EXPECT_LE(chunk_events, 3);
  EXPECT_GE(chunk_events, 1);
}

TEST(Subscribe, UnknownRunAndBadArgumentsAreRefused) {
  auto engine = Engine::open(fast_options());
  engine->launch();
  auto e = error_of([&] { engine->subscribe("nope", 0, [](const Event&) {}); });
  EXPECT_EQ(e.code(), ErrorCode::not_found);
  EXPECT_STREQ(e.what(), "no run with id 'nope'");
  engine->register_workflow("w", [](Context&, const Json&) -> Json { return nullptr; });
  auto run = engine->start("w", boost::json::object{});
  e = error_of([&] { engine->subscribe(run.id, -1, [](const Event&) {}); });
  EXPECT_STREQ(e.what(), "after id must not be negative");
}

TEST(Subscribe, CloseFromInsideTheCallbackDoesNotDeadlock) {
  auto engine = Engine::open(fast_options());
  engine->launch();
  engine->register_workflow("w", [](Context&, const Json&) -> Json { return nullptr; });
  auto run = engine->start("w", boost::json::object{});
  wait_finished(*engine, run.id);
  std::atomic<int> seen{0};
  Subscription* self = nullptr;
  auto sub = engine->subscribe(run.id, 0, [&](const Event&) {
    ++seen;
    while (self == nullptr) std::this_thread::yield();
    self->close();
  });
  self = &sub;
  ASSERT_TRUE(eventually([&] { return seen.load() >= 1; }));
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(seen.load(), 1);
}

TEST(Subscribe, SnapshotThenSubscribeContinuesWithoutGap) {
  auto engine = Engine::open(fast_options());
  engine->launch();
  std::atomic<int> pages{0};
  register_writer(*engine, &pages);
  auto run = engine->start("writer", boost::json::object{{"pages", 2}});
  Snapshot snap;
  ASSERT_TRUE(eventually([&] {
    snap = engine->snapshot(run.id);
    return !snap.steps.empty();
  }));
  Collector c;
  auto sub = engine->subscribe(run.id, snap.last_event_id, c.callback());
  ASSERT_TRUE(eventually([&] { return c.done(); }));
  std::vector<int64_t> expected;
  for (auto id : stored_ids(*engine, run.id)) {
    if (id > snap.last_event_id) expected.push_back(id);
  }
  std::lock_guard lock(c.m);
  EXPECT_EQ(c.ids, expected);
}

TEST(Subscribe, ThrowingCallbackEndsOnlyItsSubscription) {
  auto engine = Engine::open(fast_options());
  engine->launch();
  register_writer(*engine, nullptr, 0us);
  auto run = engine->start("writer", boost::json::object{{"pages", 1}});
  std::atomic<int> thrower_calls{0};
  auto bad = engine->subscribe(run.id, 0, [&](const Event&) {
    ++thrower_calls;
    throw std::runtime_error("bug in the host");
  });
  Collector good;
  auto ok = engine->subscribe(run.id, 0, good.callback());
  ASSERT_TRUE(eventually([&] { return good.done(); }));
  EXPECT_EQ(thrower_calls.load(), 1);
}
