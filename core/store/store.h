// The store interface: the only way the engine reads or writes durable state.
// No SQL lives outside core/store/; a PostgreSQL store implements this too.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "storyloom/events.h"
#include "storyloom/run.h"

namespace storyloom::store {

class SharedResources;

// The bucket values of one run (serialized JSON; "null" for a missing path).
struct RunKeys {
  std::optional<std::string> concurrency;
  std::optional<std::string> throttle;
};

// A run plus the fields only the scheduler uses.
struct RunRecord {
  RunInfo info;
  int64_t available_at_ms = 0;  // queued: not before this
  int64_t wake_at_ms = 0;       // sleeping/waiting: wake then (0 = no timer)
  std::string waiting_for;      // "signal:NAME", "child:RUN" or empty
  int64_t parent_step = -1;     // seq of the invoke step in the parent
  std::string lease_owner;      // engine id while running
  int64_t deadline_at_ms = 0;   // run timeout: fail then unless finished (0 = none)
  int64_t started_at_ms = 0;    // first claim (0 = never started); set by claims only
  bool first_start = false;     // set by EngineCore::claim_into: the run's first execution
  // Written by insert_run only: the run's keys as the starting engine computed
  // them from its registration (none when it did not register the workflow or
  // gave it no key). Stored in concurrency_key and throttle_key, so a claim
  // finds the queued runs of one key through an index; a claim computes the
  // keys of the runs it takes again, and a NULL key means "not computed".
  RunKeys start_keys;
};

// A run's end for good (completed or failed), as WriteTx::end_run writes it.
struct RunEnd {
  std::string run_id;
  RunStatus status = RunStatus::completed;  // completed or failed
  Json value;               // the output (completed) or the error (failed)
  std::string value_json;   // the same, serialized
  int64_t now_ms = 0;      // finished_at and updated_at
};

// What a claim must respect for one workflow (set only for workflows with limits).
struct ClaimRules {
  int64_t max_running = 0;        // running runs of the workflow; 0: no limit
  int64_t key_limit = 0;          // running runs per concurrency key; 0: no key
  int64_t throttle_limit = 0;     // first starts per throttle key per period; 0: no throttle
  int64_t throttle_period_ms = 0;
  int64_t run_timeout_ms = 0;     // sets deadline_at at the first start; 0: none
};

struct ClaimRequest {
  std::string owner;
  int64_t now_ms = 0;
  size_t limit = 0;
  std::string workflows_json_array;            // the workflows this engine executes
  std::map<std::string, ClaimRules> rules;     // by workflow; absent: no limits
  std::function<RunKeys(const RunRecord&)> keys;  // for runs of workflows in `rules`
};

struct ClaimResult {
  std::vector<RunRecord> runs;  // marked running, best first
  bool limited = false;         // some runnable run was held back by a limit
  int64_t throttle_wake_ms = 0;  // earliest time a throttled run may start (0: none)
};

struct StepRecord {
  std::string run_id;
  int64_t seq = 0;
  std::string name;
  std::string kind;    // step, sleep, signal, invoke
  std::string status;  // completed, pending, retrying
  std::string result;  // JSON text ("null" when none)
  int64_t wake_at_ms = 0;
  std::string child_id;
  int64_t completed_at_ms = 0;
  int64_t attempts = 0;  // failed attempts so far
};

struct SignalRecord {
  int64_t id = 0;
  std::string run_id;
  std::string name;
  std::string payload;  // JSON text
  int64_t consumed_seq = -1;  // the wait step that read it; -1: unread (in the mailbox)
};

struct EventRecord {
  int64_t id = 0;
  std::string run_id;
  std::string type;
  std::string data;  // JSON text
  int64_t created_at_ms = 0;
};

struct ArtifactRecord {
  std::string key;
  int64_t version = 0;
  std::string value;  // JSON text
  int64_t created_at_ms = 0;
  // Empty for a JSON artifact. A binary artifact has its media type here,
  // {"content_type","size","sha256"} as `value`, and its bytes apart
  // (ReadTx::artifact_bytes), so listings never read them.
  std::string content_type;
};

struct ListQuery {
  std::optional<RunStatus> status;
  std::string workflow;
  std::string owner;
  std::string error_class;  // matches error.class; empty: any
  int64_t finished_after_ms = 0;
  int64_t finished_before_ms = 0;
  bool unfinished_only = false;  // queued, running, sleeping or waiting
  size_t limit = 100;
  int64_t after_seq = 0;
};

// Reads see one consistent snapshot for the life of the transaction.
// A token stream of a run: its text is the bytes [0, end_offset); the current
// attempt's text (an llm step retried or re-executed) starts at attempt_start.
struct ChunkStream {
  std::string stream;
  int64_t end_offset = 0;
  int64_t attempt_start = 0;
};

class ReadTx {
 public:
  virtual ~ReadTx() = default;
  virtual std::optional<RunRecord> find_run(const std::string& run_id) = 0;
  virtual std::optional<RunRecord> find_run_by_key(const std::string& idempotency_key) = 0;
  virtual int64_t run_seq(const std::string& run_id) = 0;  // 0 when unknown
  // Status and lease owner only: the cheap check before an execution writes.
  virtual std::optional<std::pair<RunStatus, std::string>> run_lease(const std::string& run_id) = 0;
  // Returns the runs and, in `last_seq`, the seq of the last one.
  virtual std::vector<RunRecord> list_runs(const ListQuery& query, int64_t* last_seq) = 0;
  virtual std::vector<StepRecord> steps(const std::string& run_id) = 0;
  virtual std::vector<ArtifactRecord> artifacts(const std::string& run_id, bool latest_only) = 0;
  virtual std::optional<ArtifactRecord> latest_artifact(const std::string& run_id,
                                                        const std::string& key) = 0;
  // Whether the run ever received a signal of that name, read or unread
  // (Engine::signal_once; an index lookup on signals(run_id, name)).
  virtual bool has_signal(const std::string& run_id, const std::string& name) = 0;
  // The bytes of one version of a binary artifact; nullopt when that version
  // does not exist or is a JSON artifact.
  virtual std::optional<std::string> artifact_bytes(const std::string& run_id,
                                                    const std::string& key, int64_t version) = 0;
  // The run's unread signals of that name, oldest first.
  virtual std::vector<SignalRecord> unconsumed_signals(const std::string& run_id,
                                                       const std::string& name) = 0;
  virtual std::vector<EventRecord> events(const std::string& run_id, int64_t after_id,
                                          size_t limit) = 0;
  // Events of every run, for fanning out what other processes wrote.
  virtual std::vector<EventRecord> events_since(int64_t after_id, size_t limit) = 0;
  virtual int64_t last_event_id() = 0;
  virtual int64_t last_event_id(const std::string& run_id) = 0;
  // Every event with an id up to this one that will ever be visible is
  // visible to this transaction: a reader may move its position here without
  // skipping one that commits later. A store whose ids follow commit order
  // (one writer at a time: SQLite) returns last_event_id(); PostgreSQL, whose
  // writers commit in any order, stops below its oldest writer still running.
  virtual int64_t settled_event_id() { return last_event_id(); }
  // settled_event_id() into `settled` and the first page of events_since(),
  // in one read where the store can (the event hub's fan-out runs it at every
  // commit another process announces).
  virtual std::vector<EventRecord> settled_events_since(int64_t after_id, size_t limit,
                                                        int64_t* settled) {
    *settled = settled_event_id();
    return events_since(after_id, limit);
  }
  // A chunk stream as persisted (zeros when none): where its text ends, and
  // where the text of its current attempt begins.
  virtual ChunkStream chunk_stream(const std::string& run_id, const std::string& stream) = 0;
  virtual std::vector<ChunkStream> chunk_streams(const std::string& run_id) = 0;
  // Earliest wake_at among sleeping/waiting runs.
  virtual std::optional<int64_t> next_parked_ms() = 0;
  // Earliest available_at among queued runs that is after `after_ms`.
  virtual std::optional<int64_t> next_queued_ms(int64_t after_ms) = 0;
  // How many runs have `status`, by workflow (workflows with none are left
  // out): the queue depth gauge. Reads that status's runs only, never the
  // whole table (sqlite_counts.cc, pg_counts.cc).
  virtual std::map<std::string, int64_t> count_runs_by_workflow(RunStatus status) = 0;
  virtual std::vector<std::string> children(const std::string& run_id) = 0;
  // Unfinished runs whose run timeout has passed.
  virtual std::vector<RunRecord> overdue_runs(int64_t now_ms, size_t limit) = 0;
  // The status of each of `run_ids` that exists.
  virtual std::vector<std::pair<std::string, RunStatus>> statuses(
      const std::vector<std::string>& run_ids) = 0;
  // Whether any engine on this store has registered the workflow.
  virtual bool workflow_known(const std::string& name) = 0;
  // A named position in the event sequence (set_cursor); nullopt when never set.
  virtual std::optional<int64_t> cursor(const std::string& name) = 0;
};

class WriteTx : public ReadTx {
 public:
  // Savepoints let one failed operation in a group commit roll back alone.
  virtual void savepoint() = 0;
  virtual void release() = 0;
  virtual void rollback_to_savepoint() = 0;
  virtual void commit() = 0;
  // Whether a statement that fails (a unique key taken, say) undoes only
  // itself and leaves the transaction usable (SQLite), rather than aborting
  // the whole transaction until a savepoint rollback (PostgreSQL). The writer
  // then runs operations that write nothing before they can fail without a
  // savepoint of their own.
  virtual bool failed_statement_undoes_only_itself() const { return false; }
  // Whether the transaction is still open and usable. SQLite ends it on its
  // own after some failures (a full disk, an I/O error).
  virtual bool transaction_usable() const { return true; }
  // Rows inserted, updated or deleted so far by completed statements (where
  // failed_statement_undoes_only_itself()): unchanged across a failed
  // operation means it wrote nothing.
  virtual int64_t rows_written() const { return 0; }

