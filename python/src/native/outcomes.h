// Outcomes of the asynchronous sl_* calls (llm, http and image steps, resource
// admissions, durability waits, async starts): copied on engine threads, never
// running Python there; a sync workflow waits for its outcome with the GIL
// released, an async one gets it through an Inbox its feeder thread drains.
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

// (status, error_class, message, result JSON or None, memoized, will_retry)
using OutcomeTuple = std::tuple<int, int, std::string, std::optional<std::string>, bool, bool>;

struct OutcomeCopy {
  int status = SL_OK;
  int error_class = SL_CLASS_FATAL;
  std::string message;
  std::optional<std::string> result_json;
  bool memoized = false;
  bool will_retry = false;

  OutcomeTuple tuple() && {
    return {status, error_class, std::move(message), std::move(result_json), memoized, will_retry};
  }
};

// Outcomes of the calls async workflows started (llm steps, resource admissions),
// filled on engine threads and drained by one Python feeder thread that hands them to
// the engine's asyncio loop.
class Inbox {
 public:
  void push(uint64_t token, OutcomeCopy outcome) {
    {
      std::lock_guard lock(mutex_);
      outcomes_.emplace_back(token, std::move(outcome));
    }
    ready_.notify_one();
  }

  // Every queued outcome (at most max_outcomes), waiting up to timeout_s seconds for the
  // first one (negative: until one comes or close()); empty after the timeout or close.
  std::vector<std::pair<uint64_t, OutcomeTuple>> next_batch(double timeout_s, size_t max_outcomes) {
    std::vector<std::pair<uint64_t, OutcomeCopy>> got;
    {
      ReleasedGil released;
      std::unique_lock lock(mutex_);
      auto has = [&] { return closed_ || !outcomes_.empty(); };
      if (timeout_s < 0) {
        ready_.wait(lock, has);
      } else {
        ready_.wait_for(lock, std::chrono::duration<double>(timeout_s), has);
      }
      while (!outcomes_.empty() && got.size() < max_outcomes) {
        got.push_back(std::move(outcomes_.front()));
        outcomes_.pop_front();
      }
    }
    std::vector<std::pair<uint64_t, OutcomeTuple>> out;
    out.reserve(got.size());
    for (auto& [token, outcome] : got) out.emplace_back(token, std::move(outcome).tuple());
    return out;
  }

  // Wakes the feeder; outcomes that arrive later are still queued (nobody reads them).
  void close() {
    {
      std::lock_guard lock(mutex_);
      closed_ = true;
    }
    ready_.notify_all();
  }

  bool closed() {
    std::lock_guard lock(mutex_);
    return closed_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::pair<uint64_t, OutcomeCopy>> outcomes_;
  bool closed_ = false;
};

// One asynchronous sl_* call. Its outcome lands in `outcome` when it comes before the
// call returned (a memoized llm step, an admission at once) or when nobody uses an inbox
// (a sync workflow waiting on `done`); otherwise it goes to the inbox. The callbacks run
// on the calling thread or an engine thread (the LLM I/O thread, the resource limiter's):
// they copy and notify, never wait for the GIL.
struct Pending {
  std::mutex mutex;
  std::condition_variable done;
  bool returned = false;
  std::optional<OutcomeCopy> outcome;
  std::shared_ptr<Inbox> inbox;
  uint64_t token = 0;

  using Box = std::shared_ptr<Pending>;  // user_data: a heap copy the callback deletes

  static void on_llm(void* user_data, const sl_llm_outcome* o) {
    OutcomeCopy copy;
    copy.status = o->status;
    copy.error_class = o->error_class;
    copy.message.assign(o->message ? o->message : "", o->message ? o->message_len : 0);
    if (o->result_json != nullptr) copy.result_json.emplace(o->result_json, o->result_len);
    copy.memoized = o->memoized != 0;
    copy.will_retry = o->will_retry != 0;
    deliver(user_data, std::move(copy));
  }

  // An http step's outcome has the fields of an llm step's.
  static void on_http(void* user_data, const sl_http_outcome* o) {
    sl_llm_outcome same{o->status,      o->error_class, o->message,  o->message_len,
                        o->result_json, o->result_len,  o->memoized, o->will_retry};
    on_llm(user_data, &same);
  }

  // So has an image step's.
  static void on_image(void* user_data, const sl_image_outcome* o) {
    sl_llm_outcome same{o->status,      o->error_class, o->message,  o->message_len,
                        o->result_json, o->result_len,  o->memoized, o->will_retry};
    on_llm(user_data, &same);
  }

  static void on_acquired(void* user_data, int status, const char* message, size_t len) {
    OutcomeCopy copy;
    copy.status = status;
    copy.message.assign(message ? message : "", message ? len : 0);
    deliver(user_data, std::move(copy));
  }

  // sl_start_fn: on the engine's writer thread; the run JSON goes where a step's result does.
  static void on_start(void* user_data, int status, const char* run_json, size_t run_json_len,
                       const char* message, size_t message_len) {
    OutcomeCopy copy;
    copy.status = status;
    copy.message.assign(message ? message : "", message ? message_len : 0);
    if (status == SL_OK && run_json != nullptr) copy.result_json.emplace(run_json, run_json_len);
    deliver(user_data, std::move(copy));
  }

  // sl_durable_fn: on the calling thread or the engine's writer thread, which must not
  // wait (for the GIL least of all): copy, then notify or queue.
  static void on_durable(void* user_data, int status, const char* message, size_t len) {
    on_acquired(user_data, status, message, len);
  }

 private:
  static void deliver(void* user_data, OutcomeCopy copy) {
    std::unique_ptr<Box> box(static_cast<Box*>(user_data));
    Pending& p = **box;
    {
      std::lock_guard lock(p.mutex);
      if (!p.returned || !p.inbox) {
        p.outcome = std::move(copy);
        p.done.notify_all();
        return;
      }
    }
    p.inbox->push(p.token, std::move(copy));
  }
};

// Runs start(user_data) -> status without the GIL and waits (GIL released) for the
// outcome; raises the call's own error. For sync workflows on worker threads.
template <typename Start>
OutcomeTuple wait_for_outcome(Start&& start) {
  auto pending = std::make_shared<Pending>();
  int rc;
  {
    ReleasedGil released;
    auto* box = new Pending::Box(pending);
    rc = start(static_cast<void*>(box));
    if (rc != SL_OK) {
      delete box;  // the callback never runs after an error
    } else {
      std::unique_lock lock(pending->mutex);
      pending->done.wait(lock, [&] { return pending->outcome.has_value(); });
    }
  }
  check(rc);
  return std::move(*pending->outcome).tuple();
}

// Runs start(user_data) -> status; the outcome when it came before the call returned,
// else None and the outcome goes to `inbox` under `token`. For async workflows.
template <typename Start>
std::optional<OutcomeTuple> begin_outcome(std::shared_ptr<Inbox> inbox, uint64_t token,
                                          Start&& start) {
  auto pending = std::make_shared<Pending>();
  pending->inbox = std::move(inbox);
  pending->token = token;
  call([&] {
    auto* box = new Pending::Box(pending);
    int rc = start(static_cast<void*>(box));
    if (rc != SL_OK) delete box;
    return rc;
  });
  std::lock_guard lock(pending->mutex);
  pending->returned = true;
  if (!pending->outcome) return std::nullopt;
  return std::move(*pending->outcome).tuple();
}

}  // namespace storyloom_native
