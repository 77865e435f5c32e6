// One transaction on the PostgreSQL store. Writers on different machines run
// at once (READ COMMITTED); there is no store-wide lock. What the engine's
// read-check-write operations rely on holds through row and narrow locks:
// - a write transaction that reads a run locks its row (FOR NO KEY UPDATE)
//   until it ends, so a check of a run's status or lease and the write that
//   follows are atomic against every other process (cancel, signal, reclaim);
// - claims take queued runs FOR UPDATE SKIP LOCKED; a workflow with limits is
//   counted under a transaction-scoped advisory lock of its own (pg_claims.cc);
// - event ids follow transaction ids, and readers only see events below the
//   oldest writer still running (kSettledEventId), so "events after N" never
//   skips one that commits late.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>

#include "store/pg_connection.h"
#include "store/pg_settled_ahead.h"
#include "store/store.h"

namespace storyloom::store::pg {

// The columns read_run expects, in order.
extern const char* const kRunColumns;
RunRecord read_run(const Result& r, int row, int first = 0);
EventRecord read_event(const Result& r, int row);
// bytea in PostgreSQL's text form ("\\x" and two hex digits per byte), both ways.
std::string bytes_to_hex(const std::string& bytes);
std::string bytes_from_hex(const std::string& text);

class PgTx : public WriteTx {
 public:
  // `begin_sql` starts the transaction; `notify_sql` (a NOTIFY when
  // storyloom.wrote is 't', kNoteWrote) runs in a transaction of its own
  // after a write transaction commits (other processes wake and read what
  // it wrote).
  // `settled_ahead`: where a write's commit keeps the settled events it
  // reads in its own round trip, and where a read finds them.
  PgTx(Connection& conn, std::unique_lock<std::mutex> lock, bool write, const std::string& begin_sql,
       const std::string* notify_sql, std::function<void()> on_end,
       SettledAhead* settled_ahead = nullptr);
  ~PgTx() override;

  void savepoint() override;
  void release() override;
  void rollback_to_savepoint() override;
  void commit() override;

  // ---- reads (pg_reads.cc) ----
  std::optional<RunRecord> find_run(const std::string& run_id) override;
  std::optional<RunRecord> find_run_by_key(const std::string& idempotency_key) override;
  int64_t run_seq(const std::string& run_id) override;
  std::optional<std::pair<RunStatus, std::string>> run_lease(const std::string& run_id) override;
  std::vector<RunRecord> list_runs(const ListQuery& query, int64_t* last_seq) override;
  std::vector<StepRecord> steps(const std::string& run_id) override;
  std::vector<ArtifactRecord> artifacts(const std::string& run_id, bool latest_only) override;
  std::optional<ArtifactRecord> latest_artifact(const std::string& run_id,
                                                const std::string& key) override;
  bool has_signal(const std::string& run_id, const std::string& name) override;
  std::optional<std::string> artifact_bytes(const std::string& run_id, const std::string& key,
                                            int64_t version) override;
  std::vector<SignalRecord> unconsumed_signals(const std::string& run_id,
                                               const std::string& name) override;
  std::vector<EventRecord> events(const std::string& run_id, int64_t after_id, size_t limit) override;
  std::vector<EventRecord> events_since(int64_t after_id, size_t limit) override;
  int64_t last_event_id() override;
  int64_t last_event_id(const std::string& run_id) override;
  int64_t settled_event_id() override;
  std::vector<EventRecord> settled_events_since(int64_t after_id, size_t limit,
                                                int64_t* settled) override;
  ChunkStream chunk_stream(const std::string& run_id, const std::string& stream) override;
  std::vector<ChunkStream> chunk_streams(const std::string& run_id) override;
  std::optional<int64_t> next_parked_ms() override;
  std::optional<int64_t> next_queued_ms(int64_t after_ms) override;
  std::map<std::string, int64_t> count_runs_by_workflow(RunStatus status) override;
  std::vector<std::string> children(const std::string& run_id) override;
  std::vector<RunRecord> overdue_runs(int64_t now_ms, size_t limit) override;
  std::vector<std::pair<std::string, RunStatus>> statuses(
      const std::vector<std::string>& run_ids) override;
  bool workflow_known(const std::string& name) override;
  std::optional<int64_t> cursor(const std::string& name) override;