  // Throws Error(invalid_argument) when the idempotency key or id exists.
  virtual int64_t insert_run(const RunRecord& run) = 0;
  virtual void update_run(const RunRecord& run) = 0;  // every mutable column
  // Writes a run's end: its status, output (completed) or error (failed),
  // finished_at and updated_at, and clears its lease; every other column is
  // left as it is. Returns false when no run has that id. The default reads
  // the whole row and rewrites it.
  virtual bool end_run(const RunEnd& end);
  // Writes what waking a parked run changes: its status, available_at,
  // updated_at, wake_at, waiting_for and lease owner, from `run`. The default
  // writes every mutable column (update_run).
  virtual void resume_parked(const RunRecord& run);
  virtual void delete_run(const std::string& run_id) = 0;  // and its steps, events, artifacts (bytes too), signals

  // Inserts or updates a step; a completed step is never overwritten (returns false).
  virtual bool upsert_step(const StepRecord& step) = 0;
  // Completes the run's pending wait step of that kind and name with the
  // lowest seq: status completed, `result` (JSON text), completed at `now_ms`,
  // no timer. Returns its seq, or nullopt when the run has no such step. The
  // default reads the run's steps and upserts the one found.
  virtual std::optional<int64_t> complete_pending_wait(const std::string& run_id,
                                                       const std::string& kind,
                                                       const std::string& name,
                                                       const std::string& result, int64_t now_ms);
  virtual void delete_steps_from(const std::string& run_id, int64_t seq) = 0;
  // Forgets the failed attempts of unfinished steps (a retried run starts them afresh).
  // Forgets the steps of a run that are retrying or failed for good, so a
  // retry of the run executes them again.
  virtual void delete_retrying_steps(const std::string& run_id) = 0;

