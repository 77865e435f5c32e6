#include "events/hub.h"

#include <algorithm>

namespace storyloom::detail {
namespace {

constexpr size_t kCatchUpPage = 500;

}  // namespace

Json chunk_data(const std::string& stream, int64_t offset, std::string_view text,
                int64_t attempt_start) {
  return boost::json::object{
      {"stream", stream}, {"offset", offset}, {"text", text}, {"attempt_start", attempt_start}};
}

Event to_event(const store::EventRecord& record) {
  Event e;
  e.id = record.id;
  e.kind = EventKind::stored;
  e.run_id = record.run_id;
  e.type = record.type;
  boost::system::error_code ec;
  boost::json::parse_options options;
  options.max_depth = kMaxJsonDepthLimit;  // written under the engine's own limit
  e.data = boost::json::parse(record.data, ec, {}, options);
  if (ec) e.data = record.data;
  e.created_at_ms = record.created_at_ms;
  return e;
}

void SubscriptionState::close() {
  if (hub_ != nullptr) hub_->unsubscribe(*this);
}

EventHub::EventHub(ReadStore read, int64_t published_through, std::function<void()> on_thread_start)
    : read_(std::move(read)), published_through_(published_through) {
  dispatcher_ = std::thread([this, start = std::move(on_thread_start)] {
    if (start) start();
    dispatch_loop();
  });
}

EventHub::~EventHub() { stop(); }

void EventHub::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (dispatcher_.joinable()) dispatcher_.join();
}

std::shared_ptr<SubscriptionState> EventHub::subscribe(const std::string& run_id, int64_t after_id,
                                                       EventCallback callback,
                                                       std::shared_ptr<void> keep_alive) {
  auto sub = std::make_shared<SubscriptionState>();
  sub->hub_ = this;
  sub->keep_alive_ = std::move(keep_alive);
  sub->run_id_ = run_id;
  sub->last_id_ = after_id;
  sub->callback_ = std::move(callback);
  std::lock_guard lock(mutex_);
  subscribers_.emplace(run_id, sub);
  // Text delivered live but not yet published as stored events.
  for (auto it = streams_.lower_bound({run_id, ""}); it != streams_.end() && it->first.first == run_id;
       ++it) {
    if (it->second.text.empty()) continue;
    Event e;
    e.kind = EventKind::transient;
    e.run_id = run_id;
    e.type = "chunk";
    e.data = chunk_data(it->first.second, it->second.persisted_end, it->second.text,
                        it->second.attempt_start);
    sub->snapshot_.push_back(std::move(e));
  }
  schedule_locked(sub);
  return sub;
}

void EventHub::unsubscribe(SubscriptionState& sub) {
  std::unique_lock lock(mutex_);
  if (sub.closed_) return;
  remove_locked(sub);
  if (std::this_thread::get_id() != dispatcher_.get_id()) {
    delivered_.wait(lock, [&sub] { return !sub.delivering_; });
  }
}

void EventHub::publish(std::vector<store::EventRecord>&& committed) {
  if (committed.empty()) return;
  std::lock_guard publishing(publish_mutex_);
  // The common case on a store whose ids follow commit order (SQLite): the
  // batch's ids come right after the last published one.
  if (committed.front().id == published_through_ + 1 &&
      committed.back().id - committed.front().id + 1 == static_cast<int64_t>(committed.size())) {
    publish_locked(committed);
    return;
  }
  // Another process committed events in between, or the store numbers
  // events out of commit order (PostgreSQL): publish everything settled, in
  // id order, this batch included (it is in the store). A batch beyond what
  // is settled waits for the catch_up() that the commit settling it triggers.
  publish_settled_locked(*read_());
}

std::vector<store::EventRecord> EventHub::catch_up() {
  std::lock_guard publishing(publish_mutex_);
  return publish_settled_locked(*read_());
}

std::vector<store::EventRecord> EventHub::publish_settled_locked(store::ReadTx& read) {
  std::vector<store::EventRecord> all;
  int64_t settled = 0;
  auto page = read.settled_events_since(published_through_, kCatchUpPage, &settled);
  while (!page.empty()) {
    bool full = page.size() == kCatchUpPage;
    publish_locked(page);
    for (auto& r : page) all.push_back(std::move(r));
    if (!full) break;
    page = read.events_since(published_through_, kCatchUpPage);
  }
  // Ids up to `settled` that were never read are holes (rolled back): no
  // event can appear there any more.
  published_through_ = std::max(published_through_, settled);
  return all;
}

