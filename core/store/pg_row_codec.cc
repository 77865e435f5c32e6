// Decoding PostgreSQL rows into records, with the same rules as row_codec.cc:
// a run column that is not valid JSON marks the run unreadable instead of
// throwing.
#include <boost/json.hpp>

#include "store/pg_tx.h"
#include "storyloom/json.h"

namespace storyloom::store::pg {
namespace {

void mark_unreadable(RunRecord& r, const std::string& why) {
  if (r.info.unreadable.empty()) r.info.unreadable = why;
}

Json json_column(RunRecord& r, const Result& res, int row, int col, const char* name, bool nullable) {
  if (nullable && res.null(row, col)) return nullptr;
  boost::json::parse_options options;
  options.max_depth = kMaxJsonDepthLimit;
  boost::system::error_code ec;
  Json value = boost::json::parse(res.text(row, col), ec, {}, options);
  if (ec) {
    mark_unreadable(r, std::string("stored ") + name + " is not valid JSON (" + ec.message() + ")");
    return nullptr;
  }
  return value;
}

}  // namespace

const char* const kRunColumns =
    "id, workflow, status, input, output, error, progress, owner, idempotency_key, parent_id, "
    "parent_step, priority, available_at, wake_at, waiting_for, lease_owner, created_at, "
    "updated_at, finished_at, deadline_at, started_at, budget, trace_parent";

RunRecord read_run(const Result& q, int row, int first) {
  RunRecord r;
  int i = first;
  r.info.id = q.text(row, i++);
  r.info.workflow = q.text(row, i++);
  std::string status = q.text(row, i++);
  try {
    r.info.status = parse_run_status(status);
  } catch (const Error&) {
    r.info.status = RunStatus::failed;
    mark_unreadable(r, "stored status '" + valid_utf8(status) + "' is not a run status");
  }
  r.info.input = json_column(r, q, row, i++, "input", false);
  r.info.output = json_column(r, q, row, i++, "output", true);
  r.info.error = json_column(r, q, row, i++, "error", true);
  r.info.progress = json_column(r, q, row, i++, "progress", true);
  r.info.owner = q.text(row, i++);
  r.info.idempotency_key = q.null(row, i) ? std::string() : q.text(row, i);
  ++i;
  r.info.parent_id = q.text(row, i++);
  r.parent_step = q.int64(row, i++);
  r.info.priority = static_cast<int>(q.int64(row, i++));
  r.available_at_ms = q.int64(row, i++);
  r.wake_at_ms = q.int64(row, i++);
  r.waiting_for = q.text(row, i++);
  r.lease_owner = q.text(row, i++);
  r.info.created_at_ms = q.int64(row, i++);
  r.info.updated_at_ms = q.int64(row, i++);
  r.info.finished_at_ms = q.int64(row, i++);
  r.deadline_at_ms = q.int64(row, i++);
  r.started_at_ms = q.int64(row, i++);
  Json budget = json_column(r, q, row, i++, "budget", true);
  if (!budget.is_null()) {
    try {
      r.info.budget = budget_from_json(budget, "budget");
    } catch (const Error& e) {
      mark_unreadable(r, std::string("stored ") + e.what());
    }
  }
  r.info.trace_parent = q.text(row, i++);
  return r;
}

std::string bytes_to_hex(const std::string& bytes) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out = "\\x";
  out.reserve(2 + bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

std::string bytes_from_hex(const std::string& text) {
  auto digit = [&](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    throw Error(ErrorCode::store, "stored artifact bytes are not in bytea hex form");
  };
  if (text.size() < 2 || text[0] != '\\' || text[1] != 'x' || text.size() % 2 != 0) {
    throw Error(ErrorCode::store, "stored artifact bytes are not in bytea hex form");
  }
  std::string out;
  out.reserve((text.size() - 2) / 2);
  for (size_t i = 2; i < text.size(); i += 2) {
    out.push_back(static_cast<char>(digit(text[i]) * 16 + digit(text[i + 1])));
  }
  return out;
}

EventRecord read_event(const Result& q, int row) {
  return EventRecord{q.int64(row, 0), q.text(row, 1), q.text(row, 2), q.text(row, 3),
                     q.int64(row, 4)};
}

}  // namespace storyloom::store::pg
