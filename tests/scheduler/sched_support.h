// Helpers for the scheduler suites: a gate steps can wait on, and a counter
// of steps running at once (per key).
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>

#include "support/test_support.h"

namespace storyloom::testing {

// Steps block in wait() until open() is called.
class Gate {
 public:
  void wait() {
    std::unique_lock lock(mutex_);
    ++waiting_;
    cv_.notify_all();
    cv_.wait(lock, [this] { return open_; });
    --waiting_;
  }
  void open() {
    std::lock_guard lock(mutex_);
    open_ = true;
    cv_.notify_all();
  }
  int waiting() {
    std::lock_guard lock(mutex_);
    return waiting_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool open_ = false;
  int waiting_ = 0;
};

// Counts steps inside a critical section per key and remembers the peaks.
class Occupancy {
 public:
  void enter(const std::string& key) {
    std::lock_guard lock(mutex_);
    int now = ++current_[key];
    peak_[key] = std::max(peak_[key], now);
    int total = ++total_;
    total_peak_ = std::max(total_peak_, total);
  }
  void leave(const std::string& key) {
    std::lock_guard lock(mutex_);
    --current_[key];
    --total_;
  }
  int peak(const std::string& key) {
    std::lock_guard lock(mutex_);
    return peak_[key];
  }
  int max_peak() {
    std::lock_guard lock(mutex_);
    int m = 0;
    for (auto& [k, v] : peak_) m = std::max(m, v);
    return m;
  }
  int total_peak() {
    std::lock_guard lock(mutex_);
    return total_peak_;
  }

 private:
  std::mutex mutex_;
  std::map<std::string, int> current_, peak_;
  int total_ = 0, total_peak_ = 0;
};

inline std::vector<Event> events_of(Engine& engine, const std::string& run, const std::string& type) {
  std::vector<Event> out;
  for (auto& e : engine.events(run, 0)) {
    if (e.type == type) out.push_back(e);
  }
  return out;
}

}  // namespace storyloom::testing
