// The process batch_kill_test.cc kills with SIGKILL. Three threads call the
// batch and asynchronous operations at once:
//  - start_many: batches of fresh keys, plus in each a key repeated from the
//    same batch (other input), one from the batch before, an unknown workflow
//    and an input that is not an object (the last two fail alone);
//  - start_async: rounds of starts kept in flight together, with a repeated
//    key and an unknown workflow among them;
//  - signal_many: the "go" signal to every parked run, plus one to a run that
//    does not exist and one to a finished run (both refused alone).
// Before a batch call it logs the intent (the fresh keys or signals it sends);
// after a call returns it logs what it was told, one line per op; every line
// is fsynced before the thread goes on. Each step body logs "<run id> s<k>"
// to the step log as it begins. It exits 0 once its own calls are done and
// every run in the store has finished.
//
//   batch_kill_worker STORE LOG STEP_LOG ROUND
//
// Log lines (the test reads them; keys are "k<n>", "g<n>", "x<n>", the run's input n):
//   intent-start <batch> <key>,<key>...
//   start ok <key> <run id>
//   start err <key> <code> <message>
//   intent-signal <batch> <run id>:<token>,...
//   signal ok <run id> <token>
//   signal err <run id> <token> <code> <message>
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "storyloom/engine.h"
#include "support/run_pages.h"

using namespace storyloom;
using storyloom::testing::list_every;

namespace {

constexpr int kBatches = 4;       // start_many calls per incarnation
constexpr int kFreshPerBatch = 6;
constexpr int kAsyncRounds = 3;
constexpr int kAsyncPerRound = 4;

// An append-only file whose every write is fsynced before append() returns.
class SyncedLog {
 public:
  explicit SyncedLog(const std::string& path)
      : fd_(::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT, 0644)) {
    if (fd_ < 0) std::abort();
  }
  void append(const std::string& lines) {
    std::lock_guard lock(mutex_);
    if (::write(fd_, lines.data(), lines.size()) != static_cast<ssize_t>(lines.size())) std::abort();
    if (::fsync(fd_) != 0) std::abort();
  }

 private:
  std::mutex mutex_;
  int fd_;
};

std::string one_line(std::string text) {
  for (char& c : text) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return text;
}

std::string answer_line(const std::string& key, const StartResult& r) {
  if (r.run) return "start ok " + key + " " + r.run->id + "\n";
  return "start err " + key + " " + to_string(r.error->code()) + " " + one_line(r.error->what()) +
         "\n";
}

StartRequest tale(int64_t n, const std::string& key, int64_t input_n) {
  StartRequest r;
  r.workflow = "tale";
  r.input = boost::json::object{{"n", input_n}, {"wait", n % 3 == 0}};
  r.options.idempotency_key = key;
  return r;
}

StartRequest keyed_request(const std::string& workflow, Json input, const std::string& key) {
  StartRequest r;
  r.workflow = workflow;
  r.input = std::move(input);
  r.options.idempotency_key = key;
  return r;
}

std::string key(char kind, int64_t n) { return std::string(1, kind) + std::to_string(n); }

void start_batches(Engine& engine, SyncedLog& log, int round) {
  std::string previous;  // a fresh key of the batch before
  for (int batch = 0; batch < kBatches; ++batch) {
    int64_t base = round * 1000 + batch * 10;
    std::vector<StartRequest> requests;
    std::vector<std::string> keys;
    std::string intent = "intent-start " + std::to_string(round) + "-" + std::to_string(batch) + " ";
    for (int j = 0; j < kFreshPerBatch; ++j) {
      keys.push_back(key('k', base + j));
      requests.push_back(tale(base + j, keys.back(), base + j));
      intent += (j ? "," : "") + keys.back();
    }
    // The first key again with other input: the first request's run answers.
    keys.push_back(keys[0]);
    requests.push_back(tale(base, keys[0], base + 777));
    if (!previous.empty()) {
      keys.push_back(previous);
      requests.push_back(tale(std::stoll(previous.substr(1)), previous, 0));
    }
    keys.push_back(key('g', base + 8));
    requests.push_back(keyed_request("ghost", boost::json::object{{"n", base + 8}}, keys.back()));
    keys.push_back(key('x', base + 9));
    requests.push_back(keyed_request("tale", boost::json::array{base + 9}, keys.back()));
    log.append(intent + "\n");
    auto results = engine.start_many(std::move(requests));
    std::string lines;
    for (size_t i = 0; i < results.size(); ++i) lines += answer_line(keys[i], results[i]);
    log.append(lines);
    previous = keys[1];
  }
}