void EventHub::publish_locked(std::vector<store::EventRecord>& records) {
  std::lock_guard lock(mutex_);
  for (const auto& r : records) {
    if (r.id <= published_through_) continue;
    published_through_ = r.id;
    bool is_chunk = r.type == "chunk";
    if (!is_chunk && subscribers_.count(r.run_id) == 0) continue;
    auto event = std::make_shared<const Event>(to_event(r));
    if (is_chunk && event->data.is_object()) {
      // The text is now stored: drop it from the live buffer.
      const auto& d = event->data.as_object();
      const auto* stream = d.if_contains("stream");
      const auto* offset = d.if_contains("offset");
      const auto* text = d.if_contains("text");
      if (stream && offset && text && stream->is_string() && offset->is_int64() && text->is_string()) {
        auto it = streams_.find({r.run_id, std::string(stream->as_string())});
        if (it != streams_.end()) {
          int64_t end = offset->as_int64() + static_cast<int64_t>(text->as_string().size());
          auto& buf = it->second;
          if (end > buf.persisted_end) {
            buf.text.erase(0, static_cast<size_t>(end - buf.persisted_end));
            buf.persisted_end = end;
          }
          if (buf.text.empty() && buf.flushed_end <= buf.persisted_end) streams_.erase(it);
        }
      }
    }
    enqueue_locked(event);
  }
}

void EventHub::enqueue_locked(const std::shared_ptr<const Event>& event) {
  auto range = subscribers_.equal_range(event->run_id);
  for (auto it = range.first; it != range.second; ++it) {
    it->second->queue_.push_back(event);
    schedule_locked(it->second);
  }
}

void EventHub::schedule_locked(const std::shared_ptr<SubscriptionState>& sub) {
  if (sub->scheduled_) return;
  sub->scheduled_ = true;
  ready_.push_back(sub);
  wake_.notify_one();
}

size_t EventHub::append_chunk(const std::string& run_id, const std::string& stream, int64_t offset,
                              std::string_view text, int64_t now_ms, int64_t attempt_start) {
  std::lock_guard lock(mutex_);
  auto [it, inserted] = streams_.try_emplace({run_id, stream});
  auto& buf = it->second;
  if (inserted || buf.persisted_end + static_cast<int64_t>(buf.text.size()) != offset) {
    // New stream here, or the execution restarted it: its count is the truth.
    buf.persisted_end = offset;
    buf.flushed_end = offset;
    buf.text.clear();
  }
  buf.text.append(text);
  buf.attempt_start = attempt_start;
  if (buf.pending_since_ms == 0) buf.pending_since_ms = now_ms;
  auto event = std::make_shared<Event>();
  event->kind = EventKind::transient;
  event->run_id = run_id;
  event->type = "chunk";
  event->data = chunk_data(stream, offset, text, attempt_start);
  event->created_at_ms = now_ms;
  enqueue_locked(event);
  return static_cast<size_t>(buf.persisted_end + static_cast<int64_t>(buf.text.size()) -
                             buf.flushed_end);
}

std::optional<StreamPosition> EventHub::stream_position(const std::string& run_id,
                                                        const std::string& stream) {
  std::lock_guard lock(mutex_);
  auto it = streams_.find({run_id, stream});
  if (it == streams_.end()) return std::nullopt;
  return StreamPosition{it->second.persisted_end + static_cast<int64_t>(it->second.text.size()),
                        it->second.attempt_start};
}

std::vector<PendingChunk> EventHub::take_chunks(const std::string& run_id) {
  std::vector<PendingChunk> out;
  std::lock_guard lock(mutex_);
  for (auto it = streams_.lower_bound({run_id, ""}); it != streams_.end() && it->first.first == run_id;
       ++it) {
    auto& buf = it->second;
    int64_t end = buf.persisted_end + static_cast<int64_t>(buf.text.size());
    if (end <= buf.flushed_end) continue;
    out.push_back(PendingChunk{run_id, it->first.second, buf.flushed_end,
                               buf.text.substr(static_cast<size_t>(buf.flushed_end - buf.persisted_end)),
                               buf.attempt_start});
    buf.flushed_end = end;
    buf.pending_since_ms = 0;
  }
  return out;
}

void EventHub::discard_chunks(const std::string& run_id) {
  std::lock_guard lock(mutex_);
  auto it = streams_.lower_bound({run_id, ""});
  while (it != streams_.end() && it->first.first == run_id) it = streams_.erase(it);
}

