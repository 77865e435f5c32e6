// Subscription: a run's events, stored then live (sl_engine_subscribe), queued
// on the engine's event thread and drained by Python.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "native.h"

namespace storyloom_native {

struct EventCopy {
  int64_t id;
  int kind;
  std::string run_id, type, data_json;
  int64_t created_at_ms;
};

using EventTuple = std::tuple<int64_t, int, std::string, std::string, std::string, int64_t>;

// Filled on the engine's event thread, drained by Python; never runs Python.
struct EventQueue {
  std::mutex mutex;
  std::condition_variable ready;
  std::deque<EventCopy> events;

  static void on_event(void* user_data, const sl_event* ev) {
    auto* q = static_cast<EventQueue*>(user_data);
    EventCopy copy{ev->id,
                   ev->kind,
                   std::string(ev->run_id, ev->run_id_len),
                   std::string(ev->type, ev->type_len),
                   std::string(ev->data_json, ev->data_len),
                   ev->created_at_ms};
    {
      std::lock_guard lock(q->mutex);
      q->events.push_back(std::move(copy));
    }
    q->ready.notify_one();
  }
};

class Subscription {
 public:
  Subscription() : queue_(std::make_unique<EventQueue>()) {}
  ~Subscription() { close_handle(); }

  void open(sl_engine* engine, const std::string& run_id, int64_t after_id) {
    sl_subscription* sub = nullptr;
    EventQueue* q = queue_.get();
    call([&] {
      return sl_engine_subscribe(&sub, engine, run_id.data(), run_id.size(), after_id,
                                 &EventQueue::on_event, q);
    });
    sub_ = sub;
  }

  // The next event, or None after timeout_s seconds (negative: wait forever).
  std::optional<EventTuple> next(double timeout_s) {
    std::optional<EventCopy> got;
    {
      ReleasedGil released;
      std::unique_lock lock(queue_->mutex);
      auto has = [&] { return !queue_->events.empty(); };
      if (timeout_s < 0) {
        queue_->ready.wait(lock, has);
      } else {
        queue_->ready.wait_for(lock, std::chrono::duration<double>(timeout_s), has);
      }
      if (!queue_->events.empty()) {
        got = std::move(queue_->events.front());
        queue_->events.pop_front();
      }
    }
    if (!got) return std::nullopt;
    return EventTuple{got->id,
                      got->kind,
                      std::move(got->run_id),
                      std::move(got->type),
                      std::move(got->data_json),
                      got->created_at_ms};
  }

  // Every queued event (at most max_events), waiting up to timeout_s seconds for the
  // first one; empty after the timeout. One GIL round trip per batch, not per event.
  std::vector<EventTuple> next_batch(double timeout_s, size_t max_events) {
    std::vector<EventCopy> got;
    {
      ReleasedGil released;
      std::unique_lock lock(queue_->mutex);
      auto has = [&] { return !queue_->events.empty(); };
      if (timeout_s < 0) {
        queue_->ready.wait(lock, has);
      } else {
        queue_->ready.wait_for(lock, std::chrono::duration<double>(timeout_s), has);
      }
      while (!queue_->events.empty() && got.size() < max_events) {
        got.push_back(std::move(queue_->events.front()));
        queue_->events.pop_front();
      }
    }
    std::vector<EventTuple> out;
    out.reserve(got.size());
    for (auto& e : got) {
      out.emplace_back(e.id, e.kind, std::move(e.run_id), std::move(e.type), std::move(e.data_json),
                       e.created_at_ms);
    }
    return out;
  }

  void close() {
    ReleasedGil released;
    close_handle();
  }

 private:
  void close_handle() {
    sl_subscription* sub = std::exchange(sub_, nullptr);
    sl_subscription_close(sub);
  }

  std::unique_ptr<EventQueue> queue_;
  sl_subscription* sub_ = nullptr;
};

}  // namespace storyloom_native