void start_async_rounds(Engine& engine, SyncedLog& log, int round) {
  for (int r = 0; r < kAsyncRounds; ++r) {
    int64_t base = round * 1000 + 500 + r * 10;
    struct Answers {
      std::mutex mutex;
      std::condition_variable changed;
      std::vector<std::string> lines;
    };
    auto answers = std::make_shared<Answers>();
    auto submit = [&](const std::string& workflow, const std::string& k, int64_t n) {
      StartOptions o;
      o.idempotency_key = k;
      engine.start_async(workflow, boost::json::object{{"n", n}, {"wait", n % 3 == 0}}, o,
                         [answers, k](StartResult result) {
                           std::lock_guard lock(answers->mutex);
                           answers->lines.push_back(answer_line(k, result));
                           answers->changed.notify_all();
                         });
    };
    for (int j = 0; j < kAsyncPerRound; ++j) submit("tale", key('k', base + j), base + j);
    submit("tale", key('k', base), base + 777);  // the same key again
    submit("ghost", key('g', base + 8), base + 8);
    size_t expected = kAsyncPerRound + 2;
    std::unique_lock lock(answers->mutex);
    answers->changed.wait(lock, [&] { return answers->lines.size() == expected; });
    std::string lines;
    for (const auto& line : answers->lines) lines += line;
    lock.unlock();
    log.append(lines);
  }
}

std::vector<RunInfo> tales(Engine& engine, std::optional<RunStatus> status, size_t limit) {
  RunFilter filter;
  filter.workflow = "tale";
  filter.status = status;
  return list_every(engine, filter, limit);
}

void signal_parked(Engine& engine, SyncedLog& log, int round, const std::atomic<bool>& stop) {
  int seq = 0;
  while (!stop) {
    auto parked = tales(engine, RunStatus::waiting, 12);
    if (parked.empty()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      continue;
    }
    std::vector<SignalRequest> signals;
    std::vector<std::string> tokens;
    std::string intent = "intent-signal " + std::to_string(round) + "-" + std::to_string(seq) + " ";
    for (size_t i = 0; i < parked.size(); ++i) {
      tokens.push_back("t" + std::to_string(round) + "-" + std::to_string(seq) + "-" + std::to_string(i));
      signals.push_back({parked[i].id, "go", boost::json::object{{"token", tokens.back()}},
                         /*once=*/i % 2 == 0});
      intent += (i ? "," : "") + parked[i].id + ":" + tokens.back();
    }
    tokens.push_back("t" + std::to_string(round) + "-" + std::to_string(seq) + "-missing");
    signals.push_back({"nobody-" + tokens.back(), "go", boost::json::object{{"token", tokens.back()}}});
    auto finished = tales(engine, RunStatus::completed, 1);
    if (!finished.empty()) {
      tokens.push_back("t" + std::to_string(round) + "-" + std::to_string(seq) + "-finished");
      signals.push_back({finished[0].id, "go", boost::json::object{{"token", tokens.back()}}});
    }
    log.append(intent + "\n");
    auto results = engine.signal_many(signals);
    std::string lines;
    for (size_t i = 0; i < results.size(); ++i) {
      lines += results[i] ? "signal err " + signals[i].run_id + " " + tokens[i] + " " +
                                to_string(results[i]->code()) + " " + one_line(results[i]->what()) + "\n"
                          : "signal ok " + signals[i].run_id + " " + tokens[i] + "\n";
    }
    log.append(lines);
    ++seq;
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: batch_kill_worker STORE LOG STEP_LOG ROUND\n");
    return 2;
  }
  SyncedLog log(argv[2]);
  SyncedLog steps(argv[3]);
  int round = std::atoi(argv[4]);

  EngineOptions options;
  options.store = argv[1];
  options.workers = 8;
  options.poll_interval = std::chrono::milliseconds(5);
  options.lease_ttl = std::chrono::milliseconds(2000);
  options.drain_timeout = std::chrono::milliseconds(200);
  auto engine = Engine::open(options);
  // Three logged steps; a run whose n is a multiple of 3 parks for "go" after the first.
  engine->register_workflow("tale", [&steps](Context& ctx, const Json& input) -> Json {
    int64_t n = input.at("n").as_int64();
    auto step = [&](int k) {
      return ctx
          .step("s" + std::to_string(k), [&] {
            steps.append(ctx.run_id() + " s" + std::to_string(k) + "\n");
            return Json(n * k);
          })
          .as_int64();
    };
    int64_t sum = step(1);
    Json go = nullptr;
    if (input.at("wait").as_bool()) go = ctx.wait_for_signal("go")->at("token");
    sum += step(2);
    sum += step(3);
    return boost::json::object{{"sum", sum}, {"go", go}};
  });
  engine->launch();

  std::atomic<bool> stop{false};
  std::thread starter([&] { start_batches(*engine, log, round); });
  std::thread async_starter([&] { start_async_rounds(*engine, log, round); });
  std::thread signaller([&] { signal_parked(*engine, log, round, stop); });
  starter.join();
  async_starter.join();
  for (;;) {
    bool all_finished = true;
    for (const auto& run : tales(*engine, std::nullopt, 100000)) {
      all_finished = all_finished && is_finished(run.status);
    }
    if (all_finished) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  stop = true;
  signaller.join();
  engine->close();
  return 0;
}
