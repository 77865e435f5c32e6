// The store interface: the only way the engine reads or writes durable state.
// No SQL lives outside core/store/; a PostgreSQL store implements this too.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "storyloom/events.h"
#include "storyloom/run.h"

namespace storyloom::store {

// A run plus the fields only the scheduler uses.
struct RunRecord {
  RunInfo info;
  int64_t available_at_ms = 0;  // queued: not before this
  int64_t wake_at_ms = 0;       // sleeping/waiting: wake then (0 = no timer)
  std::string waiting_for;      // "signal:NAME", "child:RUN" or empty
  int64_t parent_step = -1;     // seq of the invoke step in the parent
  std::string lease_owner;      // engine id while running
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
};

struct ListQuery {
  std::optional<RunStatus> status;
  std::string workflow;
  std::string owner;
  std::string error_class;  // matches error.class; empty: any
  int64_t finished_after_ms = 0;
  int64_t finished_before_ms = 0;
  size_t limit = 100;
  int64_t after_seq = 0;
};

// Reads see one consistent snapshot for the life of the transaction.
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
  // The run's unread signals of that name, oldest first.
  virtual std::vector<SignalRecord> unconsumed_signals(const std::string& run_id,
                                                       const std::string& name) = 0;
  virtual std::vector<EventRecord> events(const std::string& run_id, int64_t after_id,
                                          size_t limit) = 0;
  // Events of every run, for fanning out what other processes wrote.
  virtual std::vector<EventRecord> events_since(int64_t after_id, size_t limit) = 0;
  virtual int64_t last_event_id() = 0;
  virtual int64_t last_event_id(const std::string& run_id) = 0;
  // The end offset of a chunk stream as persisted (0 when none).
  virtual int64_t chunk_stream_end(const std::string& run_id, const std::string& stream) = 0;
  // Earliest wake_at among sleeping/waiting runs, and available_at among queued ones.
  virtual std::optional<int64_t> next_due_ms() = 0;
  virtual std::vector<std::string> children(const std::string& run_id) = 0;
  // The status of each of `run_ids` that exists.
  virtual std::vector<std::pair<std::string, RunStatus>> statuses(
      const std::vector<std::string>& run_ids) = 0;
};

class WriteTx : public ReadTx {
 public:
  // Savepoints let one failed operation in a group commit roll back alone.
  virtual void savepoint() = 0;
  virtual void release() = 0;
  virtual void rollback_to_savepoint() = 0;
  virtual void commit() = 0;

  // Throws Error(invalid_argument) when the idempotency key or id exists.
  virtual int64_t insert_run(const RunRecord& run) = 0;
  virtual void update_run(const RunRecord& run) = 0;  // every mutable column
  virtual void delete_run(const std::string& run_id) = 0;  // and its steps, events, artifacts, signals

  // Inserts or updates a step; a completed step is never overwritten (returns false).
  virtual bool upsert_step(const StepRecord& step) = 0;
  virtual void delete_steps_from(const std::string& run_id, int64_t seq) = 0;
  // Forgets the failed attempts of unfinished steps (a retried run starts them afresh).
  virtual void delete_retrying_steps(const std::string& run_id) = 0;

  virtual int64_t insert_signal(const SignalRecord& signal, int64_t now_ms) = 0;
  virtual void consume_signal(int64_t signal_id, int64_t step_seq) = 0;

  virtual int64_t insert_artifact(const std::string& run_id, const std::string& key,
                                  const std::string& value, int64_t now_ms) = 0;

  virtual void set_chunk_stream_end(const std::string& run_id, const std::string& stream,
                                    int64_t end_offset) = 0;

  virtual EventRecord append_event(const std::string& run_id, const std::string& type,
                                   const std::string& data, int64_t now_ms) = 0;

  // Queued runs of the given workflows, best first, marked running under `owner`.
  virtual std::vector<RunRecord> claim_runs(const std::string& owner, int64_t now_ms, size_t limit,
                                            const std::string& workflows_json_array) = 0;
  // Sleeping/waiting runs whose timer is due.
  virtual std::vector<RunRecord> due_parked_runs(int64_t now_ms, size_t limit) = 0;

  // Engines: heartbeats, so a dead process's runs can be reclaimed.
  virtual void upsert_engine(const std::string& engine_id, int64_t pid, const std::string& host,
                             int64_t now_ms, const std::string& workflows_json_array) = 0;
  // Whether any engine on this store has registered the workflow.
  virtual bool workflow_known(const std::string& name) = 0;
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
};

class Store {
 public:
  virtual ~Store() = default;
  virtual std::unique_ptr<ReadTx> begin_read() = 0;
  // Only one write transaction at a time per store (the engine's writer thread).
  virtual std::unique_ptr<WriteTx> begin_write() = 0;
};

// Opens "sqlite:PATH", PATH or ":memory:". Throws Error(store / not_a_database /
// schema_too_new) with the path in the message.
std::unique_ptr<Store> open_store(const std::string& spec);

}  // namespace storyloom::store
