// EventHub: fans committed events out to subscribers, with no gap and no
// duplicate across the switch from stored to live, and holds token text that
// is delivered live but not yet persisted.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "store/store.h"
#include "storyloom/events.h"

namespace storyloom::detail {

class EventHub;

class SubscriptionState {
 public:
  void close();

 private:
  friend class EventHub;
  EventHub* hub_ = nullptr;
  std::shared_ptr<void> keep_alive_;  // the engine that owns hub_
  std::string run_id_;
  int64_t last_id_ = 0;
  EventCallback callback_;
  std::deque<std::shared_ptr<const Event>> queue_;
  std::vector<Event> snapshot_;  // unpersisted chunk text at subscribe time
  bool catching_up_ = true;
  bool scheduled_ = false;
  bool closed_ = false;
  bool delivering_ = false;
  std::map<std::string, int64_t> stream_ends_;  // bytes of each stream delivered
};

// Token text of one run's stream that is not yet published as a stored event.
struct PendingChunk {
  std::string run_id;
  std::string stream;
  int64_t offset = 0;
  std::string text;
  int64_t attempt_start = 0;  // where the text of the stream's current attempt begins
};

// A stream's position as this process knows it.
struct StreamPosition {
  int64_t end = 0;            // bytes of the stream so far
  int64_t attempt_start = 0;  // where the current attempt's text begins
};

// The data of a chunk event: {"stream","offset","text","attempt_start"}.
Json chunk_data(const std::string& stream, int64_t offset, std::string_view text,
                int64_t attempt_start);

class EventHub {
 public:
  using ReadStore = std::function<std::unique_ptr<store::ReadTx>()>;

  // `on_thread_start` runs first on the delivery thread.
  EventHub(ReadStore read, int64_t published_through, std::function<void()> on_thread_start = {});
  ~EventHub();
  void stop();

  std::shared_ptr<SubscriptionState> subscribe(const std::string& run_id, int64_t after_id,
                                               EventCallback callback,
                                               std::shared_ptr<void> keep_alive = {});
  void unsubscribe(SubscriptionState& sub);

  // Called after commit with the batch's events. Events are published in id
  // order, each once: events of other processes with ids before the batch's
  // are read from the store and published first; on a store whose writers
  // commit out of id order (PostgreSQL) the batch waits until every id
  // before it is settled (ReadTx::settled_event_id), for catch_up().
  void publish(std::vector<store::EventRecord>&& committed);
  // Publishes everything settled in the store after the last published id;
  // returns the events published here (for the engine to react to other
  // processes).
  std::vector<store::EventRecord> catch_up();

  // Token text starting at byte `offset` of the stream (the execution keeps
  // the count), of the attempt whose text begins at `attempt_start`.
  // Delivered live at once. Returns the bytes not yet taken for writing.
  size_t append_chunk(const std::string& run_id, const std::string& stream, int64_t offset,
                      std::string_view text, int64_t now_ms, int64_t attempt_start);
  // The stream's position if this process holds text of it not yet published.
  std::optional<StreamPosition> stream_position(const std::string& run_id,
                                                const std::string& stream);
  // Takes the run's unflushed text for writing; it stays visible to new
  // subscribers until its stored event is published.
  std::vector<PendingChunk> take_chunks(const std::string& run_id);
  // Runs with text pending since before `older_than_ms`.
  std::vector<std::string> runs_with_pending_chunks(int64_t older_than_ms);
  // Forgets the run's text that will never be stored (its run ended first),
  // so no later subscriber gets it after the run's last event.
  void discard_chunks(const std::string& run_id);

 private:
  struct StreamBuffer {
    int64_t persisted_end = 0;   // published through here
    int64_t flushed_end = 0;     // taken for writing through here
    std::string text;            // bytes from persisted_end on
    int64_t pending_since_ms = 0;  // when unflushed text first appeared; 0 when none
    int64_t attempt_start = 0;
  };
  using StreamKey = std::pair<std::string, std::string>;  // run, stream

  void publish_locked(std::vector<store::EventRecord>& records);
  // Publishes the stored events after published_through_ up to read's
  // settled id, then moves published_through_ there. Caller holds publish_mutex_.
  std::vector<store::EventRecord> publish_settled_locked(store::ReadTx& read);
  void enqueue_locked(const std::shared_ptr<const Event>& event);
  void schedule_locked(const std::shared_ptr<SubscriptionState>& sub);
  void dispatch_loop();
  void deliver(SubscriptionState& sub, const Event& event);
  void deliver_deduplicated(SubscriptionState& sub, const Event& event);
  // Marks it closed and drops it from subscribers_. Caller holds mutex_.
  void remove_locked(SubscriptionState& sub);
  void catch_up_subscriber(const std::shared_ptr<SubscriptionState>& sub);

  ReadStore read_;
  std::mutex publish_mutex_;  // serializes publishing, so ids go out in order
  int64_t published_through_;  // every event up to here is published or will never exist

  std::mutex mutex_;  // subscribers, buffers, dispatch queue
  std::condition_variable wake_;
  std::condition_variable delivered_;
  std::unordered_multimap<std::string, std::shared_ptr<SubscriptionState>> subscribers_;
  std::deque<std::shared_ptr<SubscriptionState>> ready_;
  std::map<StreamKey, StreamBuffer> streams_;
  bool stopping_ = false;
  std::thread dispatcher_;
};

// Builds a public Event from a stored record.
Event to_event(const store::EventRecord& record);

}  // namespace storyloom::detail
