// Collects lifecycle reports (storyloom/lifecycle.h) for tests: the callback
// runs on the engine's reporter thread, the test reads from its own.
#pragma once

#include <mutex>
#include <string>
#include <vector>

#include "storyloom/lifecycle.h"

namespace storyloom::testing {

class LifecycleRecorder {
 public:
  LifecycleCallback callback() {
    return [this](const LifecycleEvent& e) {
      std::lock_guard lock(mutex_);
      events_.push_back(e);
    };
  }
  std::vector<LifecycleEvent> events() const {
    std::lock_guard lock(mutex_);
    return events_;
  }
  // One line per report: "run.started", "step.started name#1",
  // "step.failed name#1 cancelled", "run.finished cancelled", ...
  std::vector<std::string> lines() const {
    std::vector<std::string> out;
    for (const auto& e : events()) {
      std::string line = to_string(e.kind);
      if (e.seq >= 0) line += " " + e.step + "#" + std::to_string(e.attempt);
      if (!e.outcome.empty()) line += " " + e.outcome;
      if (!e.error_class.empty()) line += " " + e.error_class;
      if (e.kind == LifecycleKind::step_failed && e.will_retry) line += " retry";
      out.push_back(line);
    }
    return out;
  }
  // Whether a run.finished was reported (with `outcome`, when given).
  bool has_run_end(const std::string& outcome = "") const {
    for (const auto& e : events()) {
      if (e.kind == LifecycleKind::run_finished && (outcome.empty() || e.outcome == outcome)) {
        return true;
      }
    }
    return false;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<LifecycleEvent> events_;
};

}  // namespace storyloom::testing
