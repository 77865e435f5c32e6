// ExecutionState: the memo and the bookkeeping of one execution of a run.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "engine/builtin_attempt.h"
#include "engine/writer.h"
#include "events/hub.h"
#include "scheduler/resource_limiter.h"
#include "store/store.h"
#include "storyloom/execution.h"
#include "storyloom/http_step.h"
#include "storyloom/image.h"
#include "storyloom/lifecycle.h"
#include "storyloom/llm.h"

namespace storyloom::detail {

class EngineCore;
class Batch;
class LlmCall;

// Stores token text taken from the hub as chunk events, in the batch; text of
// a run that has already ended is dropped (and forgotten by the hub) instead,
// so a run's terminal event is its last.
void write_chunk_events(Batch& b, EventHub& hub, const std::vector<PendingChunk>& chunks);

class ExecutionState : public std::enable_shared_from_this<ExecutionState> {
 public:
  // Writes a run's end inside a batch, given the run id (see finish()).
  using EndWrite = std::function<void(Batch&, const std::string& run_id)>;

  ExecutionState(std::shared_ptr<EngineCore> core, store::RunRecord run,
                 std::vector<store::StepRecord> steps, std::optional<RetryPolicy> retry);

  const std::string& run_id() const { return run_.info.id; }
  const std::string& workflow() const { return run_.info.workflow; }
  const Json& input() const { return run_.info.input; }
  // Reports this execution's start to the lifecycle callback (dispatch calls it).
  void report_run_started();
  bool cancelled() const;
  bool finished() const;
  // The run was cancelled (or a step timed out): steps should stop; built-in
  // steps in flight stop at once.
  // Not with the engine's scheduler mutex held: it may end llm steps at once.
  void mark_cancelled();

  StepBegin begin_step(std::string_view name, std::optional<RetryPolicy> retry);
  void complete_step(int64_t seq, Json result);
  StepFailure fail_step(int64_t seq, const Error& error);
  void heartbeat(int64_t seq);
  void heartbeat_all();
  // A host step's use of a resource (step_resources.cc).
  void acquire(int64_t seq, std::string_view resource, double tokens,
               std::function<void(std::optional<Error>)> granted);
  // Fails a step past its timeout and ends this execution without the host
  // (step_timeout.cc). Called by the poller.
  void check_step_timeouts(int64_t now_ms);
  WaitResult sleep(std::string_view name, std::chrono::milliseconds duration);
  WaitResult wait_for_signal(std::string_view name, std::optional<std::chrono::milliseconds> timeout);
  WaitResult invoke(std::string_view name, std::string_view workflow, Json input);
  // The built-in llm step (llm_step.cc).
  void llm(std::string_view name, LlmRequest request, LlmCallback done,
           std::optional<RetryPolicy> retry);
  // The built-in http step (http_step.cc).
  void http(std::string_view name, HttpStepRequest request, HttpStepCallback done,
            std::optional<RetryPolicy> retry);
  // The built-in image step (image_step.cc).
  void image(std::string_view name, ImageRequest request, ImageCallback done,
             std::optional<RetryPolicy> retry);
  void progress(Json value);
  void artifact(std::string_view key, Json value);
  void binary_artifact(std::string_view key, std::string_view content_type, std::string bytes);
  void emit(std::string_view type, Json data);
  void chunk(std::string_view stream, std::string_view text);
  void flush_chunks();

  // The durability barrier (execution_writes.cc). `done` runs once every write
  // this execution has submitted so far is committed (with no error), or with
  // the error that lost one of them: Error(store) when a commit failed, the
  // refusal when the run was cancelled or taken over. On this thread before
  // when_durable() returns when nothing is pending, else on the writer thread.
  void when_durable(std::function<void(std::optional<Error>)> done);
  // Blocks until when_durable would call back; throws its error.
  void wait_durable();

  void finish_completed(Json output);
  void finish_failed(const Error& error);
  void finish_parked();
  // The engine is closing and gave up waiting: put the run back in the queue.
  void abandon();
  // The engine is closing before this claimed run ever began executing (it
  // waited in the engine's ready queue): put it back in the queue, with no
  // lifecycle report (its execution never started).
  void release_unstarted();