std::vector<std::string> EventHub::runs_with_pending_chunks(int64_t older_than_ms) {
  std::vector<std::string> out;
  std::lock_guard lock(mutex_);
  for (const auto& [key, buf] : streams_) {
    if (buf.pending_since_ms != 0 && buf.pending_since_ms <= older_than_ms &&
        (out.empty() || out.back() != key.first)) {
      out.push_back(key.first);
    }
  }
  return out;
}

void EventHub::dispatch_loop() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || !ready_.empty(); });
    if (stopping_) return;
    auto sub = std::move(ready_.front());
    ready_.pop_front();
    if (sub->closed_) {
      sub->scheduled_ = false;
      continue;
    }
    if (sub->catching_up_) {
      lock.unlock();
      catch_up_subscriber(sub);
      lock.lock();
      sub->catching_up_ = false;
    }
    while (!sub->queue_.empty() && !sub->closed_ && !stopping_) {
      auto event = std::move(sub->queue_.front());
      sub->queue_.pop_front();
      sub->delivering_ = true;
      lock.unlock();
      deliver(*sub, *event);
      lock.lock();
      sub->delivering_ = false;
      delivered_.notify_all();
    }
    sub->scheduled_ = false;
  }
}

void EventHub::catch_up_subscriber(const std::shared_ptr<SubscriptionState>& sub) {
  auto deliver_guarded = [&](const Event& e) {
    {
      std::lock_guard lock(mutex_);
      if (sub->closed_ || stopping_) return false;
      sub->delivering_ = true;
    }
    deliver(*sub, e);
    std::lock_guard lock(mutex_);
    sub->delivering_ = false;
    delivered_.notify_all();
    return true;
  };
  for (;;) {
    std::vector<store::EventRecord> page;
    try {
      page = read_()->events(sub->run_id_, sub->last_id_, kCatchUpPage);
    } catch (const std::exception&) {
      break;  // the store is gone (closing); live delivery continues
    }
    for (const auto& r : page) {
      if (!deliver_guarded(to_event(r))) return;
    }
    if (page.size() < kCatchUpPage) break;
  }
  for (const auto& e : sub->snapshot_) {
    if (!deliver_guarded(e)) return;
  }
  sub->snapshot_.clear();
}

void EventHub::deliver(SubscriptionState& sub, const Event& event) {
  try {
    deliver_deduplicated(sub, event);
  } catch (...) {
    // Nobody to report to on this thread: a callback that throws ends its
    // subscription rather than the process.
    std::lock_guard lock(mutex_);
    remove_locked(sub);
  }
}

void EventHub::remove_locked(SubscriptionState& sub) {
  sub.closed_ = true;
  auto range = subscribers_.equal_range(sub.run_id_);
  for (auto it = range.first; it != range.second; ++it) {
    if (it->second.get() == &sub) {
      subscribers_.erase(it);
      return;
    }
  }
}

void EventHub::deliver_deduplicated(SubscriptionState& sub, const Event& event) {
  if (event.kind == EventKind::stored) {
    if (event.id <= sub.last_id_) return;
    sub.last_id_ = event.id;
  }
  if (event.type != "chunk" || !event.data.is_object()) {
    sub.callback_(event);
    return;
  }
  const auto& d = event.data.as_object();
  const auto* stream = d.if_contains("stream");
  const auto* offset = d.if_contains("offset");
  const auto* text = d.if_contains("text");
  if (!stream || !offset || !text || !stream->is_string() || !offset->is_int64() || !text->is_string()) {
    sub.callback_(event);
    return;
  }
  std::string name(stream->as_string());
  int64_t start = offset->as_int64();
  const auto* attempt = d.if_contains("attempt_start");
  int64_t attempt_start = attempt && attempt->is_int64() ? attempt->as_int64() : 0;
  int64_t end = start + static_cast<int64_t>(text->as_string().size());
  auto known = sub.stream_ends_.find(name);
  int64_t have = known == sub.stream_ends_.end() ? -1 : known->second;
  if (have >= end) {
    // Every byte already delivered: a stored event only moves the cursor.
    if (event.kind == EventKind::stored) {
      Event cursor = event;
      cursor.kind = EventKind::cursor;
      cursor.data = chunk_data(name, end, "", attempt_start);
      sub.callback_(cursor);
    }
    return;
  }
  sub.stream_ends_[name] = end;
  if (have > start) {
    Event trimmed = event;
    auto skip = static_cast<size_t>(have - start);
    trimmed.data = chunk_data(name, have, std::string_view(text->as_string()).substr(skip),
                              attempt_start);
    sub.callback_(trimmed);
    return;
  }
  sub.callback_(event);
}

}  // namespace storyloom::detail
