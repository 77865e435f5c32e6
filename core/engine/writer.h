// Writer: the one thread that writes to the store. Operations queued from any
// thread are applied in order and group-committed: one transaction per batch,
// and a failing operation rolls back alone (see Isolation for how).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "store/store.h"
#include "storyloom/error.h"
#include "storyloom/json.h"

namespace storyloom::detail {

// What an operation sees: the transaction, the batch's time, and places to put
// events (published after commit) and work to do after commit.
class Batch {
 public:
  Batch(store::WriteTx& transaction, int64_t batch_now_ms) : tx(transaction), now_ms(batch_now_ms) {}
  store::WriteTx& tx;
  const int64_t now_ms;

  store::EventRecord& event(const std::string& run_id, const std::string& type, const Json& data);
  void after_commit(std::function<void()> fn) { after_commit_.push_back(std::move(fn)); }
  // The operation declines to write (its run was cancelled or taken over, say):
  // nothing of it is applied and its `done` gets `error` instead of success.
  // The rest of the batch is unaffected. The op must not have written anything.
  void refuse(Error error) { refused_ = std::make_exception_ptr(std::move(error)); }

 private:
  friend class Writer;
  std::vector<store::EventRecord> events_;
  std::vector<std::function<void()>> after_commit_;
  std::exception_ptr refused_;
};

class Writer {
 public:
  using Op = std::function<void(Batch&)>;
  using Done = std::function<void(std::exception_ptr)>;
  using Publish = std::function<void(std::vector<store::EventRecord>&&)>;
  using Now = std::function<int64_t()>;

  // `on_thread_start` runs first on the writer thread.
  Writer(store::Store& store, Now now, Publish publish, std::function<void()> on_thread_start = {});
  ~Writer();  // stop()

  // How an operation's failure is kept from the rest of its batch.
  // - savepoint: the op gets its own savepoint and rolls back alone. For ops
  //   that validate and may refuse after writing (cancel, retry...).
  // - contained: the op fails only before it writes (its checks come first;
  //   a unique key it hits undoes only that statement) or when the store
  //   fails. Where the store's failed statements undo only themselves
  //   (SQLite), it runs without a savepoint and its cost: an op that failed
  //   having written nothing fails alone; one that had written, or that left
  //   the transaction unusable, fails the whole batch. Elsewhere, a savepoint.
  //   Start and signal are contained.
  // - none: the op fails only when the store itself fails, and then the whole
  //   batch fails with it.
  enum class Isolation { savepoint, contained, none };
  // When the writer should take an op up.
  // - now: wake the writer at once.
  // - soon: the op may wait, at most kDeferAtMost, for the next op submitted
  //   with `now` and share its commit. For a run's end when the execution
  //   slot it frees has its next run ready: that run's first write follows
  //   within microseconds, and the two then pay one commit instead of two.
  enum class Urgency { now, soon };
  static constexpr std::chrono::microseconds kDeferAtMost{1000};

  // Queues `op`; `done` runs on the writer thread after the batch commits, or
  // with the op's exception, its refusal, or the error that failed the whole
  // batch (then nothing of the batch was written). Every queued op gets its
  // `done`: no write is dropped silently. Throws Error(closed) after stop().
  // `then_tail`: the tail (set_tail) runs at the end of the batch that applies `op`.
  void submit(Op op, Done done = {}, Isolation isolation = Isolation::savepoint,
              bool then_tail = false, Urgency urgency = Urgency::now);
  // Queues `op` and waits until it is committed; rethrows its exception.
  void run(Op op, Isolation isolation = Isolation::savepoint);
  // Queues every op at once (so they share a commit, each in its own
  // savepoint) and waits for all; returns each op's error, null when it
  // committed. Throws Error(closed) after stop().
  std::vector<std::exception_ptr> run_many(std::vector<Op> ops,
                                          Isolation isolation = Isolation::savepoint);
  // The tail: an op the writer applies at the end of a batch (in its own
  // savepoint; its errors are dropped) that holds an op submitted with
  // then_tail. The engine refills a freed execution slot with it, so the
  // claim of the next run shares the commit of the run that just ended. Set
  // before any submit.
  void set_tail(Op tail);
  // How long a `soon` op may wait (kDeferAtMost unless set; tests set it).
  // Set before any submit.
  void set_defer_at_most(std::chrono::microseconds wait) { defer_at_most_ = wait; }
  // Applies everything queued, then stops the thread.
  void stop();

 private:
  struct Item {
    Op op;
    Done done;
    Isolation isolation;
  };
  void loop();
  void apply(std::vector<Item>& items, bool run_tail);
  // Applies one op in its own savepoint; returns its error (null: applied).
  std::exception_ptr apply_isolated(Batch& batch, const Op& op);
  // Applies a contained op without a savepoint (see Isolation); returns its
  // error, or throws to fail the batch.
  std::exception_ptr apply_contained(Batch& batch, const Op& op);

  store::Store& store_;
  Now now_;
  Publish publish_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<Item> queue_;
  Op tail_;
  bool tail_requested_ = false;
  bool urgent_ = false;  // an op submitted with Urgency::now is queued
  std::chrono::steady_clock::time_point deferred_until_;  // when queued `soon` ops stop waiting
  std::chrono::microseconds defer_at_most_ = kDeferAtMost;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace storyloom::detail