 private:
  // A position in the run's order of steps, checked against what was recorded.
  struct Position {
    int64_t seq;
    const store::StepRecord* stored;  // null when this position is new
  };
  Position next_position(std::string_view name, std::string_view kind);
  void check_open();
  bool has_failure() const;
  bool replaying() const { return next_seq_ <= last_stored_seq_; }
  // Queues `op` after this run's pending chunk text. Caller holds mutex_.
  // `guarded` gives the op its own savepoint (only ops that may throw need it).
  // The op is refused (not applied) once an earlier write of this execution
  // failed or was refused, or when the run is no longer running under this
  // engine: no write of the run commits unless every earlier one did.
  // `then_tail`: the writer's tail runs in the batch that applies `op`.
  void submit_locked(std::function<void(Batch&)> op, bool guarded = false, bool then_tail = false,
                     Writer::Urgency urgency = Writer::Urgency::now);
  // Queues a write counted by the barrier; `on_done` (optional) runs after
  // write_done. Caller holds mutex_.
  void submit_tracked_locked(std::function<void(Batch&)> op, Writer::Isolation isolation,
                             std::function<void(const std::optional<Error>&)> on_done = {},
                             bool then_tail = false,
                             Writer::Urgency urgency = Writer::Urgency::now);
  // A tracked write ended (on the writer thread).
  void write_done(uint64_t n, std::exception_ptr error);
  // Puts the run back in the queue after its writes were lost to a store
  // failure; when even that write fails, the engine retries it until it
  // succeeds (EngineCore::release_later). Caller holds mutex_.
  void release_locked(const std::string& reason);
  void record_failure(const Error& error, std::string_view step);
  // The error a step stored as failed for good (its result holds the error JSON).
  Error stored_step_error(const store::StepRecord& step) const;
  // Where a stream stands (from the hub, else the store). Caller holds mutex_.
  StreamPosition& stream_position_locked(const std::string& stream);
  // A new attempt's text begins at the stream's end; returns that offset.
  // Caller holds mutex_.
  int64_t begin_stream_attempt_locked(const std::string& stream);
  // Writes the run's end (`write_end` gets the batch and the run id) and
  // gives up the execution's slot; `outcome` and `error_class` are what the
  // lifecycle report says of the end.
  void finish(EndWrite write_end, std::string_view outcome, std::string_view error_class = {});
  // A run that ends for good: completed with its output or failed with its
  // error (`value`, and `value_json` its serialized text).
  void finish_for_good(RunStatus status, Json value, std::string value_json,
                       std::string_view outcome, std::string_view error_class = {});
  // Fills in the run's fields and hands the report to the engine's reporter.
  void report(LifecycleEvent event) const;
  // An llm, http or image attempt stopped by a cancel or a close (`error`'s
  // code): reported as step.failed with that code as its error class, once,
  // and only while the attempt is still open; nothing is stored for it.
  // (attempt_stopped.cc)
  void report_attempt_stopped(int64_t seq, const Error& error);
  // A failed attempt is waiting for its retry: requeue the run for then.
  void finish_for_retry(int64_t retry_at_ms);
  int64_t pending_retry_at() const;
  void complete_wait_step(int64_t seq, std::string_view name, std::string_view kind, Json result);
  // Begins a new attempt at a step position (begin_step and llm share it). Caller holds mutex_.
  int begin_attempt(const Position& pos, std::string_view name, std::string_view kind,
                    const std::optional<RetryPolicy>& retry);
  void llm_event(std::string type, Json data);
  // Stores an image step's picture as a binary artifact version and its
  // result, naming that version, in one commit; sets result.sha256, and the
  // returned version once the commit is durable. Throws what complete_step throws, and
  // payload_too_large over max_artifact_bytes. (image_step.cc)
  std::shared_ptr<int64_t> complete_image_step(int64_t seq, ImageResult& result, std::string bytes);
  // The skeleton llm, http and image steps share (builtin_attempt.cc).
  // Caller holds mutex_: the step's position, what it stored, or a new
  // attempt begun after `check_new` (the step's own checks; may throw).
  BuiltinStart start_builtin_locked(std::string_view name, std::string_view kind,
                                    const std::optional<RetryPolicy>& retry,
                                    const std::function<void()>& check_new);
  // Ends an attempt: forgets its call, then stores `result` (complete_step)
  // and calls `done` once that is durable, or records `error` (a stopped
  // attempt is reported, not stored).
  void end_attempt(int64_t seq, std::optional<Json> result, std::optional<Error> error,
                   const AttemptDone& done);
  // The same with the step's own `store` (set when the attempt has a result):
  // it returns an error that fails the attempt instead; one it throws ends it as it is.
  void end_attempt_storing(int64_t seq, const std::function<std::optional<Error>()>& store,
                           std::optional<Error> error, const AttemptDone& done);
  // Keeps `how.call`, waits for `how.resource` and sends, once every earlier
  // write of the run is committed; or ends the attempt through `how.fail`.
  void send_when_durable(int64_t seq, ProviderSend how);
  // Error(closed) while the engine closes, else Error(cancelled), naming `label`.
  Error attempt_stopped_error(const std::string& label) const;
  // Waits for `resource` for the begun step `seq` (step_resources.cc): `then`
  // gets the limiter's error, or held = whether the permit is kept until the
  // step ends (false: the step ended meanwhile). A cancel or the end of the
  // execution stops the wait.
  void wait_for_resource(int64_t seq, const std::string& resource, double tokens,
                         std::function<void(const Error* error, bool held)> then);
  // Caller holds mutex_; cancel what it returns after unlocking.
  std::vector<std::shared_ptr<LlmCall>> take_llm_calls_locked();
  // What the run's llm steps used (completed ones) or hold (in flight, as
  // calls), for its budget (run_budget.h). Caller holds mutex_.
  RunUsage llm_usage_locked() const;
  // What step `seq` (or, with seq < 0, every step) holds and waits for; the
  // caller drops them after unlocking: returning a use may admit another
  // waiter of this same execution, whose callback takes mutex_.
  // Returns its uses and cancels its waits when it goes; declare it before the
  // lock so that happens after the unlock.
  struct HeldResources {
    HeldResources() = default;
    HeldResources(HeldResources&&) = default;
    HeldResources& operator=(HeldResources&&) = default;
    ~HeldResources();
    std::vector<ResourcePermit> permits;
    std::vector<std::shared_ptr<ResourceWait>> waits;
  };
  HeldResources take_resources_locked(int64_t seq);

