// EngineCore: what Engine, Execution and the C ABI share. Owns the store, the
// writer, the event hub, the scheduler, the poller and the worker threads.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "engine/worker_pool.h"
#include "engine/lifecycle_reporter.h"
#include "engine/writer.h"
#include "image/image_providers.h"
#include "llm/llm_client.h"
#include "scheduler/resource_limiter.h"
#include "events/hub.h"
#include "store/store.h"
#include "storyloom/engine.h"

namespace storyloom::detail {

class ExecutionState;
class WebhookDispatcher;

struct Workflow {
  WorkflowFn sync_fn;       // set for C++ workflow functions
  ExecuteFn host_fn;        // set for host-driven workflows
  WorkflowOptions options;
};

class EngineCore : public std::enable_shared_from_this<EngineCore> {
 public:
  static std::shared_ptr<EngineCore> open(EngineOptions options);
  ~EngineCore();
  void close() { close(options_.drain_timeout); }
  // close() waiting at most `drain_timeout` for executions in flight.
  void close(std::chrono::milliseconds drain_timeout);

  void register_workflow(std::string_view name, Workflow workflow);
  // From now on the engine claims and executes runs (none before: a recovered
  // run must find every workflow of the host registered).
  void launch();
  bool launched() const { return launched_.load(); }

  RunInfo start(std::string_view workflow, Json input, const StartOptions& options);
  std::vector<StartResult> start_many(std::vector<StartRequest> requests);
  void start_async(std::string_view workflow, Json input, const StartOptions& options,
                   Engine::StartDone done);
  std::vector<std::optional<Error>> signal_many(std::vector<SignalRequest> signals);
  RunInfo get(std::string_view run_id);
  RunPage list(const RunFilter& filter);
  void remove(std::string_view run_id);
  void cancel(std::string_view run_id);
  void signal(std::string_view run_id, std::string_view name, Json payload, bool once = false);
  void retry(std::string_view run_id);
  size_t retry_failed(const RunFilter& filter, std::vector<std::string>* unreadable = nullptr);
  std::vector<std::string> cancel_many(const RunFilter& filter);
  void set_priority(std::string_view run_id, int priority);
  void rewind(std::string_view run_id, std::string_view step_name);
  Snapshot snapshot(std::string_view run_id);
  std::vector<ArtifactInfo> artifacts(std::string_view run_id);
  ArtifactBytes artifact_bytes(std::string_view run_id, std::string_view key, int64_t version);
  std::vector<Event> events(std::string_view run_id, int64_t after_id, size_t limit);
  std::shared_ptr<SubscriptionState> subscribe(std::string_view run_id, int64_t after_id,
                                               EventCallback callback);

  // For executions.
  const EngineOptions& options() const { return options_; }
  const std::string& engine_id() const { return engine_id_; }
  int64_t now_ms() const { return options_.clock->now_ms(); }
  bool closed() const { return closed_.load(); }
  // From the first moment of close(): executions should stop at the next step.
  bool closing() const { return closing_.load(); }
  Writer& writer() { return *writer_; }
  EventHub& hub() { return *hub_; }
  ResourceLimiter& resources() { return *resources_; }
  LlmClient& llm() { return *llm_; }
  ImageProviders& images() { return *images_; }
  LifecycleReporter& lifecycle() { return lifecycle_; }
  std::unique_ptr<store::ReadTx> read() { return store_->begin_read(); }
  bool has_workflow(std::string_view name);
  std::optional<RetryPolicy> retry_policy(std::string_view workflow);  // nullopt: unset
  WorkflowOptions workflow_options(std::string_view workflow);
  double jitter01();
  std::string new_run_id();
  // An execution ended: its slot goes to the next ready run, if any (else the
  // scheduler is hinted).
  void execution_finished(const std::string& run_id);
  // An execution about to write its run's end frees its slot (claims.cc):
  // returns the ready run that takes the slot (start it with start_ready once
  // the end is submitted), or null, and then the writer refills the slot in
  // the batch of that write. Call before submitting the end with
  // Writer::submit(..., then_tail = true), then slot_left().
  std::shared_ptr<ExecutionState> leave_slot_to_writer(const std::string& run_id);
  void slot_left();
  // Whether an execution already dispatched waits for a worker thread: the
  // thread that ends a run takes it up at once, and it writes soon.
  bool execution_waits_for_thread() const { return workers_ && workers_->has_waiting_tasks(); }
  // Dispatches a run taken from the ready queue, or puts it back in the store's
  // queue when the engine is closing.
  void start_ready(std::shared_ptr<ExecutionState> state);
  // Wakes the parent waiting on `child` if the child is now finished. Inside a batch.
  void wake_parent(Batch& batch, const store::RunRecord& child);
  void wake_parent(Batch& batch, const std::string& child_id, const std::string& parent_id);
  void wake_scheduler();
  // A run whose execution lost a write could not even be put back in the
  // queue (the store is still failing): the poller retries `release` until it
  // commits, so the run is never left running with no execution.
  void release_later(const std::string& run_id, std::function<void(Batch&)> release);
  // Whether `workflow` is registered here or by another live engine on the store.
  bool workflow_known(std::string_view workflow);
  // Webhook deliveries (core/webhooks/dispatcher.cc): created on first use,
  // stopped at the start of close(). Throws Error(closed) once closing.
  WebhookDispatcher& webhooks();

