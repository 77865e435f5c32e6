#include "engine/lifecycle_reporter.h"

#include <condition_variable>
#include <deque>
#include <mutex>

namespace storyloom::detail {

struct LifecycleReporter::Shared {
  mutable std::mutex mutex;
  std::condition_variable wake;
  std::shared_ptr<const LifecycleCallback> callback;
  std::deque<LifecycleEvent> queue;
  bool stopping = false;
};

LifecycleReporter::LifecycleReporter() : shared_(std::make_shared<Shared>()) {}

LifecycleReporter::~LifecycleReporter() { stop(); }

void LifecycleReporter::set(LifecycleCallback callback) {
  std::lock_guard lock(shared_->mutex);
  if (shared_->stopping) return;
  shared_->callback =
      callback ? std::make_shared<const LifecycleCallback>(std::move(callback)) : nullptr;
  if (shared_->callback && !thread_.joinable()) {
    thread_ = std::thread([shared = shared_] { loop(shared); });
  }
}

bool LifecycleReporter::enabled() const {
  std::lock_guard lock(shared_->mutex);
  return shared_->callback != nullptr && !shared_->stopping;
}

void LifecycleReporter::report(LifecycleEvent event) {
  {
    std::lock_guard lock(shared_->mutex);
    if (!shared_->callback || shared_->stopping) return;
    shared_->queue.push_back(std::move(event));
  }
  shared_->wake.notify_one();
}

void LifecycleReporter::stop() {
  bool own_thread = thread_.joinable() && thread_.get_id() == std::this_thread::get_id();
  std::deque<LifecycleEvent> dropped;
  std::shared_ptr<const LifecycleCallback> callback;
  {
    std::lock_guard lock(shared_->mutex);
    shared_->stopping = true;
    if (own_thread) {
      // Nobody can wait here for the rest to be delivered, and the host may
      // free what the callback uses as soon as the engine is closed.
      dropped.swap(shared_->queue);
      callback = std::move(shared_->callback);
    }
  }
  shared_->wake.notify_one();
  if (!thread_.joinable()) return;
  if (own_thread) {
    thread_.detach();  // joining itself is impossible; destroying it joinable aborts
  } else {
    thread_.join();
  }
}

void LifecycleReporter::loop(const std::shared_ptr<Shared>& shared) {
  std::unique_lock lock(shared->mutex);
  for (;;) {
    shared->wake.wait(lock, [&] { return shared->stopping || !shared->queue.empty(); });
    if (shared->queue.empty()) return;  // stopping, and everything was delivered
    LifecycleEvent event = std::move(shared->queue.front());
    shared->queue.pop_front();
    auto callback = shared->callback;
    lock.unlock();
    if (callback) {
      try {
        (*callback)(event);
      } catch (...) {
        // Telemetry must never break the engine: the report is dropped.
      }
    }
    lock.lock();
  }
}

}  // namespace storyloom::detail