  std::shared_ptr<EngineCore> core_;
  store::RunRecord run_;
  RetryPolicy workflow_retry_;       // the workflow's policy, or one attempt when unset
  bool workflow_retry_set_ = false;  // unset: llm steps take their default policy
  std::map<int64_t, RetryPolicy> step_retry_;  // per-step overrides, by seq
  struct StepDeadline {
    int64_t at_ms;
    int64_t timeout_ms;
  };
  std::map<int64_t, StepDeadline> step_deadlines_;  // begun steps with a timeout, by seq
  int64_t retry_at_ = 0;                        // a failed attempt's next try; 0 when none
  int64_t started_at_ms_ = 0;                   // when this execution began (lifecycle reports)
  std::map<int64_t, int64_t> attempt_started_ms_;  // begun attempts' starts, by seq
  mutable std::mutex mutex_;
  std::map<int64_t, store::StepRecord> stored_;
  int64_t last_stored_seq_ = -1;
  int64_t next_seq_ = 0;
  bool finished_ = false;
  std::atomic<bool> cancelled_{false};
  // Error JSON of what fails the run whatever the workflow does (nondeterminism,
  // parking with nothing to wait for).
  std::optional<Json> failure_;
  // The last step that failed for good, until the workflow begins anything
  // else (then it caught the error): the detail of the run's error if the
  // error escapes the workflow right away.
  std::optional<Json> step_failure_;
  std::set<int64_t> consumed_signals_;
  std::map<std::string, StreamPosition> stream_positions_;  // streams this execution wrote to
  int64_t last_chunk_flush_ms_ = 0;  // when this execution last wrote token text
  // Why the run parks: the earliest timer and what it waits for.
  int64_t park_wake_at_ = 0;
  std::vector<std::string> park_waiting_for_;
  // llm and http steps in flight, by seq (an http step's LlmCall stops its transfer)
  std::map<int64_t, std::shared_ptr<LlmCall>> llm_calls_;
  std::map<int64_t, std::vector<ResourcePermit>> step_permits_;  // host steps' resources, by seq
  std::map<int64_t, std::vector<std::shared_ptr<ResourceWait>>> step_waits_;

  // The durability barrier: writes are numbered as submitted; the writer
  // reports them done in order.
  uint64_t writes_submitted_ = 0;
  uint64_t writes_done_ = 0;
  // Set by the first write that failed or was refused; later writes are refused.
  std::optional<Error> lost_;
  bool lost_to_store_ = false;      // lost_ is a store failure: the run must be released
  std::atomic<bool> lost_flag_{false};  // lost_ is set, or an op failed in the batch being applied
  std::condition_variable durable_cv_;
  std::vector<std::pair<uint64_t, std::function<void(std::optional<Error>)>>> durable_waiters_;
};

}  // namespace storyloom::detail
