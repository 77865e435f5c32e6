// Execution: one attempt at running a run's workflow function, driven by the
// host. This is the asynchronous heart every binding uses (the C ABI exposes it
// one to one); the synchronous Context in context.h is built on top of it.
//
// Thread rules: every method may be called from any thread, including several
// at once (parallel steps). Exactly one finish_*() call ends the execution;
// calls after it throw Error(invalid_state).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "storyloom/error.h"
#include "storyloom/http_step.h"
#include "storyloom/image.h"
#include "storyloom/json.h"
#include "storyloom/llm.h"
#include "storyloom/retry.h"

namespace storyloom {

namespace detail {
class ExecutionState;
}

// Outcome of a durable wait (sleep, signal, child run).
enum class WaitState {
  ready,      // satisfied: continue with `value`
  timed_out,  // wait_for_signal only: the timeout passed with no signal
  parked,     // not yet: unwind the workflow function and call finish_parked()
};

struct WaitResult {
  WaitState state = WaitState::parked;
  Json value;
};

struct StepBegin {
  int64_t seq = 0;      // pass back to complete_step / fail_step
  bool memoized = false;
  Json result;          // the stored result when memoized
  int attempt = 1;      // 1 on the first try, 2 on the first retry, ...
};

// What fail_step decided.
struct StepFailure {
  bool will_retry = false;            // the run is requeued: unwind and finish (any finish_* call)
  int attempt = 1;                    // the attempt that failed
  std::chrono::milliseconds delay{0};  // until the next attempt
};

class Execution {
 public:
  explicit Execution(std::shared_ptr<detail::ExecutionState> state);
  ~Execution();
  Execution(Execution&&) noexcept;
  Execution& operator=(Execution&&) noexcept;

  const std::string& run_id() const;
  const std::string& workflow() const;
  const Json& input() const;
  // true once the run was cancelled (here or by another process) or the engine
  // began closing; steps should stop early. Further begin_step calls throw
  // Error(cancelled), or Error(closed) when closing (the run is then requeued).
  bool cancelled() const;

  // Host step, phase one. Returns the stored result when the step completed in
  // an earlier execution (memoized), else a seq to complete later. Throws
  // nondeterminism when the name differs from what this position recorded.
  // `retry` overrides the workflow's policy for this step.
  StepBegin begin_step(std::string_view name, std::optional<RetryPolicy> retry = std::nullopt);
  // Host step, phase two: queues the result for the next group commit and
  // returns at once. The workflow must not go on (use the result, begin
  // another step) before the result is durable: wait with when_durable() or
  // wait_durable(). begin_step and llm wait by themselves for every earlier
  // write, so nothing later starts on an uncommitted result.
  void complete_step(int64_t seq, Json result);
  // `done` runs once every write this execution made so far (step results,
  // waits, progress, artifacts, events, token text) is committed, with no
  // error; or with the error that lost one of them: Error(store) when a commit
  // failed (the run goes back to the queue once this execution finishes) or
  // Error(cancelled) / Error(invalid_state) when the run was cancelled or
  // taken over meanwhile. After such an error every later call fails with it;
  // finish the execution. `done` runs on this thread before when_durable()
  // returns when nothing is pending, else on the engine's writer thread, where
  // it must be quick and must not wait for the engine.
  void when_durable(std::function<void(std::optional<Error> error)> done);
  // Blocks until when_durable() would call back; throws its error.
  void wait_durable();
  // Records a failed attempt. Retryable and rate-limited errors are retried per
  // the step's policy: the run is requeued for the next attempt once this
  // execution finishes (whichever finish_* the host calls). Otherwise, or when
  // attempts are exhausted, the step has failed for good: it is stored as
  // failed (begin_step of it on replay throws this error again) and the host
  // raises the error in the workflow, which may catch it and go on; only an
  // error that escapes the workflow fails the run.
  StepFailure fail_step(int64_t seq, const Error& error);
  // The host step `seq` (begun here, not yet completed or failed) needs one
  // use of `resource` (storyloom/resource.h), costing about `tokens` of its
  // token budget (0 for non-LLM work). `granted` runs exactly once: with no
  // error once the resource admits it — on this thread before acquire()
  // returns when admitted at once, else on an engine thread, where it must be
  // quick — or with Error(cancelled) / Error(closed) when the run is
  // cancelled or the engine closes while it waits. Waiting holds no thread.
  // The use is returned when the step completes or fails (a rate-limited
  // failure with a retry-after pauses the whole resource until then) or the
  // execution finishes. Throws invalid_argument for a bad name, a negative
  // estimate or a seq this execution has not begun.
  void acquire(int64_t seq, std::string_view resource, double tokens,
               std::function<void(std::optional<Error> error)> granted);
  // The host step at `seq` is alive: its timeout (RetryPolicy::timeout) counts
  // again from now. A step that stops heartbeating past its timeout loses the
  // run: the attempt fails with a timeout and the run is requeued (or fails)
  // without waiting for the host. Throws invalid_argument for a seq this
  // execution has not begun, invalid_state once the execution has finished.
  void heartbeat(int64_t seq);
  // Heartbeats every step of this execution still in progress.
  void heartbeat_all();

