#include "engine/lifecycle_reporter.h"

namespace storyloom::detail {

LifecycleReporter::~LifecycleReporter() { stop(); }

void LifecycleReporter::set(LifecycleCallback callback) {
  std::lock_guard lock(mutex_);
  if (stopping_) return;
  callback_ = callback ? std::make_shared<const LifecycleCallback>(std::move(callback)) : nullptr;
  if (callback_ && !thread_.joinable()) thread_ = std::thread([this] { loop(); });
}

bool LifecycleReporter::enabled() const {
  std::lock_guard lock(mutex_);
  return callback_ != nullptr && !stopping_;
}

void LifecycleReporter::report(LifecycleEvent event) {
  {
    std::lock_guard lock(mutex_);
    if (!callback_ || stopping_) return;
    queue_.push_back(std::move(event));
  }
  wake_.notify_one();
}

void LifecycleReporter::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

void LifecycleReporter::loop() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, and everything was delivered
    LifecycleEvent event = std::move(queue_.front());
    queue_.pop_front();
    auto callback = callback_;
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
