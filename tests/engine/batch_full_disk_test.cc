// A full disk while start_many, start_async and signal_many run from three
// threads: the store lives on a small tmpfs that a ballast file fills and
// empties several times. Every op reported ok must survive a reopen, every op
// reported failed must be absent, a failure must name its cause (the store,
// the disk is full), no call may hang, and once space returns every run
// completes with what it was sent.
//
// Mounting a tmpfs needs root (CI runs as root); elsewhere the test is
// skipped, and on PostgreSQL too (the disk is the database server's).
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <map>
#include <mutex>

#include "support/run_pages.h"
#include "support/small_disk.h"
#include "support/test_support.h"

using namespace storyloom;
using namespace storyloom::testing;
using namespace std::chrono_literals;

namespace {

// What the callers were told, from every thread.
struct Told {
  std::mutex mutex;
  std::map<std::string, std::string> started;        // key -> run id
  std::map<std::string, Error> start_refused;        // key -> why
  std::map<std::string, std::string> signalled;      // token -> run id
  std::map<std::string, std::pair<std::string, Error>> signal_refused;  // token -> run, why
  std::chrono::milliseconds slowest_call{0};
  int read_errors = 0;

  void start(const std::string& key, const StartResult& r) {
    std::lock_guard lock(mutex);
    if (r.run) {
      started[key] = r.run->id;
    } else {
      start_refused.insert_or_assign(key, *r.error);
    }
  }
  void took(std::chrono::steady_clock::time_point since) {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - since);
    std::lock_guard lock(mutex);
    slowest_call = std::max(slowest_call, ms);
  }
};

StartOptions keyed(const std::string& key) {
  StartOptions o;
  o.idempotency_key = key;
  return o;
}

Json tale_input(int64_t n) { return boost::json::object{{"n", n}, {"wait", n % 3 == 0}}; }

std::vector<RunInfo> list_all(Engine& engine, std::optional<RunStatus> status, size_t limit) {
  RunFilter filter;
  filter.workflow = "tale";
  filter.status = status;
  return list_every(engine, filter, limit);
}

// The go signal to every parked run (up to `limit`), each with a fresh token.
void signal_parked(Engine& engine, Told& told, int& seq, size_t limit) {
  std::vector<RunInfo> parked;
  try {
    parked = list_all(engine, RunStatus::waiting, limit);
  } catch (const Error&) {
    std::lock_guard lock(told.mutex);
    ++told.read_errors;
    return;
  }
  if (parked.empty()) return;
  std::vector<SignalRequest> signals;
  for (const auto& run : parked) {
    signals.push_back({run.id, "go", boost::json::object{{"token", "t" + std::to_string(seq++)}}});
  }
  auto since = std::chrono::steady_clock::now();
  auto results = engine.signal_many(signals);
  told.took(since);
  std::lock_guard lock(told.mutex);
  for (size_t i = 0; i < results.size(); ++i) {
    std::string token(signals[i].payload.at("token").as_string());
    if (results[i]) {
      told.signal_refused.insert_or_assign(token, std::make_pair(signals[i].run_id, *results[i]));
    } else {
      told.signalled[token] = signals[i].run_id;
    }
  }
}

// For a failure message: how many runs are in each unfinished status, and
// the last events of one of them.
std::string unfinished(Engine& engine) {
  std::map<std::string, int> by_status;
  std::string example;
  for (const auto& run : list_all(engine, std::nullopt, 100000)) {
    if (is_finished(run.status)) continue;
    ++by_status[to_string(run.status)];
    if (!example.empty()) continue;
    example = run.id + ":";
    for (const auto& e : engine.events(run.id, 0, 1000)) example += " " + e.type;
  }
  std::string text;
  for (const auto& [status, n] : by_status) text += status + " " + std::to_string(n) + ", ";
  return text + "e.g. " + example;
}

void register_tale(Engine& engine) {
  // A page of text per step so the store grows; parks for "go" when n % 3 == 0.
  engine.register_workflow("tale", [](Context& ctx, const Json& input) -> Json {
    int64_t n = input.at("n").as_int64();
    int64_t sum = 0;
    Json go = nullptr;
    for (int k = 1; k <= 3; ++k) {
      auto r = ctx.step("s" + std::to_string(k), [&] {
        return Json(boost::json::object{{"v", n * k}, {"text", std::string(200, static_cast<char>('a' + k))}});
      });
      sum += r.at("v").as_int64();
      if (k == 1 && input.at("wait").as_bool()) go = ctx.wait_for_signal("go")->at("token");
    }
    return boost::json::object{{"sum", sum}, {"go", go}};
  });
}

}  // namespace

