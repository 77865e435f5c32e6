#include "store/row_codec.h"

#include "storyloom/error.h"

namespace storyloom::store {
namespace {

// Stored JSON was checked against the engine's depth limit when it was
// written; it is read back at the highest limit any engine may set.
Json parse_stored(std::string_view text, boost::system::error_code& ec) {
  boost::json::parse_options options;
  options.max_depth = kMaxJsonDepthLimit;
  return boost::json::parse(text, ec, {}, options);
}

std::string text_or_empty(const SQLite::Column& c) {
  return c.isNull() ? std::string() : c.getString();
}

// Records the first undecodable column of the run; the field stays null.
void mark_unreadable(RunRecord& r, const std::string& why) {
  if (r.info.unreadable.empty()) r.info.unreadable = why;
}

Json json_column(RunRecord& r, const SQLite::Column& c, const char* name, bool nullable) {
  if (nullable && c.isNull()) return nullptr;
  boost::system::error_code ec;
  Json value = parse_stored(c.isNull() ? std::string() : c.getString(), ec);
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

RunRecord read_run(SQLite::Statement& q, int first) {
  RunRecord r;
  int i = first;
  r.info.id = q.getColumn(i++).getString();
  r.info.workflow = q.getColumn(i++).getString();
  std::string status = q.getColumn(i++).getString();
  try {
    r.info.status = parse_run_status(status);
  } catch (const Error&) {
    // Failed, so nothing claims or resumes it; the flag tells the truth.
    r.info.status = RunStatus::failed;
    mark_unreadable(r, "stored status '" + valid_utf8(status) + "' is not a run status");
  }
  r.info.input = json_column(r, q.getColumn(i++), "input", false);
  r.info.output = json_column(r, q.getColumn(i++), "output", true);
  r.info.error = json_column(r, q.getColumn(i++), "error", true);
  r.info.progress = json_column(r, q.getColumn(i++), "progress", true);
  r.info.owner = q.getColumn(i++).getString();
  r.info.idempotency_key = text_or_empty(q.getColumn(i++));
  r.info.parent_id = q.getColumn(i++).getString();
  r.parent_step = q.getColumn(i++).getInt64();
  r.info.priority = q.getColumn(i++).getInt();
  r.available_at_ms = q.getColumn(i++).getInt64();
  r.wake_at_ms = q.getColumn(i++).getInt64();
  r.waiting_for = q.getColumn(i++).getString();
  r.lease_owner = q.getColumn(i++).getString();
  r.info.created_at_ms = q.getColumn(i++).getInt64();
  r.info.updated_at_ms = q.getColumn(i++).getInt64();
  r.info.finished_at_ms = q.getColumn(i++).getInt64();
  r.deadline_at_ms = q.getColumn(i++).getInt64();
  r.started_at_ms = q.getColumn(i++).getInt64();
  Json budget = json_column(r, q.getColumn(i++), "budget", true);
  if (!budget.is_null()) {
    try {
      r.info.budget = budget_from_json(budget, "budget");
    } catch (const Error& e) {
      mark_unreadable(r, std::string("stored ") + e.what());
    }
  }
  r.info.trace_parent = q.getColumn(i++).getString();
  return r;
}

EventRecord read_event(SQLite::Statement& q) {
  return EventRecord{q.getColumn(0).getInt64(), q.getColumn(1).getString(),
                     q.getColumn(2).getString(), q.getColumn(3).getString(),
                     q.getColumn(4).getInt64()};
}

Error unreadable_run_error(const RunRecord& run) {
  return Error(ErrorCode::store,
               "run '" + run.info.id + "' cannot be read from the store: " + run.info.unreadable);
}

Json decode_stored_json(std::string_view text, std::string_view run_id, std::string_view what) {
  boost::system::error_code ec;
  Json value = parse_stored(text, ec);
  if (ec) {
    throw Error(ErrorCode::store, "run '" + std::string(run_id) + "' cannot be read from the store: " +
                                      std::string(what) + " is not valid JSON (" + ec.message() + ")");
  }
  return value;
}

}  // namespace storyloom::store
