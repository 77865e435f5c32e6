// WorkerPool: the threads that run executions, i.e. host code (workflow
// functions and the C ABI's execute callbacks). Each thread shares ownership of
// the queue it reads, so stop() can leave behind a thread that is still inside
// host code past its deadline: that thread ends when its task returns and
// touches nothing the engine frees meanwhile (what the task itself needs, it
// owns: an execution holds the engine core).
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

namespace storyloom::detail {

class WorkerPool {
 public:
  // Starts `threads` threads; each runs `on_thread_start` first.
  WorkerPool(int threads, std::function<void()> on_thread_start);
  // stop() at once, if it was not called.
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Queues `task` for a free thread. Dropped unrun once stop() began.
  void post(std::function<void()> task);
  // Whether a posted task waits for a thread (every thread is busy).
  bool has_waiting_tasks() const;
  // Drops the tasks no thread has taken, joins the threads that are idle or
  // return from their task before `deadline`, and detaches the others.
  // Returns how many were detached (still inside a task). Idempotent.
  size_t stop(std::chrono::steady_clock::time_point deadline);

 private:
  struct Shared;
  static void loop(const std::shared_ptr<Shared>& shared);

  std::shared_ptr<Shared> shared_;
  std::vector<std::thread> threads_;
};

}  // namespace storyloom::detail