  // Inserts the signal unread, or read by the wait step signal.consumed_seq.
  virtual int64_t insert_signal(const SignalRecord& signal, int64_t now_ms) = 0;
  virtual void consume_signal(int64_t signal_id, int64_t step_seq) = 0;

  virtual int64_t insert_artifact(const std::string& run_id, const std::string& key,
                                  const std::string& value, int64_t now_ms) = 0;
  // A new version of a binary artifact: the row (content_type, `value` as
  // described at ArtifactRecord) and its bytes, in this transaction.
  virtual int64_t insert_binary_artifact(const std::string& run_id, const std::string& key,
                                         const std::string& content_type,
                                         const std::string& value, const std::string& bytes,
                                         int64_t now_ms) = 0;

  virtual void set_chunk_stream(const std::string& run_id, const ChunkStream& stream) = 0;

  virtual EventRecord append_event(const std::string& run_id, const std::string& type,
                                   const std::string& data, int64_t now_ms) = 0;

  // Queued runs of the given workflows, best first, marked running under
  // `owner`, skipping runs a workflow's limits hold back. Limits hold across
  // processes because the counting happens inside this write transaction.
  virtual ClaimResult claim_runs(const ClaimRequest& request) = 0;
  // Queues up to `limit` sleeping/waiting runs whose timer is due (available
  // from now, timer and waits cleared) and returns their ids, without reading
  // whole rows: a burst of due timers wakes in a few large writes.
  virtual std::vector<std::string> wake_due_parked(int64_t now_ms, size_t limit) = 0;

