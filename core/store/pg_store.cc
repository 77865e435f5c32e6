#include "store/pg_store.h"

#include <poll.h>

#include <atomic>
#include <condition_variable>
#include <thread>

#include "store/pg_connection.h"
#include "store/pg_schema.h"
#include "store/pg_tx.h"
#include "store/shared_resources.h"

namespace storyloom::store {
namespace {

using pg::Connection;

using pg::kReconnectWindow;
// Reader connections per store; a read beyond them waits for one to be free.
constexpr size_t kMaxReaders = 8;

// The time left to get a working connection back, and the pause between
// attempts (50 ms doubling to 1 s).
class Reconnecting {
 public:
  std::chrono::milliseconds left() const {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - Clock::now());
    return std::max(ms, std::chrono::milliseconds(0));
  }
  // Rethrows the current error once the window is over; else sleeps.
  void wait_or_throw() {
    if (Clock::now() + delay_ > deadline_) throw;
    std::this_thread::sleep_for(delay_);
    delay_ = std::min(delay_ * 2, std::chrono::milliseconds(1000));
  }

 private:
  using Clock = std::chrono::steady_clock;
  Clock::time_point deadline_ = Clock::now() + kReconnectWindow;
  std::chrono::milliseconds delay_{50};
};

// Waits for NOTIFY on the store's channel on its own connection and thread,
// and calls the watcher: a commit in another process woke us. After a lost
// connection it reconnects (backoff) and calls the watcher once, since
// notifications sent meanwhile are gone.
class Listener {
 public:
  Listener(std::string conninfo, std::string display, std::string channel,
           std::function<void()> on_change)
      : conninfo_(std::move(conninfo)), display_(std::move(display)),
        channel_(std::move(channel)), on_change_(std::move(on_change)) {
    thread_ = std::thread([this] { loop(); });
  }
  ~Listener() {
    stopping_ = true;
    thread_.join();
  }

 private:
  void loop() {
    std::unique_ptr<Connection> conn;
    auto delay = std::chrono::milliseconds(50);
    while (!stopping_) {
      if (!conn || !conn->ok()) {
        try {
          conn = std::make_unique<Connection>(conninfo_, display_);
          conn->exec_script("LISTEN " + channel_);
          delay = std::chrono::milliseconds(50);
          on_change_();
        } catch (const Error&) {
          conn.reset();
          std::this_thread::sleep_for(delay);
          delay = std::min(delay * 2, std::chrono::milliseconds(1000));
          continue;
        }
      }
      pollfd fd{PQsocket(conn->raw()), POLLIN, 0};
      if (poll(&fd, 1, 100) <= 0) continue;
      if (!PQconsumeInput(conn->raw())) {
        conn.reset();
        continue;
      }
      bool any = false;
      while (PGnotify* n = PQnotifies(conn->raw())) {
        any = true;
        PQfreemem(n);
      }
      if (any) on_change_();
    }
  }

  std::string conninfo_, display_, channel_;
  std::function<void()> on_change_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

class PgStore final : public Store {
 public:
  PgStore(const std::string& spec, const StoreOptions& options, bool read_only = false)
      : conninfo_(pg::conninfo_of(spec)), display_(pg::redact(spec)), read_only_(read_only) {
    writer_ = std::make_unique<Connection>(conninfo_, display_);
    if (read_only) {
      pg::check_current(*writer_);
    } else {
      pg::migrate(*writer_);
    }
    // The channel is named for the schema, so stores in other schemas of the
    // database do not wake each other.
    std::string key = writer_->query_once("SELECT hashtext('storyloom.write.' || current_schema())")
                          .text(0, 0);
    if (!options.sync_every_commit) writer_->set_session_setup("SET synchronous_commit = off");
    std::string channel = "storyloom_" + (key[0] == '-' ? "n" + key.substr(1) : key);
    // PgTx::commit sends it in a transaction of its own, after kNoteWrote.
    notify_sql_ = "SELECT pg_notify('" + channel +
                  "', '') WHERE current_setting('storyloom.wrote', true) = 't'";
    channel_ = channel;
  }