  WaitResult sleep(std::string_view name, std::chrono::milliseconds duration);
  // timeout: nullopt waits forever.
  WaitResult wait_for_signal(std::string_view name,
                             std::optional<std::chrono::milliseconds> timeout);
  // Starts `workflow` as a child run (once) and waits for its output. A failed
  // or cancelled child makes this throw Error(step_failed) with the child's message.
  WaitResult invoke(std::string_view name, std::string_view workflow, Json input);

  // The built-in llm step `name` (storyloom/llm.h), memoized like a step. A
  // new attempt waits for the provider's resource (holding no thread; event
  // `llm.waiting` when it has to), records `llm.attempt` {seq, name, stream,
  // attempt, provider, model}, streams the text as chunks of the stream (each
  // token heartbeats the step, so a step timeout bounds silence), and
  // records the result — or the failed attempt, retried per `retry` (else the
  // workflow's policy) as fail_step does. `done` runs exactly once: on this
  // thread before llm() returns when the step is memoized, else on an engine
  // thread, where it must be quick (hand the outcome to your own thread or
  // loop). Cancelling the run or closing the engine stops the transfer at
  // once (done gets Error(cancelled) or Error(closed), nothing is recorded).
  // Throws, before anything starts, what begin_step throws, invalid_argument
  // for a bad request and not_found for an unknown provider.
  void llm(std::string_view name, LlmRequest request, LlmCallback done,
           std::optional<RetryPolicy> retry = std::nullopt);

  // The built-in http step `name` (storyloom/http_step.h), memoized like a
  // step: a new attempt is sent once every earlier write of the run is
  // committed, after its resource (if any) admits it (holding no thread), and
  // records `http.attempt` {seq, name, attempt, method, host}; the response
  // is stored, or the failed attempt retried per `retry` (else the workflow's
  // policy) as fail_step does. `done` runs exactly once: on this thread
  // before http() returns when memoized, else on an engine thread, where it
  // must be quick. Cancelling the run or closing the engine stops the
  // transfer at once (done gets Error(cancelled) or Error(closed), nothing is
  // recorded). Throws, before anything starts, what begin_step throws and
  // invalid_argument for a bad request (validate(HttpStepRequest)).
  void http(std::string_view name, HttpStepRequest request, HttpStepCallback done,
            std::optional<RetryPolicy> retry = std::nullopt);

  // The built-in image step `name` (storyloom/image.h), memoized like a
  // step: a new attempt waits until every earlier write of the run is
  // committed and its provider's resource admits it (holding no thread),
  // records `image.attempt` {seq, name, attempt, provider, model, size,
  // artifact}, then asks the provider for one picture (the offline provider
  // draws it). The picture becomes a new version of the binary artifact
  // request.artifact (else `name`), with an `artifact` event, in the same
  // commit as the step's result, which names that version. A failed attempt
  // is retried per `retry` (else the workflow's policy, else
  // default_image_retry_policy()): 401/403/400 fatal, 429 rate-limited with
  // its Retry-After (pausing the resource), 5xx, broken transfers and
  // malformed answers retryable, timeouts ErrorCode::timeout. `done` runs
  // exactly once: on this thread before image() returns when memoized, else
  // on an engine thread, where it must be quick. Cancelling the run or
  // closing the engine stops the transfer at once (done gets Error(cancelled)
  // or Error(closed), nothing is recorded). Throws, before anything starts,
  // what begin_step throws, invalid_argument for a bad request (or an offline
  // provider with no drawer) and not_found for an unknown provider.
  void image(std::string_view name, ImageRequest request, ImageCallback done,
             std::optional<RetryPolicy> retry = std::nullopt);

  // Not memoized: skipped while the execution replays stored steps.
  void progress(Json value);
  void artifact(std::string_view key, Json value);
  // A new version of a binary artifact (a picture): `content_type` is a media
  // type such as "image/png"; the stored value is {"content_type", "size",
  // "sha256"}. Throws payload_too_large over EngineOptions::max_artifact_bytes,
  // invalid_argument for a bad key or media type. Replaying the same bytes
  // after a crash keeps one version.
  void binary_artifact(std::string_view key, std::string_view content_type, std::string bytes);
  void emit(std::string_view type, Json data);
  // Token text: delivered live at once, persisted coalesced.
  void chunk(std::string_view stream, std::string_view text);

  // An output over the payload limit fails the run, then throws that error.
  void finish_completed(Json output);
  void finish_failed(const Error& error);
  void finish_parked();

 private:
  std::shared_ptr<detail::ExecutionState> state_;
};

}  // namespace storyloom
