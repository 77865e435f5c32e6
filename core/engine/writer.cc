#include "engine/writer.h"

#include <future>

#include "storyloom/error.h"

namespace storyloom::detail {
namespace {

// Callers see storyloom errors only: anything else from the store becomes one.
std::exception_ptr as_storyloom_error(std::exception_ptr error) {
  try {
    std::rethrow_exception(error);
  } catch (const Error&) {
    return error;
  } catch (const std::exception& e) {
    return std::make_exception_ptr(
        Error(ErrorCode::store, std::string("store write failed: ") + e.what(), ErrorClass::retryable));
  } catch (...) {
    return std::make_exception_ptr(Error(ErrorCode::internal, "store write failed"));
  }
}

}  // namespace

store::EventRecord& Batch::event(const std::string& run_id, const std::string& type,
                                 const Json& data) {
  events_.push_back(tx.append_event(run_id, type, boost::json::serialize(data), now_ms));
  return events_.back();
}

Writer::Writer(store::Store& store, Now now, Publish publish, std::function<void()> on_thread_start)
    : store_(store), now_(std::move(now)), publish_(std::move(publish)) {
  thread_ = std::thread([this, start = std::move(on_thread_start)] {
    if (start) start();
    loop();
  });
}

Writer::~Writer() { stop(); }

void Writer::submit(Op op, Done done, Isolation isolation, bool then_tail, Urgency urgency) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) throw Error(ErrorCode::closed, "the engine is closed");
    if (urgency == Urgency::soon && queue_.empty()) {
      deferred_until_ = std::chrono::steady_clock::now() + defer_at_most_;
    }
    queue_.push_back(Item{std::move(op), std::move(done), isolation});
    // Under the same lock as the push: the batch that takes `op` runs the tail.
    if (then_tail && tail_) tail_requested_ = true;
    if (urgency == Urgency::soon) return;  // the next urgent submit, or the deadline, wakes us
    urgent_ = true;
  }
  wake_.notify_one();
}

void Writer::run(Op op, Isolation isolation) {
  std::promise<void> committed;
  auto result = committed.get_future();
  submit(std::move(op), [&committed](std::exception_ptr error) {
    if (error) {
      committed.set_exception(error);
    } else {
      committed.set_value();
    }
  }, isolation);
  result.get();
}

std::vector<std::exception_ptr> Writer::run_many(std::vector<Op> ops, Isolation isolation) {
  struct Outcome {
    std::mutex mutex;
    std::condition_variable done;
    size_t left = 0;
    std::vector<std::exception_ptr> errors;
  };
  auto outcome = std::make_shared<Outcome>();
  outcome->left = ops.size();
  outcome->errors.resize(ops.size());
  {
    std::lock_guard lock(mutex_);
    if (stopping_) throw Error(ErrorCode::closed, "the engine is closed");
    urgent_ = true;
    for (size_t i = 0; i < ops.size(); ++i) {
      queue_.push_back(Item{std::move(ops[i]),
                            [outcome, i](std::exception_ptr error) {
                              std::lock_guard done_lock(outcome->mutex);
                              outcome->errors[i] = error;
                              if (--outcome->left == 0) outcome->done.notify_all();
                            },
                            isolation});
    }
  }
  wake_.notify_one();
  std::unique_lock lock(outcome->mutex);
  outcome->done.wait(lock, [&] { return outcome->left == 0; });
  return std::move(outcome->errors);
}

void Writer::set_tail(Op tail) {
  std::lock_guard lock(mutex_);
  tail_ = std::move(tail);
}

void Writer::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

void Writer::loop() {
  std::vector<Item> items;
  for (;;) {
    bool run_tail = false;
    {
      std::unique_lock lock(mutex_);
      // Work that can wait (Urgency::soon) waits for the next urgent submit or
      // its deadline, so it shares that batch's commit.
      while (!stopping_ && !urgent_) {
        if (queue_.empty()) {
          wake_.wait(lock);
        } else if (wake_.wait_until(lock, deferred_until_) == std::cv_status::timeout) {
          break;
        }
      }
      if (queue_.empty() && stopping_) return;  // stopping and drained
      urgent_ = false;
      items.swap(queue_);
      run_tail = tail_requested_ && !stopping_;
      tail_requested_ = false;
    }
    apply(items, run_tail);
    items.clear();
  }
}

std::exception_ptr Writer::apply_isolated(Batch& batch, const Op& op) {
  size_t events_before = batch.events_.size();
  size_t after_before = batch.after_commit_.size();
  batch.tx.savepoint();
  try {
    op(batch);
    batch.tx.release();
    return batch.refused_;
  } catch (...) {
    auto error = as_storyloom_error(std::current_exception());
    batch.tx.rollback_to_savepoint();
    batch.events_.resize(events_before);
    batch.after_commit_.resize(after_before);
    return error;
  }
}

std::exception_ptr Writer::apply_contained(Batch& batch, const Op& op) {
  size_t events_before = batch.events_.size();
  size_t after_before = batch.after_commit_.size();
  int64_t written_before = batch.tx.rows_written();
  try {
    op(batch);
    return batch.refused_;
  } catch (...) {
    // Wrote something, then failed: nothing can undo just this op.
    if (!batch.tx.transaction_usable() || batch.tx.rows_written() != written_before) throw;
    batch.events_.resize(events_before);
    batch.after_commit_.resize(after_before);
    return as_storyloom_error(std::current_exception());
  }
}

void Writer::apply(std::vector<Item>& items, bool run_tail) {
  std::vector<std::exception_ptr> errors(items.size());
  std::vector<store::EventRecord> events;
  std::vector<std::function<void()>> after;
  try {
    auto tx = store_.begin_write();
    Batch batch(*tx, now_());
    for (size_t i = 0; i < items.size(); ++i) {
      batch.refused_ = nullptr;
      if (items[i].isolation == Isolation::none) {
        items[i].op(batch);  // throws out of the batch: everything rolls back
        errors[i] = batch.refused_;
        continue;
      }
      if (items[i].isolation == Isolation::contained &&
          batch.tx.failed_statement_undoes_only_itself()) {
        errors[i] = apply_contained(batch, items[i].op);
        continue;
      }
      errors[i] = apply_isolated(batch, items[i].op);
    }
    if (run_tail) {
      batch.refused_ = nullptr;
      apply_isolated(batch, tail_);  // a failed tail leaves nothing behind; its owner retries
    }
    tx->commit();
    events = std::move(batch.events_);
    after = std::move(batch.after_commit_);
  } catch (...) {
    // The whole batch failed: every op gets the error, and nothing of it is
    // published (the transaction rolled back).
    auto error = as_storyloom_error(std::current_exception());
    for (auto& e : errors) e = error;
    events.clear();
    after.clear();
  }
  if (!events.empty()) {
    try {
      publish_(std::move(events));
    } catch (...) {
      // The events are committed. Publishing may read the store (PostgreSQL
      // numbers events out of commit order), and a store that cannot be read
      // now (a database restarting) leaves them to the next publish or
      // catch-up, which reads on from the last id published. The writer
      // thread must not die of it: every op below still gets its outcome.
    }
  }
  for (auto& fn : after) fn();
  for (size_t i = 0; i < items.size(); ++i) {
    if (items[i].done) items[i].done(errors[i]);
  }
}

}  // namespace storyloom::detail