  // ---- writes (pg_writes.cc) ----
  int64_t insert_run(const RunRecord& run) override;
  void update_run(const RunRecord& run) override;
  void delete_run(const std::string& run_id) override;
  bool upsert_step(const StepRecord& step) override;
  std::optional<int64_t> complete_pending_wait(const std::string& run_id, const std::string& kind,
                                               const std::string& name, const std::string& result,
                                               int64_t now_ms) override;
  void delete_steps_from(const std::string& run_id, int64_t seq) override;
  void delete_retrying_steps(const std::string& run_id) override;
  int64_t insert_signal(const SignalRecord& signal, int64_t now_ms) override;
  void consume_signal(int64_t signal_id, int64_t step_seq) override;
  int64_t insert_artifact(const std::string& run_id, const std::string& key,
                          const std::string& value, int64_t now_ms) override;
  int64_t insert_binary_artifact(const std::string& run_id, const std::string& key,
                                 const std::string& content_type, const std::string& value,
                                 const std::string& bytes, int64_t now_ms) override;
  void set_cursor(const std::string& name, int64_t position) override;
  void set_chunk_stream(const std::string& run_id, const ChunkStream& stream) override;
  EventRecord append_event(const std::string& run_id, const std::string& type,
                           const std::string& data, int64_t now_ms) override;
  std::vector<std::string> wake_due_parked(int64_t now_ms, size_t limit) override;

  // ---- claims (pg_claims.cc) ----
  ClaimResult claim_runs(const ClaimRequest& request) override;

  // ---- engines (pg_engines.cc) ----
  void upsert_engine(const std::string& engine_id, int64_t pid, const std::string& host,
                     int64_t now_ms, const std::string& workflows_json_array) override;
  void delete_engine(const std::string& engine_id) override;
  std::vector<RunRecord> running_runs_without(
      const std::vector<std::string>& live_engine_ids) override;
  std::vector<EngineRow> engines() override;

 private:
  ClaimResult claim_unlimited(const ClaimRequest& req);
  ClaimResult claim_limited(const ClaimRequest& req);
  void fail_unreadable(std::vector<RunRecord>& runs, int64_t now_ms);
  // After a claim: its runs are locked (the claim updated them) and their
  // steps and last event ids read (`held`, from held_runs_of or with the claim).
  void hold_claimed(const std::vector<RunRecord>& runs, const std::vector<Result>& held);
  std::vector<Result> held_runs_of(const std::vector<RunRecord>& runs);
  void lock_run(const std::string& run_id);
  // The statement that reads this transaction's id and `run_id`'s last event
  // id ($1), to follow a statement that locked the run, in the same round trip.
  static Statement last_event_of(const std::string& run_id);
  // Takes that statement's result: the run's event ids are known from here on.
  void learn_last(const std::string& run_id, const Result& r);
  bool try_lock_workflow(const std::string& workflow);
  void end();

  Connection& conn_;
  std::unique_lock<std::mutex> lock_;
  bool write_;
  bool open_ = false;
  int64_t events_ = 0;  // appended in this transaction: the low bits of the next event id
  int64_t xid_ = 0;     // this transaction's id, once read
  // The last event id of each run this transaction has locked and read it
  // for (with its own appends): an event id above it and in this
  // transaction's range is free, so the INSERT needs no answer and is sent
  // with the next statement (Connection::defer). Emptied with locked_runs_.
  std::map<std::string, int64_t> last_event_;
  // Runs whose row this write transaction has locked (reads lock them): a
  // run's events are appended only under its row lock, so they commit in id
  // order. Emptied by a rollback to a savepoint, which releases the locks.
  std::set<std::string> locked_runs_;
  // The steps of the runs the last claim took, read in one query for all of
  // them; steps() hands each run's out once. Dropped by any write of steps
  // and by a rollback to a savepoint.
  std::map<std::string, std::vector<StepRecord>> claimed_steps_;
  const std::string* notify_sql_;
  std::function<void()> on_end_;
  SettledAhead* settled_ahead_;
};

// Before a write's COMMIT: sets the session setting storyloom.wrote to 't'
// when the transaction had an id (wrote or locked something), else 'f'.
extern const char* const kNoteWrote;

// The largest event id every reader may pass (ReadTx::settled_event_id), as
// SQL: below the ids of the oldest transaction still running in the
// cluster, whose events may commit after newer ones. A long transaction of
// another application on the same server delays events; it never loses one.
extern const char* const kSettledEventId;
// The settled id, then the events after $1 up to it ($2 at most) on the
// rows that follow (none: one row of NULLs beside it), in one statement.
const char* settled_events_sql();
// Reads settled_events_sql's answer.
std::vector<EventRecord> read_settled_events(const Result& r, int64_t* settled);
// Event ids: (transaction id << kEventIdBits) + the event's number in its transaction.
constexpr int kEventIdBits = 20;

// Text for a query parameter.
inline std::optional<std::string> p(int64_t v) { return std::to_string(v); }
inline std::optional<std::string> p(const std::string& v) { return v; }

}  // namespace storyloom::store::pg
