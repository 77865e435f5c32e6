// Engine: one open store plus the worker threads, timers and event hub of one
// process. Thread-safe: every method may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storyloom/clock.h"
#include "storyloom/context.h"
#include "storyloom/events.h"
#include "storyloom/execution.h"
#include "storyloom/image.h"
#include "storyloom/lifecycle.h"
#include "storyloom/llm.h"
#include "storyloom/resource.h"
#include "storyloom/retry.h"
#include "storyloom/run.h"
#include "storyloom/webhooks.h"

namespace storyloom {

namespace detail {
class EngineCore;
class SubscriptionState;
}  // namespace detail

// Limits on what callers can send; larger input is refused with payload_too_large.
inline constexpr size_t kMaxNameBytes = 128;             // workflow, step, signal, artifact, event type, stream
inline constexpr size_t kMaxKeyBytes = 256;              // idempotency key, owner
inline constexpr size_t kDefaultMaxPayloadBytes = 1 << 20;  // any one JSON payload, serialized
inline constexpr size_t kDefaultMaxArtifactBytes = 16 << 20;  // one binary artifact's bytes

// What a commit survives. Either way a step's result reaches the workflow only
// after its commit, and a write that fails is never acknowledged.
enum class Durability {
  // Every group commit is synced to disk before anyone hears of it: what the
  // engine reported survives a crash of the process and a power loss.
  full,
  // Commits are synced at checkpoints only: what the engine reported survives
  // a crash of the process (kill -9, an exception, a redeploy); a power loss
  // or an OS crash may take back the last commits.
  normal,
};

struct EngineOptions {
  // "sqlite:PATH", a plain PATH, or ":memory:" (nothing persists).
  std::string store = ":memory:";
  Durability durability = Durability::full;
  // Threads running synchronous (C++) workflow functions. Each waits for its
  // step's commit before going on, so this many runs share a group commit:
  // more workers, more runs per commit (threads waiting hold no CPU).
  int workers = 32;
  // Executions in flight at once, host-driven ones included. One run more is
  // claimed ahead: `running` in the store, it waits for the next free slot.
  int max_executions = 256;
  size_t max_payload_bytes = kDefaultMaxPayloadBytes;
  // The bytes of one binary artifact (a picture); larger ones are refused
  // with payload_too_large naming this limit. At least 1024.
  size_t max_artifact_bytes = kDefaultMaxArtifactBytes;
  // Arrays and objects nested deeper than this in any JSON a host sends (run
  // input, step result, signal, artifact, progress, event data, output) are
  // refused with invalid_argument naming the limit. 1..kMaxJsonDepthLimit
  // (storyloom/json.h); stored JSON is always read back up to that maximum.
  int max_json_depth = kDefaultMaxJsonDepth;
  // Token text is persisted at least this often and, per run, at most once per
  // interval however fast it arrives (at most 20 writes a second by default).
  std::chrono::milliseconds chunk_flush_interval{50};
  size_t chunk_flush_bytes = 4096;  // ... sooner once this much waits, if the interval allows
  std::chrono::milliseconds poll_interval{50};  // other processes' changes, timers, leases
  std::chrono::milliseconds lease_ttl{10000};   // a silent engine's runs are reclaimed after this
  std::chrono::milliseconds drain_timeout{5000};  // close() waits this long for executions
  std::shared_ptr<Clock> clock;                 // defaults to the system clock
  std::function<double()> random01;             // jitter source in [0, 1); defaults to a PRNG
  // LLM providers of the llm step (storyloom/llm.h); by default those of the environment.
  LlmOptions llm;
  // Image providers of the image step (storyloom/image.h); by default offline,
  // plus openai when the environment configures it.
  ImageOptions images;
  // Limits of named resources (storyloom/resource.h). Every LLM provider has
  // one, "llm:<name>" unless it names another; unlisted ones are unlimited.
  std::map<std::string, ResourceLimits> resources;
};

// Synchronous C++ workflow function, run on an engine worker thread.
using WorkflowFn = std::function<Json(Context&, const Json& input)>;
// Host-driven workflow: called on an engine thread with a fresh Execution that
// the host owns from then on and must finish (from any thread). Must not block.
using ExecuteFn = std::function<void(Execution)>;

// Caps the running runs of a workflow per value of a key taken from the run
// input (e.g. 2 running runs per user). The key is a JSON path into the input
// object: "$.user_id", "user_id" and "$.user.id" are accepted (object members
// only, separated by dots). A run whose input lacks the path is in the `null`
// bucket: all such runs share one key whose value is JSON null.
struct ConcurrencyKey {
  std::string key;  // JSON path into the input; must not be empty
  int limit = 1;    // at least 1
};

// Caps how many runs start per key per period; the rest stay queued, in
// order, and start as the period allows. Only a run's first start counts
// (resuming after a sleep, a signal or a retry does not). Key paths and the
// null bucket work as for ConcurrencyKey; an empty key is one bucket for the
// whole workflow.
struct Throttle {
  std::string key;
  int limit = 1;                          // at least 1
  std::chrono::milliseconds period{1000};  // at least 1 ms
};

// Limits hold across every process sharing the store (they are counted in the
// claim transaction); processes registering the same workflow must give it the
// same options. Sleeping and waiting runs hold no slot.
struct WorkflowOptions {
  // For every step of the workflow unless the step has its own. Unset
  // (nullopt): host and http steps make one attempt and llm steps retry by
  // default (default_llm_retry_policy, storyloom/llm.h); set, it applies to
  // llm steps too, so RetryPolicy{} (one attempt) turns their retries off.
  std::optional<RetryPolicy> retry = std::nullopt;
  int max_running = 0;  // running runs of this workflow at once; 0: no limit
  std::optional<ConcurrencyKey> concurrency = std::nullopt;
  std::optional<Throttle> throttle = std::nullopt;
  // From the run's first start, parked time included; the run then fails with
  // ErrorCode::timeout (class timeout) and is not retried. 0: no timeout.
  std::chrono::milliseconds run_timeout{0};
};

// Live events of one run. Destroying it (or close()) stops delivery; after
// close() returns no callback is running or will run, unless close() is called
// from inside the callback itself.
class Subscription {
 public:
  explicit Subscription(std::shared_ptr<detail::SubscriptionState> state);
  ~Subscription();
  Subscription(Subscription&&) noexcept;
  Subscription& operator=(Subscription&&) noexcept;
  void close();

