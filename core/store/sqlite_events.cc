// SqliteTx's event appends. A batch writes several events per run (created,
// started, step completed, completed...); one INSERT each was a sixth of the
// writer's time, with the AUTOINCREMENT counter read and rewritten by every
// statement. Here they are held in the transaction and inserted by a few
// multi-row statements, with ids handed out as AUTOINCREMENT would: above
// both the counter and every id in the table (this transaction holds the
// write lock, so no other writer can take one meanwhile).
#include "store/sqlite_tx.h"

#include <string>

#include "store/row_codec.h"

namespace storyloom::store::sqlite {
namespace {

constexpr size_t kMaxHeldEvents = 256;
// Rows per statement, largest first: a flush of n events takes at most a few
// statements, and only these few texts are ever prepared.
constexpr size_t kRowsPerStatement[] = {64, 16, 4, 1};

std::string insert_events_sql(size_t rows) {
  std::string sql = "INSERT INTO events (id, run_id, type, data, created_at) VALUES ";
  for (size_t i = 0; i < rows; ++i) sql += i == 0 ? "(?, ?, ?, ?, ?)" : ", (?, ?, ?, ?, ?)";
  return sql;
}

}  // namespace

int64_t SqliteTx::next_event_id() {
  auto& q = conn_.prepare(
      "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0), "
      "coalesce((SELECT max(id) FROM events), 0)) + 1");
  q.executeStep();
  int64_t next = q.getColumn(0).getInt64();
  q.reset();
  return next;
}

EventRecord SqliteTx::append_event(const std::string& run_id, const std::string& type,
                                   const std::string& data, int64_t now_ms) {
  if (next_event_id_ == 0) next_event_id_ = next_event_id();
  pending_events_.push_back(EventRecord{next_event_id_++, run_id, type, data, now_ms});
  EventRecord appended = pending_events_.back();
  if (pending_events_.size() >= kMaxHeldEvents) flush_events();
  return appended;
}

void SqliteTx::flush_events() {
  if (pending_events_.empty()) return;
  try {
    size_t done = 0;
    for (size_t rows : kRowsPerStatement) {
      if (pending_events_.size() - done < rows) continue;
      // The connection caches statements by the text's address: built once.
      static const std::string sql[] = {insert_events_sql(kRowsPerStatement[0]),
                                        insert_events_sql(kRowsPerStatement[1]),
                                        insert_events_sql(kRowsPerStatement[2]),
                                        insert_events_sql(kRowsPerStatement[3])};
      size_t slot = 0;
      while (kRowsPerStatement[slot] != rows) ++slot;
      auto& q = conn_.prepare(sql[slot].c_str());
      while (pending_events_.size() - done >= rows) {
        int i = 1;
        for (size_t k = 0; k < rows; ++k) {
          const auto& e = pending_events_[done + k];
          q.bind(i++, e.id);
          q.bind(i++, e.run_id);
          q.bind(i++, e.type);
          q.bind(i++, e.data);
          q.bind(i++, e.created_at_ms);
        }
        q.exec();
        q.reset();
        done += rows;
      }
    }
    pending_events_.clear();
  } catch (const std::exception& e) {
    // Some of the held events may be in, others not: this transaction can
    // no longer commit what its operations wrote.
    pending_events_.clear();
    events_lost_ = true;
    throw store_error("cannot write events", e);
  }
}

}  // namespace storyloom::store::sqlite
