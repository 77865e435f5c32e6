// LifecycleReporter: hands lifecycle reports (storyloom/lifecycle.h) to the
// host's callback on a thread of its own, in order, so the engine never calls
// host code with its locks held and never waits for a slow telemetry host.
#pragma once

#include <memory>
#include <thread>

#include "storyloom/lifecycle.h"

namespace storyloom::detail {

class LifecycleReporter {
 public:
  LifecycleReporter();
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
  // From the reporter's own thread (a callback that closes the engine, or
  // drops its last reference): what is still queued is dropped and the
  // thread is detached, to end once that callback returns.
  void stop();

 private:
  struct Shared;
  static void loop(const std::shared_ptr<Shared>& shared);

  // The thread shares ownership, so it outlives this object safely.
  std::shared_ptr<Shared> shared_;
  std::thread thread_;
};

}  // namespace storyloom::detail