  ~PgStore() override { listener_.reset(); }

  // A pooled connection whose server restarted still looks open until it is
  // used. A transaction's BEGIN is sent with its first statement
  // (Connection::begin_deferred): when that round trip finds the connection
  // lost, it reconnects (backoff, within kReconnectWindow) and sends both
  // again, so a restart costs a wait, not an error in whichever engine
  // thread asked first. A connection that cannot be made is retried here.
  std::unique_ptr<ReadTx> begin_read() override {
    Reconnecting retry;
    for (;;) {
      Connection* conn = nullptr;
      try {
        conn = acquire_reader();
        conn->ensure(retry.left());
      } catch (const Error&) {
        if (conn) release_reader(conn);
        retry.wait_or_throw();
        continue;
      }
      return std::make_unique<pg::PgTx>(*conn, std::unique_lock<std::mutex>(), false,
                                        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", nullptr,
                                        [this, conn] { release_reader(conn); }, &settled_ahead_);
    }
  }

  std::unique_ptr<WriteTx> begin_write() override {
    if (read_only_) {
      throw Error(ErrorCode::invalid_state,
                  "store '" + display_ + "' is open read-only; nothing can be changed through it");
    }
    std::unique_lock lock(write_mutex_);
    if (!writer_->ok()) writer_->ensure(kReconnectWindow);
    return std::make_unique<pg::PgTx>(*writer_, std::move(lock), true, "BEGIN", &notify_sql_, nullptr,
                                      &settled_ahead_);
  }

  std::shared_ptr<SharedResources> shared_resources() override {
    std::lock_guard lock(readers_mutex_);
    if (!shared_) shared_ = open_pg_shared_resources(conninfo_, display_);
    return shared_;
  }

  void watch_changes(std::function<void()> on_change) override {
    listener_.reset();
    if (on_change) listener_ = std::make_unique<Listener>(conninfo_, display_, channel_, std::move(on_change));
  }

 private:
  Connection* acquire_reader() {
    std::unique_lock lock(readers_mutex_);
    readers_free_.wait(lock, [this] { return !idle_.empty() || opened_ < kMaxReaders; });
    if (!idle_.empty()) {
      Connection* c = idle_.back();
      idle_.pop_back();
      return c;
    }
    ++opened_;  // reserves the slot while connecting unlocked
    lock.unlock();
    std::unique_ptr<Connection> conn;
    try {
      conn = std::make_unique<Connection>(conninfo_, display_);
    } catch (...) {
      lock.lock();
      --opened_;
      readers_free_.notify_one();
      throw;
    }
    lock.lock();
    all_.push_back(std::move(conn));
    return all_.back().get();
  }

  void release_reader(Connection* conn) {
    {
      std::lock_guard lock(readers_mutex_);
      idle_.push_back(conn);
    }
    readers_free_.notify_one();
  }

  std::string conninfo_;
  std::string display_;
  bool read_only_;
  std::string notify_sql_;
  std::string channel_;
  pg::SettledAhead settled_ahead_;
  std::mutex write_mutex_;
  std::unique_ptr<Connection> writer_;
  std::mutex readers_mutex_;
  std::condition_variable readers_free_;
  size_t opened_ = 0;
  std::vector<std::unique_ptr<Connection>> all_;
  std::vector<Connection*> idle_;
  std::shared_ptr<SharedResources> shared_;  // under readers_mutex_
  std::unique_ptr<Listener> listener_;  // declared last: stops first
};

}  // namespace

bool is_postgres_spec(const std::string& spec) { return pg::is_postgres_spec(spec); }
std::string redact_store_spec(const std::string& spec) { return pg::redact(spec); }

std::unique_ptr<Store> open_pg_store(const std::string& spec, const StoreOptions& options) {
  return std::make_unique<PgStore>(spec, options);
}

std::unique_ptr<Store> open_pg_read_only_store(const std::string& spec) {
  return std::make_unique<PgStore>(spec, StoreOptions{}, true);
}

}  // namespace storyloom::store