  // Engines: heartbeats, so a dead process's runs can be reclaimed.
  virtual void upsert_engine(const std::string& engine_id, int64_t pid, const std::string& host,
                             int64_t now_ms, const std::string& workflows_json_array) = 0;
  virtual void delete_engine(const std::string& engine_id) = 0;
  // Running runs whose lease owner is not one of `live_engine_ids`.
  virtual std::vector<RunRecord> running_runs_without(
      const std::vector<std::string>& live_engine_ids) = 0;
  struct EngineRow {
    std::string id;
    int64_t pid = 0;
    std::string host;
    int64_t heartbeat_ms = 0;
  };
  virtual std::vector<EngineRow> engines() = 0;

  // Sets (creating it if needed) a named position in the event sequence: how
  // far a reader of every event (the webhook dispatcher) has got.
  virtual void set_cursor(const std::string& name, int64_t position) = 0;
};

class Store {
 public:
  virtual ~Store() = default;
  virtual std::unique_ptr<ReadTx> begin_read() = 0;
  // Only one write transaction at a time per store (the engine's writer thread).
  virtual std::unique_ptr<WriteTx> begin_write() = 0;
  // Calls `on_change` from a store thread when another process committed
  // something (a start, a signal, a cancel, events): an idle engine wakes
  // without waiting for its poll. Stores that cannot tell (SQLite) never
  // call it; polling stays the safety net. Replaces any earlier watcher;
  // an empty function stops watching.
  virtual void watch_changes(std::function<void()> on_change) { (void)on_change; }
  // Resource state every process on this store shares (shared_resources.h),
  // on a connection of its own; null when nothing else can share the store
  // (":memory:"), and the limiter then keeps resources in memory only.
  virtual std::shared_ptr<SharedResources> shared_resources() { return nullptr; }
};

struct StoreOptions {
  // true: every commit reaches the disk before it returns (survives power
  // loss); false: committed data survives a crash of the process, and the
  // last commits may be lost with the machine's power.
  bool sync_every_commit = true;
};

// Opens "sqlite:PATH", PATH or ":memory:", or a PostgreSQL store:
// "postgresql://..." / "postgres://..." URLs, or a bare "postgresql:" that
// takes every setting from the PG* environment variables. Throws Error(store / not_a_database /
// schema_too_new) with the path in the message; SQLite URIs ("file:...") are
// refused with invalid_argument.
std::unique_ptr<Store> open_store(const std::string& spec, const StoreOptions& options = {});
// Opens an existing store for reading only: no migration, no write, no
// background thread; works on a read-only file and on a full disk.
// begin_write() throws Error(invalid_state). A store of an older schema is
// refused (invalid_state) rather than migrated.
std::unique_ptr<Store> open_read_only_store(const std::string& spec);

}  // namespace storyloom::store