TEST(BatchFullDisk, NothingReportedIsLostNothingRefusedIsStoredAndAllCompletes) {
  if (testing_on_postgres()) GTEST_SKIP() << "the full disk is a local SQLite file's";
  TempDir dir;
  SmallDisk disk(dir.file("disk"), 32 << 20);
  if (!disk.mounted()) GTEST_SKIP() << "cannot mount a tmpfs here (needs root)";
  std::string store = "sqlite:" + dir.file("disk") + "/store.db";
  EngineOptions o = fast_options(store);
  o.workers = 4;
  auto engine = Engine::open(o);
  register_tale(*engine);
  engine->launch();

  Told told;
  std::atomic<bool> stop{false};
  std::thread batches([&] {
    for (int64_t batch = 0; !stop; ++batch) {
      std::vector<StartRequest> requests;
      std::vector<std::string> keys;
      for (int j = 0; j < 8; ++j) {
        int64_t n = batch * 10 + j;
        keys.push_back("k" + std::to_string(n));
        requests.push_back({"tale", tale_input(n), keyed(keys.back())});
      }
      keys.push_back("g" + std::to_string(batch * 10 + 8));
      requests.push_back({"ghost", boost::json::object{}, keyed(keys.back())});
      auto since = std::chrono::steady_clock::now();
      auto results = engine->start_many(std::move(requests));
      told.took(since);
      for (size_t i = 0; i < results.size(); ++i) told.start(keys[i], results[i]);
      std::this_thread::sleep_for(15ms);
    }
  });
  std::thread async([&] {
    for (int64_t round = 0; !stop; ++round) {
      std::atomic<int> left{7};
      for (int j = 0; j < 7; ++j) {
        int64_t n = 1000000 + round * 10 + j;
        std::string key = (j == 6 ? "g" : "k") + std::to_string(n);
        engine->start_async(j == 6 ? "ghost" : "tale", tale_input(n), keyed(key),
                            [&told, &left, key](StartResult r) {
                              told.start(key, r);
                              --left;
                            });
      }
      auto since = std::chrono::steady_clock::now();
      while (left > 0) std::this_thread::sleep_for(1ms);
      told.took(since);
      std::this_thread::sleep_for(15ms);
    }
  });
  std::thread signaller([&] {
    int seq = 0;
    while (!stop) {
      signal_parked(*engine, told, seq, 20);
      std::this_thread::sleep_for(3ms);
    }
  });

  constexpr int kCycles = 4;
  for (int cycle = 0; cycle < kCycles; ++cycle) {
    std::this_thread::sleep_for(150ms);
    disk.fill();
    std::this_thread::sleep_for(300ms);  // the calls go on against a full disk
    disk.make_room();
  }
  std::this_thread::sleep_for(150ms);
  stop = true;
  batches.join();
  async.join();
  signaller.join();

  // Space is back: every parked run gets its signal and every run completes.
  int seq = 1000000;
  ASSERT_TRUE(eventually([&] {
    signal_parked(*engine, told, seq, 1000);
    for (const auto& run : list_all(*engine, std::nullopt, 100000)) {
      if (!is_finished(run.status)) return false;
    }
    return true;
  }, 60s)) << "runs are still unfinished a minute after space returned: " << unfinished(*engine);
  engine->close();

  // Reopened: what was told is what is stored.
  engine = Engine::open(fast_options(store));
  std::map<std::string, RunInfo> by_key;
  std::map<std::string, std::string> run_of_token;
  std::map<std::string, std::vector<std::string>> tokens_of_run;
  for (const auto& run : list_all(*engine, std::nullopt, 100000)) {
    ASSERT_TRUE(by_key.emplace(run.idempotency_key, run).second) << run.idempotency_key;
    for (const auto& e : engine->events(run.id, 0, 1000)) {
      if (e.type != "signal.received") continue;
      std::string token(e.data.at("payload").at("token").as_string());
      run_of_token[token] = run.id;
      tokens_of_run[run.id].push_back(token);
    }
  }
  std::lock_guard lock(told.mutex);
  int disk_full = 0;
  auto is_disk_full = [](const Error& e) {
    return e.code() == ErrorCode::store &&
           std::string(e.what()).find("disk is full") != std::string::npos;
  };
  for (const auto& [key, id] : told.started) {
    auto it = by_key.find(key);
    ASSERT_NE(it, by_key.end()) << "start of " << key << " was acknowledged (run " << id
                                << ") but is not in the store";
    EXPECT_EQ(it->second.id, id);
    EXPECT_EQ(it->second.input.at("n").as_int64(), std::stoll(key.substr(1)));
  }
  for (const auto& [key, why] : told.start_refused) {
    EXPECT_EQ(by_key.count(key), 0u) << "start of " << key << " was refused (" << why.what()
                                     << "), yet it is in the store";
    if (is_disk_full(why)) {
      ++disk_full;
    } else {
      EXPECT_EQ(key[0], 'g') << key << " refused for another reason: " << why.what();
      EXPECT_EQ(why.code(), ErrorCode::not_found) << key << ": " << why.what();
    }
  }
  for (const auto& [token, run] : told.signalled) {
    EXPECT_EQ(run_of_token[token], run) << "signal " << token << " was acknowledged but is not recorded";
  }
  for (const auto& [token, refused] : told.signal_refused) {
    EXPECT_EQ(run_of_token.count(token), 0u)
        << "signal " << token << " was refused (" << refused.second.what() << "), yet it is recorded";
    EXPECT_TRUE(is_disk_full(refused.second)) << refused.second.what();
    disk_full += is_disk_full(refused.second);
  }
  for (const auto& [key, run] : by_key) {
    ASSERT_EQ(run.status, RunStatus::completed) << key << ": " << boost::json::serialize(run.error);
    int64_t n = std::stoll(key.substr(1));
    EXPECT_EQ(run.output.at("sum").as_int64(), 6 * n) << key;
    if (n % 3 == 0) {
      ASSERT_EQ(tokens_of_run[run.id].size(), 1u) << key << ": one go signal recorded";
      EXPECT_EQ(run.output.at("go"), Json(tokens_of_run[run.id][0])) << key;
    }
  }
  EXPECT_GT(disk_full, 0) << "no call ever met the full disk: the test tested nothing";
  EXPECT_LT(told.slowest_call, 10s) << "a call hung on the full disk";
  std::printf("batch full disk: %d cycles, %zu runs, %zu starts and %zu signals acknowledged, %d "
              "refused for a full disk, %d reads failed, slowest call %lld ms\n",
              kCycles, by_key.size(), told.started.size(), told.signalled.size(), disk_full,
              told.read_errors, static_cast<long long>(told.slowest_call.count()));
}