 private:
  std::shared_ptr<detail::SubscriptionState> state_;
};

// One run of start_many: what start() takes.
struct StartRequest {
  std::string workflow;
  Json input;
  StartOptions options;
};

// One answer of start_many: the run (the existing one when its idempotency
// key was seen), or why it was not started.
struct StartResult {
  std::optional<RunInfo> run;
  std::optional<Error> error;
};

// One signal of signal_many: what signal() takes.
struct SignalRequest {
  std::string run_id;
  std::string name;
  Json payload;
  // First wins: delivered only if the run never received a signal of this
  // name (read by a wait or still in its mailbox); otherwise refused with
  // invalid_state ("... has already received signal ..."). Decided in the
  // commit, so of several senders racing exactly one is delivered.
  bool once = false;
};

class Engine {
 public:
  // Opens (creating if needed) the store and starts the engine's threads.
  // Reads, starts, signals and cancels work at once; no run executes until
  // launch(). Throws Error.
  static std::unique_ptr<Engine> open(EngineOptions options);
  // Begins executing runs: new ones, and those left executing by a dead
  // process (resumed). Call it once the host has registered its workflows, so
  // that a recovered run finds every workflow it needs. Workflows registered
  // later are executed too. Idempotent; Error(closed) after close().
  void launch();
  ~Engine();  // close()

  // Stops claiming work and tells executions to stop (ctx.cancelled() turns
  // true; the next step call throws Error(closed)); waits up to drain_timeout
  // for them, puts every unfinished run back in the queue for the next open,
  // and stops all threads. Results of steps that finish meanwhile are kept.
  // Returns within drain_timeout (plus at most 0.1 s for threads on their way
  // out): a worker thread still inside a workflow or step function then is left
  // running; whatever it does next is refused (Error(closed)), its step runs
  // again after the next open, and everything that function captured must stay
  // valid until it returns. Refused with Error(invalid_state) from the
  // engine's own threads (inside a workflow, step or subscription callback).
  void close();
  // close() without waiting for executions: every one still in flight is put
  // back in the queue at once, as after a crash (nothing committed is lost).
  // For a host that is exiting and will never finish them (Node's
  // process.exit(): its event loop no longer runs).
  void close_now();

  void register_workflow(std::string_view name, WorkflowFn fn, WorkflowOptions options = {});
  void register_workflow(std::string_view name, ExecuteFn fn, WorkflowOptions options = {});

  // The workflow must be registered here or by another engine on the same
  // store (which then executes it); input must be a JSON object. An idle
  // engine starts a local workflow in the same commit (status running), a busy
  // one queues it (status queued). Returns the run (the existing one when the
  // idempotency key was seen). The run is durable when this returns.
  RunInfo start(std::string_view workflow, Json input, const StartOptions& options = {});
  // Starts many runs in one commit (each checked alone: one refused request
  // does not stop the others). Returns one result per request, in order; the
  // runs are durable when this returns. Runs are queued, not dispatched
  // directly, so a burst does not starve runs already waiting.
  std::vector<StartResult> start_many(std::vector<StartRequest> requests);
  // start() without waiting: checks the arguments (throwing Error as start()
  // does), queues the start and returns at once; `done` runs exactly once,
  // with the run once it is durable or with why it was not started. `done`
  // runs on the engine's writer thread: be quick, never call the engine from
  // it and wait (hand the result to your own thread or event loop). Lets an
  // event-loop host issue many starts without waiting for each commit.
  using StartDone = std::function<void(StartResult)>;
  void start_async(std::string_view workflow, Json input, const StartOptions& options,
                   StartDone done);
  RunInfo get(std::string_view run_id);
  RunPage list(const RunFilter& filter = {});
  // Only finished runs; removes steps, events, artifacts and signals too.
  void remove(std::string_view run_id);