 private:
  void stop_webhooks();
  // Records a workflow's limits in the store for inspectors (best effort).
  void publish_limits(std::string_view workflow, const WorkflowOptions& options);
  explicit EngineCore(EngineOptions options);
  void start_threads();
  void mark_engine_thread() const;
  void scheduler_loop();
  void poller_loop();
  // `full`: also timers, run deadlines and ended backoffs (else events only).
  void poll_once(int64_t now, bool full);
  // Reads what other processes committed and fans it out; true when the
  // scheduler should look for work (a run was queued, a slot freed...).
  // Adds the runs cancelled to `cancelled` (their executions must stop).
  bool react_to_events(std::vector<std::string>& cancelled);
  // A commit in another process (PostgreSQL NOTIFY), on the store's
  // listener thread: its events are read and reacted to right there, one
  // thread hand-off fewer between another engine's commit and a claim here
  // or a subscriber's callback.
  void on_store_change();
  void recover_orphans();
  void retry_releases();
  void heartbeat();
  void dispatch(std::shared_ptr<ExecutionState> state);
  store::ClaimRequest claim_request(size_t want);
  // Claims (claims.cc): queued runs taken inside a batch, then admitted as
  // executions once that batch has committed.
  class SlotReservation;
  struct Claimed {
    std::vector<std::pair<store::RunRecord, std::vector<store::StepRecord>>> runs;
    bool limited = false;
    int64_t throttle_wake_ms = 0;
  };
  Claimed claim_into(Batch& b, size_t want);
  void admit(Claimed claimed, SlotReservation& reservation);
  void refill_slots(Batch& b);  // the writer's tail
  // How many runs may be claimed here at once: the execution slots plus the
  // ready queue's room. Caller holds sched_mutex_.
  size_t claim_capacity() const;
  size_t executing_locked() const { return inflight_.size() - ready_.size(); }
  // The ready run that may take a free slot, popped from ready_, or null.
  // Caller holds sched_mutex_.
  std::shared_ptr<ExecutionState> next_ready_locked();
  // close(): releases the runs still waiting in ready_ (never started).
  void release_ready();
  // Fails runs whose run timeout passed (timeouts.cc).
  void expire_overdue_runs();
  // Marks in-flight executions of these runs cancelled (their steps should stop).
  void stop_inflight(const std::vector<std::string>& run_ids);
  // start()'s fast path: a free slot, nothing queued before it and no limits to
  // count, so the run is created running and dispatched right after its commit.
  bool reserve_direct_start(std::string_view workflow, const std::string& run_id, bool local);
  bool reserve_slot(const std::string& run_id);
  // A validated, not yet stored run (throws invalid_argument naming the field).
  store::RunRecord new_run(std::string_view workflow, Json input, const StartOptions& options);
  void signal_op(Batch& b, const SignalRequest& request);
  void start_op(Batch& b, store::RunRecord& run, bool direct, bool local, RunInfo& result,
                std::shared_ptr<ExecutionState>& started);
  void cancel_tree(Batch& batch, store::RunRecord& run, std::vector<std::string>& cancelled);
  store::RunRecord must_find(store::ReadTx& tx, std::string_view run_id);
  void requeue_failed(Batch& b, store::RunRecord& run);
  std::string workflows_json();

  EngineOptions options_;
  std::string engine_id_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<EventHub> hub_;
  std::unique_ptr<Writer> writer_;
  std::unique_ptr<ResourceLimiter> resources_;
  std::unique_ptr<LlmClient> llm_;
  std::unique_ptr<ImageProviders> images_;
  LifecycleReporter lifecycle_;
  std::atomic<bool> closing_{false};
  std::atomic<bool> closed_{false};

  std::mutex registry_mutex_;
  std::map<std::string, Workflow, std::less<>> workflows_;

  std::mutex ids_mutex_;
  std::mt19937_64 ids_random_;

  // Scheduler: executions in flight and the hint that work may be waiting.
  std::mutex sched_mutex_;
  std::condition_variable sched_wake_;
  std::condition_variable drained_;
  // Every run claimed here and not yet ended: executing, or waiting in ready_.
  std::unordered_map<std::string, std::weak_ptr<ExecutionState>> inflight_;
  // Claimed runs waiting for a free slot (claims.cc, kClaimAhead): the next
  // starts the moment a run ends, without waiting for a claim's commit.
  std::deque<std::shared_ptr<ExecutionState>> ready_;
  bool work_hint_ = true;
  size_t claiming_ = 0;          // slots held by claims not yet committed
  bool backlog_ = false;  // the last claim filled every free slot
  std::atomic<bool> limited_{false};      // the last claim held runs back for a limit
  std::atomic<int64_t> throttle_wake_ms_{0};  // when a throttled run may start
  std::atomic<int64_t> last_claim_ms_{0};     // the store time of the last claim
  bool stopping_ = false;
  std::thread scheduler_;
  std::thread poller_;
  std::condition_variable poller_wake_;
  bool store_changed_ = false;  // another process committed (guarded by sched_mutex_)
  std::vector<std::string> cancelled_elsewhere_;  // read by the listener, for the poller (sched_mutex_)

  // Run executions; close() leaves behind those still in host code at its deadline.
  std::unique_ptr<WorkerPool> workers_;

  std::atomic<int64_t> last_heartbeat_ms_{0};
  std::atomic<bool> launched_{false};

  std::mutex webhooks_mutex_;
  std::shared_ptr<WebhookDispatcher> webhooks_;

  std::mutex releases_mutex_;
  std::map<std::string, std::function<void(Batch&)>> releases_;  // run id -> its release
};

// Error JSON stored on a failed run or step: {"code","class","message","step"},
// plus "origin": {"type","trace"} when a host said where the error came from.
Json error_json(const Error& error, std::string_view step = {});
// The error as events carry it: without the origin's trace, which is stored
// (run and step records) but never streamed, since events go to browsers.
Json event_error_json(const Json& error);

}  // namespace storyloom::detail
