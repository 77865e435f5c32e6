// kill -9 at random moments while start_many, start_async and signal_many run
// from several threads (batch_kill_worker.cc). After every kill the store is
// reopened and held to what the worker was told: every start acknowledged
// exists with its key and input, every signal acknowledged is recorded, every
// op reported failed left nothing, and every start_many / signal_many call is
// all or nothing (one commit) even when the kill cut it short. After the
// storm every run completes with the right output, having received its
// signal, and no step body ran again once a later step of its run had begun.
//
// STORYLOOM_KILL_ROUNDS sets the number of kills (20 by default).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "support/child_process.h"
#include "support/test_support.h"

using namespace storyloom;
using namespace storyloom::testing;
using namespace std::chrono_literals;

namespace {

int rounds() {
  const char* env = std::getenv("STORYLOOM_KILL_ROUNDS");
  return env ? std::max(1, std::atoi(env)) : 20;
}

pid_t spawn_worker(const std::string& store, const std::string& log, const std::string& steps,
                   int round) {
  return spawn_program({STORYLOOM_BATCH_KILL_WORKER, store, log, steps, std::to_string(round)});
}

// The file's complete lines (a kill may cut the last one short).
std::vector<std::string> lines_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  std::vector<std::string> lines;
  std::string all = text.str();
  size_t start = 0;
  for (size_t end; (end = all.find('\n', start)) != std::string::npos; start = end + 1) {
    lines.push_back(all.substr(start, end - start));
  }
  return lines;
}

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::stringstream in(text);
  for (std::string part; std::getline(in, part, separator);) parts.push_back(part);
  return parts;
}

// What the worker was told, and what it meant to do, over every incarnation.
struct Told {
  std::map<std::string, std::string> started;           // key -> run id
  std::map<std::string, std::string> start_refused;     // key -> "code message"
  std::map<std::string, std::string> signalled;         // token -> run id
  std::map<std::string, std::string> signal_refused;    // token -> run id
  std::vector<std::vector<std::string>> start_batches;  // fresh keys of each start_many
  std::vector<std::vector<std::pair<std::string, std::string>>> signal_batches;  // run, token
};

Told read_told(const std::string& path) {
  Told told;
  for (const auto& line : lines_of(path)) {
    auto words = split(line, ' ');
    if (words.size() < 3) continue;
    if (words[0] == "intent-start") {
      told.start_batches.push_back(split(words[2], ','));
    } else if (words[0] == "intent-signal") {
      std::vector<std::pair<std::string, std::string>> batch;
      for (const auto& item : split(words[2], ',')) {
        auto colon = item.rfind(':');
        batch.emplace_back(item.substr(0, colon), item.substr(colon + 1));
      }
      told.signal_batches.push_back(batch);
    } else if (words[0] == "start" && words[1] == "ok") {
      told.started[words[2]] = words[3];
    } else if (words[0] == "start" && words[1] == "err") {
      told.start_refused[words[2]] = line.substr(std::string("start err ").size() + words[2].size() + 1);
    } else if (words[0] == "signal" && words[1] == "ok") {
      told.signalled[words[3]] = words[2];
    } else if (words[0] == "signal" && words[1] == "err") {
      told.signal_refused[words[3]] = words[2];
    }
  }
  return told;
}

// What the store holds: runs by key, and each "go" signal's token by run.
struct Stored {
  std::map<std::string, RunInfo> by_key;
  std::map<std::string, std::vector<std::string>> tokens;  // run id -> tokens received
  std::map<std::string, std::string> run_of_token;
};

Stored read_store(Engine& engine) {
  Stored stored;
  RunFilter filter;
  filter.limit = 1000;
  for (;;) {
    auto page = engine.list(filter);
    for (const auto& run : page.runs) {
      EXPECT_FALSE(run.idempotency_key.empty()) << "run " << run.id << " has no key";
      EXPECT_TRUE(stored.by_key.emplace(run.idempotency_key, run).second)
          << "two runs with key " << run.idempotency_key;
      for (const auto& e : engine.events(run.id, 0, 1000)) {
        if (e.type != "signal.received") continue;
        std::string token(e.data.at("payload").at("token").as_string());
        stored.tokens[run.id].push_back(token);
        stored.run_of_token[token] = run.id;
      }
    }
    if (page.next_cursor.empty()) return stored;
    filter.after_run_id = page.next_cursor;
  }
}

int64_t n_of(const std::string& key) { return std::stoll(key.substr(1)); }

