// LifecycleReporter: hands lifecycle reports (storyloom/lifecycle.h) to the
// host's callback on a thread of its own, in order, so the engine never calls
// host code with its locks held and never waits for a slow telemetry host.
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

#include "storyloom/lifecycle.h"

namespace storyloom::detail {

class LifecycleReporter {
 public:
  LifecycleReporter() = default;
  ~LifecycleReporter();  // stop()
  LifecycleReporter(const LifecycleReporter&) = delete;
  LifecycleReporter& operator=(const LifecycleReporter&) = delete;

  // Sets or replaces the callback (null: reports are no longer made). The
  // thread starts with the first callback.
  void set(LifecycleCallback callback);
  // Cheap when no callback is set; otherwise queues the report.
  bool enabled() const;
  void report(LifecycleEvent event);
  // Delivers what is queued, then ends the thread; later reports are dropped.
  void stop();

 private:
  void loop();

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::shared_ptr<const LifecycleCallback> callback_;
  std::deque<LifecycleEvent> queue_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace storyloom::detail
