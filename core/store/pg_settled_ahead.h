// The read that follows every write commit, done with the commit. After its
// writer thread commits, the engine publishes the batch's events by reading
// the events settled since the last it published
// (ReadTx::settled_events_since): on PostgreSQL that is a round trip of its
// own on a reader connection, which the writer thread waits for before the
// next batch. PgTx::commit sends the same query in the commit's own round
// trip instead, from the lowest id the engine can still ask after, and keeps
// the answer here for that thread's next read of settled events.
//
// Any answer read after the commit is a correct one: ids up to `settled`
// can no longer appear (every transaction that could write them has ended),
// so the events kept, filtered to those after the id asked for, are all the
// settled events after it, only perhaps settled a moment earlier than a
// fresh read would say. An answer whose page was full is not used.
#pragma once

#include <algorithm>
#include <cstdint>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "store/store.h"

namespace storyloom::store::pg {

class SettledAhead {
 public:
  // Every later settled_events_since asks after this id or a higher one: the
  // engine's hub publishes up to what it read (the id asked after, the
  // settled id answered), and its mark only rises. 0 until the first read:
  // nothing is read ahead before then.
  int64_t floor() const {
    std::lock_guard lock(mutex_);
    return floor_;
  }
  void note_read(int64_t after_id, int64_t settled) {
    std::lock_guard lock(mutex_);
    floor_ = std::max({floor_, after_id, settled});
  }
  // Kept by the committing thread, for its own next read: up to kPage
  // events after `after_id` and the settled id they were read with.
  static constexpr size_t kPage = 500;
  void keep(int64_t after_id, int64_t settled, std::vector<EventRecord> events) {
    std::lock_guard lock(mutex_);
    kept_ = Kept{std::this_thread::get_id(), after_id, settled, std::move(events)};
  }
  void drop() {
    std::lock_guard lock(mutex_);
    kept_.reset();
  }
  // The kept answer for this thread's read of up to `limit` events after
  // `after_id`, once: nullopt when there is none for it (kept by another
  // thread, read from above `after_id`, a full page, more than `limit`).
  std::optional<std::vector<EventRecord>> take(int64_t after_id, size_t limit, int64_t* settled) {
    std::lock_guard lock(mutex_);
    if (!kept_ || kept_->thread != std::this_thread::get_id()) return std::nullopt;
    Kept k = std::move(*kept_);
    kept_.reset();
    if (after_id < k.after_id || k.events.size() >= kPage) return std::nullopt;
    std::vector<EventRecord> out;
    for (auto& e : k.events) {
      if (e.id > after_id) out.push_back(std::move(e));
    }
    if (out.size() > limit) return std::nullopt;
    *settled = k.settled;
    floor_ = std::max({floor_, after_id, k.settled});
    return out;
  }

 private:
  struct Kept {
    std::thread::id thread;
    int64_t after_id;
    int64_t settled;
    std::vector<EventRecord> events;
  };
  mutable std::mutex mutex_;
  int64_t floor_ = 0;
  std::optional<Kept> kept_;
};

}  // namespace storyloom::store::pg
