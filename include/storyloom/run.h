// Runs, their steps and artifacts as the public API reports them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storyloom/budget.h"
#include "storyloom/error.h"
#include "storyloom/json.h"

namespace storyloom {

enum class RunStatus { queued, running, sleeping, waiting, completed, failed, cancelled };

const char* to_string(RunStatus status) noexcept;
// Throws Error(invalid_argument) naming the text when it is not a status.
RunStatus parse_run_status(std::string_view text);
// completed, failed and cancelled are finished: nothing more happens to the run.
bool is_finished(RunStatus status) noexcept;

struct RunInfo {
  std::string id;
  std::string workflow;
  RunStatus status = RunStatus::queued;
  Json input;
  Json output;    // null until completed
  Json error;     // null, or {"code","class","message","step"[,"origin":{"type","trace"}]} when failed
  Json progress;  // the last value given to ctx.progress(), or null
  std::string owner;
  std::string idempotency_key;
  std::string parent_id;  // empty for top-level runs
  int priority = 0;
  int64_t created_at_ms = 0;
  int64_t updated_at_ms = 0;
  int64_t finished_at_ms = 0;  // 0 until finished
  RunBudget budget = {};       // as given at start; no limit by default
  // The W3C traceparent given at start (a child run's: its parent's), kept
  // with the run so its spans join the caller's trace after any restart;
  // empty when none was given (storyloom/lifecycle.h).
  std::string trace_parent = {};
  // Empty, or why the stored row of this run cannot be decoded (a corrupted
  // file): only list() returns such a run, with the unreadable fields null;
  // get(), snapshot() and every other call on it throw Error(store) naming it,
  // and retry_failed() skips it.
  std::string unreadable;
};

struct StartOptions {
  std::string idempotency_key;  // same key → the same run is returned
  std::string owner;            // free-form owner id (a user id); used for listing
  int priority = 0;             // higher runs first
  RunBudget budget = {};        // what its llm steps may spend (storyloom/budget.h)
  // The caller's W3C traceparent ("00-<trace id>-<span id>-<flags>"), stored
  // with the run: the run's lifecycle reports carry it, so the hosts' spans
  // are children of the caller's span, also after a crash and resume.
  // Empty: none. Anything else is refused with invalid_argument.
  std::string trace_parent = {};
};

// Filters for Engine::list_runs; empty fields do not filter.
struct RunFilter {
  std::optional<RunStatus> status = std::nullopt;
  std::string workflow;
  std::string owner;
  size_t limit = 100;        // at most 1000
  std::string after_run_id;  // paging cursor: runs created after this one
  // The dead-letter view: failed runs by the class of their error and when they ended.
  std::optional<ErrorClass> error_class = std::nullopt;
  int64_t finished_after_ms = 0;   // finished_at >= this (0: no bound)
  int64_t finished_before_ms = 0;  // finished_at < this (0: no bound)
};

struct RunPage {
  std::vector<RunInfo> runs;
  std::string next_cursor;  // pass as after_run_id for the next page; empty at the end
};

struct StepInfo {
  int64_t seq = 0;     // position in the run's order of steps
  std::string name;
  std::string kind;    // step, sleep, signal, invoke
  std::string status;  // completed or pending
  Json result;
  int64_t completed_at_ms = 0;
};

struct ArtifactInfo {
  std::string key;
  int64_t version = 0;  // 1, 2, ... per key
  Json value;
  int64_t created_at_ms = 0;
  // Empty for a JSON artifact. A binary artifact (a picture) has its media
  // type here and {"content_type", "size", "sha256"} (hex) as `value`; its
  // bytes are read apart (Engine::artifact_bytes), so listings stay small.
  std::string content_type;
};

// One version of a binary artifact with its bytes.
struct ArtifactBytes {
  ArtifactInfo info;
  std::string bytes;
};

// One consistent read of everything a page needs to render a run; subscribe
// after last_event_id to continue live.
// A token stream of a run as stored: its text is bytes [0, end) of the
// stream's chunk events; the current attempt's text (an llm step retried, or
// executed again after a crash) is bytes [attempt_start, end). A reader shows
// only the current attempt's text.
struct StreamInfo {
  std::string name;
  int64_t attempt_start = 0;
  int64_t end = 0;
};

struct Snapshot {
  RunInfo run;
  std::vector<StepInfo> steps;
  std::vector<ArtifactInfo> artifacts;  // the latest version of each key
  std::vector<StreamInfo> streams;      // by name
  RunUsage usage = {};                  // what its completed llm steps used
  int64_t last_event_id = 0;
};

// The JSON shapes every host sees (documented in storyloom.h): field names as
// in these structs, statuses as strings.
Json to_json(const RunInfo& run);
Json to_json(const RunPage& page);  // {"runs", "next_cursor"}
Json to_json(const StepInfo& step);
Json to_json(const ArtifactInfo& artifact);
// {"run", "steps", "artifacts", "streams": {"<name>": {"attempt_start", "end"}}, "last_event_id",
//  "usage": to_json(RunUsage), "budget": budget_status_json(run.budget, usage)}
Json to_json(const Snapshot& snapshot);

}  // namespace storyloom
