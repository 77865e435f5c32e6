// Shared helpers for the core suites: temporary stores and polling with a deadline.
#pragma once

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>

#include "storyloom/engine.h"
#include "support/test_store.h"

namespace storyloom::testing {

// A temporary directory removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "storyloom-test-XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// Polls `condition` every millisecond until it holds or `limit` passes.
inline bool eventually(const std::function<bool()>& condition,
                       std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return condition();
}

inline RunInfo wait_status(Engine& engine, const std::string& run_id, RunStatus status,
                           std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  RunInfo run;
  eventually([&] {
    run = engine.get(run_id);
    return run.status == status;
  }, limit);
  return run;
}

inline RunInfo wait_finished(Engine& engine, const std::string& run_id,
                             std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  RunInfo run;
  eventually([&] {
    run = engine.get(run_id);
    return is_finished(run.status);
  }, limit);
  return run;
}

// ":memory:" means the test's own empty store: SQLite in memory, or a fresh
// PostgreSQL schema when STORYLOOM_TEST_STORE is set (support/test_store.h).
inline EngineOptions fast_options(std::string store = ":memory:") {
  EngineOptions o;
  o.store = store == ":memory:" ? test_store() : std::move(store);
  o.poll_interval = std::chrono::milliseconds(5);
  return o;
}

// Runs `fn` and returns the Error it throws; fails the test when it throws nothing.
template <typename Fn>
Error error_of(Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e;
  }
  return Error(ErrorCode::ok, "no error was thrown");
}

}  // namespace storyloom::testing