  // Cancels a run that is not finished, and its unfinished child runs.
  void cancel(std::string_view run_id);
  // Delivers a signal to the run's mailbox (kept until a wait reads it).
  void signal(std::string_view run_id, std::string_view name, Json payload);
  // signal() that only the first sender of `name` to this run gets through
  // (SignalRequest::once): later ones, even racing, throw invalid_state
  // naming the signal. The earlier payload is in the run's `signal.received` event.
  void signal_once(std::string_view run_id, std::string_view name, Json payload);
  // Delivers many signals in one commit, each checked alone; returns, in
  // order, no error or the one signal() would have thrown.
  std::vector<std::optional<Error>> signal_many(std::vector<SignalRequest> signals);
  // Queues a failed run again; its completed steps are not executed again.
  void retry(std::string_view run_id);
  // Retries every failed run matching `filter` (its status must be unset or
  // failed; limit and cursor are ignored). Returns how many were queued.
  // A run whose stored row cannot be decoded (RunInfo::unreadable) is not
  // retried; its id is appended to `unreadable` when given.
  size_t retry_failed(const RunFilter& filter, std::vector<std::string>* unreadable = nullptr);

  // Cancels every unfinished run matching `filter` (its status, if set, must
  // be unfinished; limit and cursor are ignored) and their unfinished
  // children. Returns the ids of the matching runs it cancelled.
  std::vector<std::string> cancel_many(const RunFilter& filter);
  // Changes the priority of a queued run (higher starts first) and records a
  // `run.priority` event. Refused with invalid_state unless the run is queued.
  void set_priority(std::string_view run_id, int priority);
  // Redo from a step: forgets the stored result of the first step named
  // `step_name` and of every step after it, keeps the earlier ones, and
  // queues the run again; records `run.rewound` {step, invalidated:[names]}.
  // Artifacts keep their earlier versions; signals already read stay read.
  // Only completed or failed runs (invalid_state otherwise); a step name the
  // run never recorded is not_found. Rewinding across a child run (invoke) is
  // refused with invalid_state.
  void rewind(std::string_view run_id, std::string_view step_name);

  Snapshot snapshot(std::string_view run_id);
  // Every version of every artifact, by key then version.
  std::vector<ArtifactInfo> artifacts(std::string_view run_id);
  // The bytes of a binary artifact: `version` 0 is the latest. Throws
  // not_found for an unknown run, key or version, invalid_argument when that
  // artifact holds JSON (read it with artifacts()).
  ArtifactBytes artifact_bytes(std::string_view run_id, std::string_view key, int64_t version = 0);
  // Stored events after `after_id`, at most `limit`.
  std::vector<Event> events(std::string_view run_id, int64_t after_id, size_t limit = 1000);
  // Stored events after `after_id`, then live ones, with no gap and no
  // duplicate. The callback runs on an engine thread, one event at a time; it
  // must be quick and must not call back into the engine. A callback that
  // throws ends its subscription.
  Subscription subscribe(std::string_view run_id, int64_t after_id, EventCallback callback);

  // Sets or replaces the limits of a resource (throws invalid_argument naming
  // the field); requests already waiting are rechecked against them.
  void configure_resource(const std::string& name, const ResourceLimits& limits);
  ResourceStatus resource_status(const std::string& name);
  // The configured LLM providers, API keys left out, and the default one:
  // {"default": name, "providers": [{"name","kind","base_url","model","resource","has_key"}]}.
  Json llm_providers();

  const EngineOptions& options() const;

  // Reports run executions and step attempts as they start and end
  // (storyloom/lifecycle.h), for tracing and metrics; set it before launch()
  // to see every run. Replaces the earlier callback; an empty one stops the
  // reports. The callback runs on a thread of the engine's own, in order.
  void set_lifecycle_callback(LifecycleCallback callback);

  // Webhooks (storyloom/webhooks.h; core/webhooks/). Sets or replaces the
  // outbound subscriptions, secrets included (kept in memory only); the first
  // call registers the delivery workflow and starts reading events. Throws
  // invalid_argument naming the bad field.
  void configure_webhooks(WebhookOptions options);
  // Verifies an inbound webhook and, when authentic, starts or signals a run
  // once per webhook id. A refusal is in the verdict, not thrown; a bad
  // `hook` (no secret, no workflow or run) throws invalid_argument.
  InboundResult receive_webhook(const InboundWebhook& hook, const WebhookHeaders& headers,
                                std::string_view body);

 private:
  explicit Engine(std::shared_ptr<detail::EngineCore> core);
  std::shared_ptr<detail::EngineCore> core_;
};

}  // namespace storyloom
