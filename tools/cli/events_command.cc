// `events`: stored events, and with --follow the live ones until the run ends.
#include <signal.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>

#include "commands.h"
#include "format.h"

namespace storyloom::cli {
namespace {

constexpr size_t kPageSize = 1000;
// How often the follow loop looks at the stop flag when no event arrives.
constexpr std::chrono::milliseconds kStopCheckInterval{100};

// Set from a signal handler; a lock-free atomic store is async-signal-safe.
std::atomic<bool> g_stop_requested{false};
static_assert(std::atomic<bool>::is_always_lock_free);

void request_stop(int) { g_stop_requested.store(true); }

// Turns SIGINT and SIGTERM into a stop request while it lives, so following
// ends cleanly (the store is closed) instead of killing the process.
class StopOnSignals {
 public:
  StopOnSignals() {
    g_stop_requested.store(false);
    struct sigaction action {};
    action.sa_handler = request_stop;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, &old_int_);
    sigaction(SIGTERM, &action, &old_term_);
  }
  ~StopOnSignals() {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }
  StopOnSignals(const StopOnSignals&) = delete;
  StopOnSignals& operator=(const StopOnSignals&) = delete;

  bool requested() const { return g_stop_requested.load(); }

 private:
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
};

// Events handed over from the engine's delivery thread to the printing thread.
struct EventQueue {
  std::mutex mutex;
  std::condition_variable ready;
  std::deque<Event> events;
};

void print_event(const Event& event, bool sse, std::ostream& out) {
  out << (sse ? format_sse(event) : event_json_line(event));
}

template <typename Reader>
void print_stored_events_of(Reader& reader, const CommandLine& cmd, std::ostream& out) {
  int64_t after = cmd.after_event_id;
  for (;;) {
    auto page = reader.events(cmd.run_id, after, kPageSize);
    for (const auto& event : page) print_event(event, cmd.sse, out);
    if (page.size() < kPageSize) return;
    after = page.back().id;
  }
}

void follow_events(Engine& engine, const CommandLine& cmd, std::ostream& out) {
  // Where the run ends as of now. A finished run ends at its last stored event;
  // an unfinished one at the first run.completed/failed/cancelled after it (an
  // earlier run.failed was followed by a retry).
  Snapshot snapshot = engine.snapshot(cmd.run_id);
  const bool finished = is_finished(snapshot.run.status);
  const int64_t last_id = snapshot.last_event_id;
  if (finished && last_id <= cmd.after_event_id) return;
  auto is_end = [&](const Event& event) {
    if (event.kind == EventKind::transient) return false;
    return finished ? event.id >= last_id : event.ends_run() && event.id > last_id;
  };

  StopOnSignals stop;
  auto queue = std::make_shared<EventQueue>();
  Subscription subscription =
      engine.subscribe(cmd.run_id, cmd.after_event_id, [queue](const Event& event) {
        {
          std::lock_guard lock(queue->mutex);
          queue->events.push_back(event);
        }
        queue->ready.notify_one();
      });
  for (;;) {
    std::deque<Event> batch;
    {
      std::unique_lock lock(queue->mutex);
      queue->ready.wait_for(lock, kStopCheckInterval, [&] { return !queue->events.empty(); });
      batch.swap(queue->events);
    }
    for (const auto& event : batch) {
      print_event(event, cmd.sse, out);
      if (is_end(event)) {
        out.flush();
        return;
      }
    }
    out.flush();
    if (stop.requested()) return;
  }
}

}  // namespace

void print_events(Engine& engine, const CommandLine& cmd, std::ostream& out) {
  if (cmd.follow) {
    follow_events(engine, cmd, out);
  } else {
    print_stored_events_of(engine, cmd, out);
  }
}

void print_stored_events(StoreReader& reader, const CommandLine& cmd, std::ostream& out) {
  print_stored_events_of(reader, cmd, out);
}

}  // namespace storyloom::cli