// The promise, checked after every kill: told ok means stored, told refused
// means absent, and a batch call is all or nothing.
void check_told_against_store(const Told& told, const Stored& stored, int round) {
  for (const auto& [key, id] : told.started) {
    auto it = stored.by_key.find(key);
    ASSERT_NE(it, stored.by_key.end())
        << "round " << round << ": start of " << key << " was acknowledged (run " << id
        << ") but the store has no run with that key";
    EXPECT_EQ(it->second.id, id) << key;
    EXPECT_EQ(it->second.workflow, "tale") << key;
    EXPECT_EQ(it->second.input.at("n").as_int64(), n_of(key))
        << key << ": the run's input is not the first request's";
  }
  for (const auto& [key, why] : told.start_refused) {
    // Only the deliberately bad requests may fail, each for its own reason.
    if (key[0] == 'g') {
      EXPECT_EQ(why, "not_found workflow 'ghost' is not registered by any engine on this store");
    } else if (key[0] == 'x') {
      EXPECT_EQ(why, "invalid_argument run input must be a JSON object, not an array");
    } else {
      ADD_FAILURE() << "round " << round << ": start of " << key << " was refused: " << why;
    }
    EXPECT_EQ(stored.by_key.count(key), 0u) << "start of " << key << " was refused, yet it exists";
  }
  for (const auto& [token, run] : told.signalled) {
    auto it = stored.run_of_token.find(token);
    ASSERT_NE(it, stored.run_of_token.end())
        << "round " << round << ": signal " << token << " to " << run
        << " was acknowledged but is not recorded";
    EXPECT_EQ(it->second, run);
  }
  for (const auto& [token, run] : told.signal_refused) {
    EXPECT_EQ(stored.run_of_token.count(token), 0u)
        << "signal " << token << " to " << run << " was refused, yet it is recorded";
    EXPECT_TRUE(token.find("-missing") != std::string::npos ||
                token.find("-finished") != std::string::npos)
        << "round " << round << ": signal " << token << " to a parked run was refused";
  }
  for (const auto& keys : told.start_batches) {
    size_t present = 0;
    for (const auto& key : keys) present += stored.by_key.count(key);
    EXPECT_TRUE(present == 0 || present == keys.size())
        << "round " << round << ": a start_many call is half applied: " << present << " of "
        << keys.size() << " fresh keys exist, first " << keys[0];
  }
  for (const auto& batch : told.signal_batches) {
    size_t present = 0;
    for (const auto& [run, token] : batch) present += stored.run_of_token.count(token);
    EXPECT_TRUE(present == 0 || present == batch.size())
        << "round " << round << ": a signal_many call is half applied: " << present << " of "
        << batch.size() << " signals recorded, first " << batch[0].second;
  }
}

}  // namespace

TEST(BatchKillNine, EveryAcknowledgedStartAndSignalSurvivesAndNoBatchIsHalfApplied) {
  TempDir dir;
  std::string store = test_store(dir.file("batch-kill.db"));
  if (!testing_on_postgres()) store = "sqlite:" + store;
  std::string log = dir.file("told.log");
  std::string steps = dir.file("steps.log");
  std::mt19937 random(std::random_device{}());
  int total = rounds();
  int finished_early = 0;
  for (int round = 0; round < total; ++round) {
    pid_t pid = spawn_worker(store, log, steps, round);
    std::this_thread::sleep_for(
        std::chrono::milliseconds(std::uniform_int_distribution<int>(20, 400)(random)));
    kill(pid, SIGKILL);
    int code = exit_code(pid);
    if (code == 0) ++finished_early;
    ASSERT_TRUE(code == 0 || code == -SIGKILL) << "worker exited with " << code;
    EngineOptions o = fast_options(store);
    auto engine = Engine::open(o);  // not launched: a reader
    check_told_against_store(read_told(log), read_store(*engine), round);
    if (::testing::Test::HasFailure()) return;
  }
  pid_t pid = spawn_worker(store, log, steps, total);
  ASSERT_EQ(exit_code(pid), 0) << "the worker could not finish after " << total << " kills";

  EngineOptions o = fast_options(store);
  auto engine = Engine::open(o);
  Told told = read_told(log);
  Stored stored = read_store(*engine);
  check_told_against_store(told, stored, total);
  size_t parked = 0;
  for (const auto& [key, run] : stored.by_key) {
    ASSERT_EQ(run.status, RunStatus::completed) << key << " " << run.id;
    int64_t n = n_of(key);
    EXPECT_EQ(run.output.at("sum").as_int64(), 6 * n) << key;
    const auto& tokens = stored.tokens[run.id];
    if (n % 3 == 0) {
      ++parked;
      ASSERT_EQ(tokens.size(), 1u) << key << ": a parked run gets exactly one go signal";
      EXPECT_EQ(run.output.at("go"), Json(tokens[0])) << key << ": woke with another payload";
    } else {
      EXPECT_TRUE(tokens.empty()) << key << " never parked, yet got a signal";
      EXPECT_TRUE(run.output.at("go").is_null()) << key;
    }
  }
  // The last incarnation ran every call to the end.
  for (int b = 0; b < 4; ++b) {
    EXPECT_EQ(stored.by_key.count("k" + std::to_string(total * 1000 + b * 10)), 1u);
  }

  // No step body began again after a later step of its run had begun.
  std::map<std::string, std::vector<int>> by_run;
  for (const auto& line : lines_of(steps)) {
    auto words = split(line, ' ');
    if (words.size() == 2) by_run[words[0]].push_back(std::atoi(words[1].c_str() + 1));
  }
  EXPECT_EQ(by_run.size(), stored.by_key.size()) << "every run's steps are logged";
  int repeated = 0;
  for (const auto& [run, order] : by_run) {
    int highest = 0;
    for (int k : order) {
      EXPECT_GE(k, highest) << "run " << run << ": step s" << k
                            << " ran again after a later step had begun";
      if (k == highest) ++repeated;
      highest = std::max(highest, k);
    }
  }
  std::printf("batch kill -9: %d rounds (%d finished first), %zu runs (%zu parked), %zu starts and "
              "%zu signals acknowledged, %zu start_many and %zu signal_many calls checked, %d step "
              "bodies begun again after a kill\n",
              total, finished_early, stored.by_key.size(), parked, told.started.size(),
              told.signalled.size(), told.start_batches.size(), told.signal_batches.size(), repeated);
}
