// SqliteTx: the store's read and write queries over one SQLite connection
// (store.h's ReadTx and WriteTx), for one transaction; the caller holds the
// connection's lock. Its methods live by concern: sqlite_tx.cc (the
// transaction itself), sqlite_reads.cc, sqlite_writes.cc and sqlite_claims.cc.
// Internal to the SQLite store.
#pragma once

#include <SQLiteCpp/SQLiteCpp.h>

#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "store/sqlite_connection.h"
#include "store/sqlite_lease_cache.h"
#include "store/store.h"

namespace storyloom::store::sqlite {

class SqliteTx : public WriteTx {
 public:
  // `leases` (write transactions of the writer connection only) may be null.
  SqliteTx(Connection& conn, std::unique_lock<std::mutex> lock, bool write,
           std::function<void()> on_end, LeaseCache* leases = nullptr);
  ~SqliteTx() override;
  void commit() override;
  void savepoint() override;
  void release() override;
  void rollback_to_savepoint() override;
  bool failed_statement_undoes_only_itself() const override { return true; }
  bool transaction_usable() const override;
  int64_t rows_written() const override;
  std::optional<RunRecord> find_run(const std::string& run_id) override;
  std::optional<RunRecord> find_run_by_key(const std::string& key) override;
  std::optional<std::pair<RunStatus, std::string>> run_lease(const std::string& run_id) override;
  int64_t run_seq(const std::string& run_id) override;
  std::vector<RunRecord> list_runs(const ListQuery& query, int64_t* last_seq) override;
  std::vector<StepRecord> steps(const std::string& run_id) override;
  std::vector<ArtifactRecord> artifacts(const std::string& run_id, bool latest_only) override;
  std::optional<ArtifactRecord> latest_artifact(const std::string& run_id,
                                                const std::string& key) override;
  std::optional<std::string> artifact_bytes(const std::string& run_id, const std::string& key,
                                            int64_t version) override;
  bool has_signal(const std::string& run_id, const std::string& name) override;
  std::vector<SignalRecord> unconsumed_signals(const std::string& run_id,
                                               const std::string& name) override;
  std::vector<EventRecord> events(const std::string& run_id, int64_t after_id,
                                  size_t limit) override;
  std::vector<EventRecord> events_since(int64_t after_id, size_t limit) override;
  int64_t last_event_id() override;
  int64_t last_event_id(const std::string& run_id) override;
  ChunkStream chunk_stream(const std::string& run_id, const std::string& stream) override;
  std::vector<ChunkStream> chunk_streams(const std::string& run_id) override;
  std::optional<int64_t> next_parked_ms() override;
  std::optional<int64_t> next_queued_ms(int64_t after_ms) override;
  std::map<std::string, int64_t> count_runs_by_workflow(RunStatus status) override;
  std::vector<std::string> children(const std::string& run_id) override;
  std::vector<std::pair<std::string, RunStatus>> statuses(
      const std::vector<std::string>& run_ids) override;
  int64_t insert_run(const RunRecord& r) override;
  void update_run(const RunRecord& r) override;
  bool end_run(const RunEnd& end) override;
  void resume_parked(const RunRecord& r) override;
  std::optional<int64_t> complete_pending_wait(const std::string& run_id, const std::string& kind,
                                               const std::string& name, const std::string& result,
                                               int64_t now_ms) override;
  void delete_run(const std::string& run_id) override;
  bool upsert_step(const StepRecord& s) override;
  void delete_steps_from(const std::string& run_id, int64_t seq) override;
  void delete_retrying_steps(const std::string& run_id) override;
  int64_t insert_signal(const SignalRecord& s, int64_t now_ms) override;
  void consume_signal(int64_t signal_id, int64_t step_seq) override;
  int64_t insert_artifact(const std::string& run_id, const std::string& key,
                          const std::string& value, int64_t now_ms) override;
  int64_t insert_binary_artifact(const std::string& run_id, const std::string& key,
                                 const std::string& content_type, const std::string& value,
                                 const std::string& bytes, int64_t now_ms) override;
  void set_chunk_stream(const std::string& run_id, const ChunkStream& stream) override;
  EventRecord append_event(const std::string& run_id, const std::string& type,
                           const std::string& data, int64_t now_ms) override;
  ClaimResult claim_runs(const ClaimRequest& req) override;
  std::vector<RunRecord> overdue_runs(int64_t now_ms, size_t limit) override;
  std::vector<std::string> wake_due_parked(int64_t now_ms, size_t limit) override;
  void upsert_engine(const std::string& engine_id, int64_t pid, const std::string& host,
                     int64_t now_ms, const std::string& workflows_json_array) override;
  bool workflow_known(const std::string& name) override;
  std::optional<int64_t> cursor(const std::string& name) override;
  void set_cursor(const std::string& name, int64_t position) override;
  void delete_engine(const std::string& engine_id) override;
  std::vector<EngineRow> engines() override;
  std::vector<RunRecord> running_runs_without(
      const std::vector<std::string>& live_engine_ids) override;

 private:
  static RunRecord readable(RunRecord run);
  void fail_unreadable(std::vector<RunRecord>& runs, int64_t now_ms);
  static void bind_json(SQLite::Statement& q, int index, const Json& v);
  ClaimResult claim_unlimited(const ClaimRequest& req);
  ClaimResult claim_limited(const ClaimRequest& req);
  void finish_lock();
  // Inserts the events append_event() has held back (see sqlite_events.cc).
  void flush_events();
  int64_t next_event_id();

  Connection& conn_;
  std::unique_lock<std::mutex> lock_;
  bool write_;
  bool open_ = false;
  std::function<void()> on_end_;
  LeaseCache* leases_;
  // Events appended in this transaction and not inserted yet: a batch's
  // events go in by a few multi-row statements, flushed before anything
  // that reads events, a savepoint, and the commit.
  std::vector<EventRecord> pending_events_;
  int64_t next_event_id_ = 0;  // 0: not read yet in this transaction
  bool events_lost_ = false;   // a flush failed: the transaction must not commit
};

}  // namespace storyloom::store::sqlite
