#include "engine/worker_pool.h"

#include <condition_variable>
#include <deque>
#include <mutex>

namespace storyloom::detail {

struct WorkerPool::Shared {
  std::function<void()> on_thread_start;
  std::mutex mutex;
  std::condition_variable wake;    // a task was queued, or stop() began
  std::condition_variable exited;  // a thread left its loop
  std::deque<std::function<void()>> tasks;
  bool stopping = false;
  // Per thread, by index: true once it left its loop (it will touch nothing more).
  std::vector<bool> done;
};

WorkerPool::WorkerPool(int threads, std::function<void()> on_thread_start)
    : shared_(std::make_shared<Shared>()) {
  shared_->on_thread_start = std::move(on_thread_start);
  shared_->done.assign(static_cast<size_t>(threads), false);
  for (int i = 0; i < threads; ++i) {
    threads_.emplace_back([shared = shared_, i] {
      if (shared->on_thread_start) shared->on_thread_start();
      loop(shared);
      {
        std::lock_guard lock(shared->mutex);
        shared->done[static_cast<size_t>(i)] = true;
      }
      shared->exited.notify_all();
    });
  }
}

WorkerPool::~WorkerPool() { stop(std::chrono::steady_clock::now()); }

void WorkerPool::post(std::function<void()> task) {
  {
    std::lock_guard lock(shared_->mutex);
    if (shared_->stopping) return;
    shared_->tasks.push_back(std::move(task));
  }
  shared_->wake.notify_one();
}

bool WorkerPool::has_waiting_tasks() const {
  std::lock_guard lock(shared_->mutex);
  return !shared_->tasks.empty();
}

void WorkerPool::loop(const std::shared_ptr<Shared>& shared) {
  std::unique_lock lock(shared->mutex);
  for (;;) {
    shared->wake.wait(lock, [&] { return shared->stopping || !shared->tasks.empty(); });
    if (shared->stopping) return;
    auto task = std::move(shared->tasks.front());
    shared->tasks.pop_front();
    lock.unlock();
    task();
    task = nullptr;  // what the task held goes now, not under the lock
    lock.lock();
  }
}

size_t WorkerPool::stop(std::chrono::steady_clock::time_point deadline) {
  std::deque<std::function<void()>> dropped;
  std::vector<bool> done;
  {
    std::unique_lock lock(shared_->mutex);
    if (shared_->stopping) return 0;
    shared_->stopping = true;
    dropped.swap(shared_->tasks);
    shared_->wake.notify_all();
    shared_->exited.wait_until(lock, deadline, [&] {
      for (bool d : shared_->done) {
        if (!d) return false;
      }
      return true;
    });
    done = shared_->done;
  }
  dropped.clear();  // outside the lock: a task may hold the last reference to much
  size_t detached = 0;
  for (size_t i = 0; i < threads_.size(); ++i) {
    if (!threads_[i].joinable()) continue;
    if (done[i]) {
      threads_[i].join();
    } else {
      threads_[i].detach();
      ++detached;
    }
  }
  return detached;
}

}  // namespace storyloom::detail
