/* storyloom.h: the C ABI of storyloom (libstoryloom). Python, Node and plain C
 * hosts all bind to this header; it is usable without reading any source.
 *
 * Conventions
 *  - Handles are opaque: sl_engine, sl_execution, sl_subscription. Every open
 *    has a close accepting NULL; an execution is closed by its finish call.
 *  - Strings in are (const char*, size_t len) UTF-8 and need no NUL; NULL with
 *    len 0 is "", NULL with len > 0 is SL_EINVALID.
 *  - Fallible calls return SL_OK (0) or an SL_E* code (= storyloom::ErrorCode)
 *    and write results through out-parameters that come first (NULL/0 on failure).
 *  - The last error is per calling thread: sl_last_error_code/_class/_message;
 *    the message stays valid until that thread's next failing call.
 *  - Buffers handed out (char** out) are NUL-terminated; free them with
 *    sl_free(), never free(). Structured results are JSON text (shapes below).
 *  - Options structs start with `version`: initialise with SL_*_OPTIONS_INIT;
 *    a NULL options pointer means defaults.
 *  - Every function may be called from any thread unless its comment says
 *    otherwise. Callbacks run on engine threads: an event callback must be
 *    quick and must not call into the engine; an execute callback may drive
 *    its execution. No C++ exception crosses this ABI.
 *
 * JSON shapes
 *  run:      {"id","workflow","status","input","output","error","progress",
 *             "owner","idempotency_key","parent_id","priority",
 *             "created_at_ms","updated_at_ms","finished_at_ms",
 *             "budget":{"llm_calls","llm_tokens"} (0: no limit)}
 *            status: queued|running|sleeping|waiting|completed|failed|cancelled;
 *            output, error, progress: JSON or null; error is
 *            {"code","class","message","step"}; absent strings are "";
 *            finished_at_ms is 0 until the run finishes. A run whose stored
 *            row cannot be decoded (a damaged file) appears only in run
 *            pages, with "unreadable": "<why>" and its undecodable fields
 *            null; reading it otherwise fails with SL_ESTORE naming it.
 *            Every string is valid UTF-8 (error messages that were not have
 *            U+FFFD in place of the bad bytes). JSON a host sends may nest
 *            32 levels (config_json "max_json_depth", up to 1000).
 *  run page: {"runs":[run...],"next_cursor":"<run id>" or "" at the end}
 *  snapshot: {"run":run,
 *             "steps":[{"seq","name","kind","status","result","completed_at_ms"}],
 *             "artifacts":[artifact...] (latest version of each key),
 *             "last_event_id",
 *             "usage":{"llm_calls","input_tokens","output_tokens","total_tokens",
 *                      "by_model":[{"provider","model","calls","input_tokens",
 *                                   "output_tokens","total_tokens"}]}
 *               (what the completed llm steps used; failed attempts report none),
 *             "budget":{"llm_calls","llm_tokens","spent_llm_calls",
 *                       "spent_llm_tokens","remaining_llm_calls" (null: no limit),
 *                       "remaining_llm_tokens" (null: no limit),"exceeded"}}
 *  artifact: {"key","version","value","created_at_ms"}
 *             "last_event_id"}
 *  artifact: {"key","version","value","created_at_ms"}, and "content_type"
 *            for a binary artifact (sl_execution_binary_artifact)
 *  event:    {"id","run_id","type","data","created_at_ms"}
 *  llm:      request and result shapes at sl_execution_llm
 */
#ifndef STORYLOOM_STORYLOOM_H_
#define STORYLOOM_STORYLOOM_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Marks the exported functions; everything else in libstoryloom is hidden. */
#if defined(_WIN32)
#if defined(SL_BUILDING_LIBRARY)
#define SL_API __declspec(dllexport)
#else
#define SL_API __declspec(dllimport)
#endif
#else
#define SL_API __attribute__((visibility("default")))
#endif

#define SL_VERSION_MAJOR 0
#define SL_VERSION_MINOR 1
#define SL_VERSION_PATCH 0
#define SL_VERSION_STRING "0.1.0"

/* ---- status codes, error classes ---------------------------------------- */

/* Status codes; never renumbered (they equal storyloom::ErrorCode). */
enum {
  SL_OK = 0,
  SL_EINVALID = 1,         /* malformed input: NULL, bad name, bad JSON, non-object input */
  SL_ENOTFOUND = 2,        /* unknown run, workflow */
  SL_EINVALIDSTATE = 3,    /* the run is not in a state that allows the call */
  SL_ETOOLARGE = 4,        /* a JSON payload or name over its limit */
  SL_ESTORE = 5,           /* the store failed (I/O, SQLite error) */
  SL_ENOTADB = 6,          /* the store path is not a storyloom database */
  SL_ESCHEMATOONEW = 7,    /* the store was written by a newer storyloom */
  SL_ENONDETERMINISM = 8,  /* replay called steps in a different order */
  SL_ECANCELLED = 9,       /* the run was cancelled */
  SL_ESTEPFAILED = 10,     /* a step (or child run) failed */
  SL_ECLOSED = 11,         /* the engine is closed or closing */
  SL_ETIMEOUT = 12,        /* a step or run took too long */
  SL_EINTERNAL = 13,       /* a bug in storyloom, or out of memory */
  SL_EPROVIDER = 14,       /* an LLM provider refused or failed a request */
  SL_EQUOTA = 15,          /* the provider account is out of quota or credit (fatal) */
  SL_EBUDGET = 16          /* the run's LLM budget is spent (fatal; sl_start_options) */
};

/* How a failure should be treated by retry policies (storyloom::ErrorClass). */
enum {
  SL_CLASS_RETRYABLE = 0,
  SL_CLASS_FATAL = 1,
  SL_CLASS_RATE_LIMITED = 2,
  SL_CLASS_TIMEOUT = 3 /* a step or run took too long; a step timeout is retried per policy */
};

/* The calling thread's last error: code (SL_OK before any failure), class, and
 * message (UTF-8, also NUL-terminated; valid until this thread's next failing
 * call). Any thread; either out-parameter of the message may be NULL. */
SL_API int sl_last_error_code(void);
SL_API int sl_last_error_class(void);
SL_API void sl_last_error_message(const char** msg, size_t* len);

/* The library's version, "MAJOR.MINOR.PATCH" (static storage, never freed). */
SL_API const char* sl_version(void);

/* Frees a buffer handed out by this library. NULL is a no-op. Any thread. */
SL_API void sl_free(void* buffer);

/* ---- engine --------------------------------------------------------------- */

typedef struct sl_engine sl_engine;
typedef struct sl_execution sl_execution;
typedef struct sl_subscription sl_subscription;

/* The longest duration any call accepts, in ms (100 years): sleeps, signal
 * wait timeouts, step and run timeouts, backoffs, engine intervals. A longer
 * one is refused with SL_EINVALID naming the parameter; it never wraps around
 * to "now". A wait with no timeout (negative timeout_ms) has no limit. */
#define SL_MAX_DURATION_MS INT64_C(3155760000000)

/* Zero in a numeric field means the engine's default (shown in brackets). */
typedef struct sl_engine_options {
  unsigned int version;      /* SL_ENGINE_OPTIONS_VERSION */
  const char* store;         /* "sqlite:PATH", a PATH, or ":memory:" [":memory:"] */
  size_t store_len;
  int workers;               /* threads running execute callbacks [32] */
  int max_executions;        /* executions in flight at once [256] */
  size_t max_payload_bytes;  /* limit on any one JSON payload [1 MiB] */
  int64_t poll_interval_ms;  /* timers, other processes' changes [50] */
  int64_t lease_ttl_ms;      /* a silent engine's runs are reclaimed after [10000] */
  int64_t drain_timeout_ms;  /* close waits this long for executions [5000] */
  /* version 2 */
  /* LLM providers and resource limits as JSON (NULL: providers from the
   * environment, no limits): {"llm": {"default_provider", "use_environment",
   * "providers": [{"name", "kind": "openai"|"anthropic"|"gemini"|"offline", "base_url",
   * "api_key", "model", "resource", "connect_timeout_ms", "idle_timeout_ms",
   * "offline_word_delay_ms"}]}, "resources": {"NAME": {"requests",
   * "period_ms", "burst", "max_in_flight", "tokens_per_minute"}}}, and
   * "max_json_depth", "max_artifact_bytes" (sl_execution_binary_artifact). Keys
   * stay in memory: they are sent as request headers and never stored or logged. */
  const char* config_json;
  size_t config_json_len;
  /* version 3 */
  int durability;            /* SL_DURABILITY_* [SL_DURABILITY_FULL] */
} sl_engine_options;
#define SL_ENGINE_OPTIONS_VERSION 3
#define SL_ENGINE_OPTIONS_INIT {SL_ENGINE_OPTIONS_VERSION, NULL, 0, 0, 0, 0, 0, 0, 0, NULL, 0, 0}

/* What a commit survives (storyloom/engine.h Durability). Either way a step's
 * result is acknowledged only after its commit. */
enum {
  SL_DURABILITY_FULL = 1,  /* every group commit synced: survives power loss */
  SL_DURABILITY_NORMAL = 2 /* synced at checkpoints: survives a process crash only */
};

/* Opens (creating if needed) the store and starts the engine's threads.
 * Reads, starts, signals and cancels work at once; no run executes until
 * sl_engine_launch. Several engines may live in one process. Errors:
 * SL_EINVALID (options), SL_ESTORE (cannot open), SL_ENOTADB,
 * SL_ESCHEMATOONEW. Any thread. */
SL_API int sl_engine_open(sl_engine** out, const sl_engine_options* options);

/* Begins executing runs: new ones and those a dead process left running.
 * Call it once every workflow is registered, so a recovered run finds the
 * workflows it invokes; workflows registered later run too. Idempotent.
 * Errors: SL_ECLOSED. Any thread. */
SL_API int sl_engine_launch(sl_engine* engine);

/* Stops claiming runs, waits up to drain_timeout_ms for executions in flight,
 * puts the rest back in the queue for the next open, stops the engine's
 * threads and frees the handle. NULL is a no-op. It returns within
 * drain_timeout_ms (plus at most 100 ms): an execute callback still running
 * then is left running on its thread, its calls fail with SL_ECLOSED, and its
 * user_data must stay valid until it returns. Not concurrently with other
 * calls on this engine, and never from inside a callback: it joins the
 * threads that run them, so it fails there (last error SL_EINVALIDSTATE,
 * "close() was called from one of the engine's own threads ...") and leaves
 * the engine half-closed. Executions and subscriptions may outlive
 * it: their calls fail, and they must still be finished / closed. */
SL_API void sl_engine_close(sl_engine* engine);

/* sl_engine_close without waiting for executions (a zero drain timeout): each
 * one still in flight is put back in the queue at once, as after a crash, and
 * resumes after the next open; nothing committed is lost. For a host that is
 * exiting and will never finish its executions (Node's process.exit()). */
SL_API void sl_engine_close_now(sl_engine* engine);

/* Per-workflow options (storyloom/engine.h WorkflowOptions).
 * The retry policy for every step of the workflow (storyloom/retry.h): up to
 * max_attempts tries; before try n+1 a wait in [0, min(max_backoff_ms,
 * initial_backoff_ms * multiplier^(n-1))] (full jitter; no_jitter waits the
 * whole bound). Fatal errors are never retried; a rate-limited error's
 * retry-after replaces the backoff. Errors: SL_EINVALID naming the field
 * (max_attempts < 1, negative backoff, multiplier < 1, max < initial).
 * Version 2 appends timeouts and limits. Key paths are JSON paths into the
 * run input ("$.user_id", "user_id", "$.user.id"); an input without the path
 * is in the null bucket. Limits hold across processes sharing the store;
 * sleeping and waiting runs hold no slot. Errors: SL_EINVALID naming the
 * field (limits < 1, throttle period < 1 ms, empty or malformed key path,
 * negative timeouts).
 * Unset retry policy (version 3: every retry field and step_timeout_ms at
 * its INIT value, max_attempts 0; a policy with another field set and
 * max_attempts 0 has 1 attempt): host and http
 * steps make one attempt, llm steps retry by default (3 attempts, storyloom.h
 * retry_json). max_attempts 1 is an explicit policy of one attempt, which
 * turns the llm default off too. A version 1 or 2 struct whose retry fields
 * all hold their old INIT values (1, 1000, 2.0, 60000, 0) and no step timeout
 * is unset, as before. */
typedef struct sl_workflow_options {
  unsigned int version;       /* SL_WORKFLOW_OPTIONS_VERSION */
  int max_attempts;           /* [0: unset] 1: no retry; see "unset" above */
  int64_t initial_backoff_ms; /* [1000] */
  double multiplier;          /* [2.0] */
  int64_t max_backoff_ms;     /* [60000] */
  int no_jitter;              /* [0: full jitter] */
  /* version 2 */
  int64_t step_timeout_ms;       /* each step attempt must finish or heartbeat within [0: none] */
  int max_running;               /* running runs of the workflow at once [0: no limit] */
  const char* concurrency_key;   /* key path; set it (or the limit) to cap running runs per key */
  size_t concurrency_key_len;
  int concurrency_limit;         /* running runs per key value [0: no per-key limit] */
  const char* throttle_key;      /* key path; empty: one bucket for the workflow */
  size_t throttle_key_len;
  int throttle_limit;            /* first starts per key per period [0: no throttle] */
  int64_t throttle_period_ms;
  int64_t run_timeout_ms;        /* from the first start, parked time included [0: none] */
} sl_workflow_options;
#define SL_WORKFLOW_OPTIONS_VERSION 3
#define SL_WORKFLOW_OPTIONS_INIT \
  {SL_WORKFLOW_OPTIONS_VERSION, 0, 1000, 2.0, 60000, 0, 0, 0, NULL, 0, 0, NULL, 0, 0, 0, 0}

/* Called on an engine worker thread for every execution of a run. The host
 * owns `execution` from then on and ends it with exactly one
 * sl_execution_finish_* call, from any thread, which also frees it. The
 * callback may drive the whole workflow before returning (it then occupies a
 * worker) or hand the execution to another thread or event loop and return. */
typedef void (*sl_execute_fn)(void* user_data, sl_execution* execution);

/* Registers a workflow run by `fn`; user_data must outlive the engine, and
 * any call of `fn` that sl_engine_close left running (see there).
 * Errors: SL_EINVALID (NULL fn, empty, over-long or duplicate name). Any thread. */
SL_API int sl_engine_register_workflow(sl_engine* engine, const char* name, size_t name_len,
                                       const sl_workflow_options* options, sl_execute_fn fn,
                                       void* user_data);

typedef struct sl_start_options {
  unsigned int version;         /* SL_START_OPTIONS_VERSION */
  const char* idempotency_key;  /* same key: the existing run is returned [none] */
  size_t idempotency_key_len;
  const char* owner;            /* free-form owner id, used for listing [none] */
  size_t owner_len;
  int priority;                 /* higher runs first [0] */
  /* version 2: the run's LLM budget (storyloom/budget.h). Once its completed
   * llm steps have used this many calls or total tokens, its next llm step
   * fails with SL_EBUDGET (class fatal) without sending a request. A child
   * run gets what its parent has left. 0: no limit; negative: SL_EINVALID. */
  int64_t budget_llm_calls;
  int64_t budget_llm_tokens;
  /* version 3: the caller's W3C traceparent ("00-<32 hex>-<16 hex>-<2 hex>"),
   * stored with the run; its lifecycle reports (sl_engine_set_lifecycle) carry
   * it, also after a crash and resume, so a host's spans of the run are
   * children of the caller's span. A child run inherits its parent's. Empty:
   * none; anything else: SL_EINVALID. */
  const char* trace_parent;
  size_t trace_parent_len;
} sl_start_options;
#define SL_START_OPTIONS_VERSION 3
#define SL_START_OPTIONS_INIT {SL_START_OPTIONS_VERSION, NULL, 0, NULL, 0, 0, 0, 0, NULL, 0}

/* Starts a run of `workflow` on `input_json` (a JSON object) and returns it
 * as run JSON; the run is durable when this returns. The workflow must be
 * registered here or by another engine on the same store (which runs it).
 * Errors: SL_EINVALID (bad JSON, not an object, bad name), SL_ETOOLARGE,
 * SL_ENOTFOUND (no engine on the store registered the workflow). */
SL_API int sl_engine_start(char** run_json, size_t* run_json_len, sl_engine* engine,
                           const char* workflow, size_t workflow_len, const char* input_json,
                           size_t input_len, const sl_start_options* options);

/* Starts many runs in one commit, each checked alone. requests_json: a JSON
 * array of {"workflow", "input" (an object), "idempotency_key", "owner",
 * "priority", "budget": {"llm_calls", "llm_tokens"}, "trace_parent"} (the last five optional). *results_json (free with sl_free):
 * an array, one element per request in order: {"run": RUN} (the existing run
 * when the idempotency key was seen) or {"error": {"code", "class",
 * "message"}}. The runs are durable when this returns. Errors: SL_EINVALID
 * (not an array, an element not an object, a field of the wrong type, named). */
SL_API int sl_engine_start_many(char** results_json, size_t* results_len, sl_engine* engine,
                                const char* requests_json, size_t requests_len);

/* The answer of sl_engine_start_async: status SL_OK and the run as run JSON
 * (the existing run when its idempotency key was seen) once it is durable, or
 * the error sl_engine_start would have returned and its message. Runs on the
 * engine's writer thread (also while sl_engine_close applies what is queued):
 * be quick, never wait for the engine there. The strings are valid only
 * during the call. */
typedef void (*sl_start_fn)(void* user_data, int status, const char* run_json,
                            size_t run_json_len, const char* message, size_t message_len);

/* sl_engine_start without waiting for the commit: the arguments are checked
 * at once (an error is returned and fn is not called); otherwise the start is
 * queued, this returns SL_OK, and fn runs exactly once with its outcome.
 * Event-loop hosts use it to keep many starts in flight, sharing commits.
 * Errors: those of sl_engine_start found before queueing, SL_EINVALID (NULL
 * fn), SL_ECLOSED. */
SL_API int sl_engine_start_async(sl_engine* engine, const char* workflow, size_t workflow_len,
                                 const char* input_json, size_t input_len,
                                 const sl_start_options* options, sl_start_fn fn,
                                 void* user_data);

/* Delivers many signals in one commit, each checked alone. signals_json: a
 * JSON array of {"run_id", "name", "payload", "once"} ("once": true delivers
 * the signal only if the run never received one of that name: of racing
 * senders exactly one gets through, the others SL_EINVALIDSTATE naming the
 * signal; storyloom::SignalRequest::once). *results_json: an array, one
 * element per signal in order: {"ok": true} or {"error": {"code", "class",
 * "message"}}. Errors: SL_EINVALID as for sl_engine_start_many. */
SL_API int sl_engine_signal_many(char** results_json, size_t* results_len, sl_engine* engine,
                                 const char* signals_json, size_t signals_len);

/* Run JSON of one run. Errors: SL_ENOTFOUND. Any thread. */
SL_API int sl_engine_get_run(char** run_json, size_t* run_json_len, sl_engine* engine,
                             const char* run_id, size_t run_id_len);

/* Empty strings do not filter. */
typedef struct sl_list_options {
  unsigned int version;  /* SL_LIST_OPTIONS_VERSION */
  const char* status;    /* a run status, e.g. "failed" (the dead-letter view) */
  size_t status_len;
  const char* workflow;
  size_t workflow_len;
  const char* owner;
  size_t owner_len;
  size_t limit;          /* 1..1000 [100] */
  const char* after;     /* paging cursor: next_cursor of the previous page */
  size_t after_len;
  /* version 2: the dead-letter view */
  int by_error_class;          /* 1: only runs whose error has error_class [0: any] */
  int error_class;             /* SL_CLASS_* */
  int64_t finished_after_ms;   /* finished at or after [0: no bound] */
  int64_t finished_before_ms;  /* finished before [0: no bound] */
} sl_list_options;
#define SL_LIST_OPTIONS_VERSION 2
#define SL_LIST_OPTIONS_INIT \
  {SL_LIST_OPTIONS_VERSION, NULL, 0, NULL, 0, NULL, 0, 0, NULL, 0, 0, 0, 0, 0}

/* A run page, oldest first. Errors: SL_EINVALID (status, limit, cursor). */
SL_API int sl_engine_list_runs(char** page_json, size_t* page_json_len, sl_engine* engine,
                               const sl_list_options* options);

/* Deletes a finished run with its steps, events, artifacts, signals and child
 * runs. Errors: SL_ENOTFOUND, SL_EINVALIDSTATE (not finished). */
SL_API int sl_engine_delete_run(sl_engine* engine, const char* run_id, size_t run_id_len);

/* Cancels an unfinished run and its unfinished child runs; an execution in
 * flight sees sl_execution_cancelled(). Errors: SL_ENOTFOUND, SL_EINVALIDSTATE. */
SL_API int sl_engine_cancel(sl_engine* engine, const char* run_id, size_t run_id_len);

/* Puts a signal in the run's mailbox, where it stays until a wait of that
 * name reads it (it may be sent before the wait). Errors: SL_ENOTFOUND,
 * SL_EINVALIDSTATE (finished run), SL_EINVALID, SL_ETOOLARGE. */
SL_API int sl_engine_signal(sl_engine* engine, const char* run_id, size_t run_id_len,
                            const char* name, size_t name_len, const char* payload_json,
                            size_t payload_len);

/* Queues a failed run again; its completed steps are not executed again.
 * Errors: SL_ENOTFOUND, SL_EINVALIDSTATE (not failed). */
SL_API int sl_engine_retry(sl_engine* engine, const char* run_id, size_t run_id_len);

/* Queues every failed run matching `filter` (NULL: all failed runs; its status,
 * if set, must be "failed"; limit and cursor are ignored); *count says how
 * many. Errors: SL_EINVALID (filter). */
SL_API int sl_engine_retry_failed(size_t* count, sl_engine* engine, const sl_list_options* filter);

/* Cancels every unfinished run matching `filter` (NULL: all; its status, if
 * set, must be unfinished; limit and cursor are ignored) and their unfinished
 * children; *ids_json is the JSON array of the matching runs cancelled.
 * Errors: SL_EINVALID (filter). */
SL_API int sl_engine_cancel_many(char** ids_json, size_t* ids_json_len, sl_engine* engine,
                                 const sl_list_options* filter);

/* Changes the priority of a queued run (higher starts first); records a
 * run.priority event. Errors: SL_ENOTFOUND, SL_EINVALIDSTATE (not queued). */
SL_API int sl_engine_set_priority(sl_engine* engine, const char* run_id, size_t run_id_len,
                                  int priority);

/* Redo from a step: forgets the result of the first step named `step` and of
 * every later step, keeps the earlier ones and queues the run again; records
 * run.rewound {step, invalidated}. Artifacts keep their earlier versions.
 * Errors: SL_ENOTFOUND (run, or a step the run never recorded),
 * SL_EINVALIDSTATE (the run is not completed or failed, or a child-run step
 * would be redone). */
SL_API int sl_engine_rewind(sl_engine* engine, const char* run_id, size_t run_id_len,
                            const char* step, size_t step_len);

/* Snapshot JSON: one consistent read of everything a page needs; subscribe
 * after its last_event_id to continue live. Errors: SL_ENOTFOUND. */
SL_API int sl_engine_snapshot(char** snapshot_json, size_t* snapshot_json_len, sl_engine* engine,
                              const char* run_id, size_t run_id_len);

/* Every version of every artifact, by key then version: [artifact...]. */
SL_API int sl_engine_artifacts(char** artifacts_json, size_t* artifacts_json_len,
                               sl_engine* engine, const char* run_id, size_t run_id_len);

/* Stored events of the run with id > after_id, at most `limit` (1..10000;
 * 0 = 1000), as [event...]. Errors: SL_ENOTFOUND, SL_EINVALID. */
SL_API int sl_engine_events(char** events_json, size_t* events_json_len, sl_engine* engine,
                            const char* run_id, size_t run_id_len, int64_t after_id, size_t limit);

/* ---- resources and LLM providers ------------------------------------------
 * A resource is a named limit shared by every run of one engine (an LLM
 * provider, an image API): a token bucket of requests, a budget of LLM tokens
 * per minute, a cap on requests in flight. Every LLM provider uses one,
 * "llm:NAME" unless its config names another. */

/* Sets or replaces the limits of a resource: limits_json is {"requests",
 * "period_ms" [1000], "burst" [requests], "max_in_flight", "tokens_per_minute"},
 * absent or 0 meaning no limit of that kind. Waiting requests are rechecked.
 * Errors: SL_EINVALID naming the field (negative, period under 1 ms, bad JSON). */
SL_API int sl_engine_configure_resource(sl_engine* engine, const char* name, size_t name_len,
                                        const char* limits_json, size_t limits_len);
/* {"name","available_requests","available_tokens","in_flight","waiting",
 * "paused_until_ms"}; an amount without a limit is null. Unknown names are
 * reported as unlimited. */
SL_API int sl_engine_resource_status(char** status_json, size_t* status_json_len,
                                     sl_engine* engine, const char* name, size_t name_len);
/* {"default": NAME, "providers": [{"name","kind","base_url","model","resource",
 * "has_key"}]}: the configured providers, never their keys. */
SL_API int sl_engine_llm_providers(char** providers_json, size_t* providers_json_len,
                                   sl_engine* engine);

/* ---- events and subscriptions --------------------------------------------- */

enum {
  SL_EVENT_STORED = 0,    /* persisted, with a global strictly increasing id */
  SL_EVENT_TRANSIENT = 1, /* live token text not yet persisted (chunk); id is 0 */
  SL_EVENT_CURSOR = 2     /* a stored chunk this subscriber already got live: only the id moves */
};

/* One event, borrowed: every pointer is valid only during the callback (the
 * strings are also NUL-terminated). data_json is the event's JSON data. */
typedef struct sl_event {
  int64_t id;
  int kind; /* SL_EVENT_* */
  const char* run_id;
  size_t run_id_len;
  const char* type; /* run.created, step.completed, progress, chunk, ... */
  size_t type_len;
  const char* data_json;
  size_t data_len;
  int64_t created_at_ms;
} sl_event;

/* Runs on the engine's event thread, one event at a time for all of the
 * engine's subscriptions: be quick, do not block, do not call into the engine
 * (sl_subscription_close of this subscription is allowed). */
typedef void (*sl_event_fn)(void* user_data, const sl_event* event);

/* Delivers the run's stored events after after_id, then live ones, with no
 * gap and no duplicate (stored ids strictly increase). The first callbacks may
 * arrive before this returns. user_data must outlive the subscription.
 * Errors: SL_ENOTFOUND, SL_EINVALID, SL_ECLOSED. Any thread. */
SL_API int sl_engine_subscribe(sl_subscription** out, sl_engine* engine, const char* run_id,
                               size_t run_id_len, int64_t after_id, sl_event_fn fn,
                               void* user_data);

/* Stops delivery and frees the handle; after it returns no callback runs or
 * will run, unless it is called from inside that callback (then the current
 * one completes). NULL is a no-op. May be called before or after
 * sl_engine_close; once per subscription. */
SL_API void sl_subscription_close(sl_subscription* subscription);

/* Server-sent events wire format, the same for every host: `id:`, `event:`
 * and `data:` lines (a cursor event is an id-only record). Errors: SL_EINVALID
 * (bad kind, data_json not JSON, a type with a control character such as CR
 * or LF, a negative id). Any thread, including callbacks. */
SL_API int sl_event_to_sse(char** out, size_t* out_len, const sl_event* event);
/* ": heartbeat\n\n", a comment that keeps idle connections open. */
SL_API int sl_sse_heartbeat(char** out, size_t* out_len);
/* "retry: N\n\n": how long a browser waits before reconnecting. */
SL_API int sl_sse_retry(char** out, size_t* out_len, int64_t reconnect_ms);

/* ---- executions ------------------------------------------------------------
 * One attempt at running a run's workflow, driven by the host. Every function
 * may be called from any thread, several at once (parallel steps). Steps and
 * waits are memoized: on a later execution of the same run they return their
 * stored outcome, as long as they are called in the same order. Once the
 * engine closes, calls fail with SL_ECLOSED, or SL_EINVALIDSTATE when close
 * gave up waiting and put the run back in the queue; the execution must still
 * be finished. Once the run is cancelled, calls fail with SL_ECANCELLED. */

/* Outcome of a durable wait. */
enum {
  SL_WAIT_READY = 0,     /* satisfied: continue */
  SL_WAIT_TIMED_OUT = 1, /* wait_for_signal only: the timeout passed with no signal */
  SL_WAIT_PARKED = 2     /* not yet: unwind and call sl_execution_finish_parked */
};

/* Borrowed views, valid until the execution is finished. input is JSON text. */
SL_API int sl_execution_run_id(const char** out, size_t* out_len, const sl_execution* execution);
SL_API int sl_execution_workflow(const char** out, size_t* out_len,
                                 const sl_execution* execution);
SL_API int sl_execution_input(const char** out, size_t* out_len, const sl_execution* execution);

/* 1 once the run was cancelled or the engine is closing; stop early. */
SL_API int sl_execution_cancelled(int* out, const sl_execution* execution);

/* Host step, phase one. When the step completed in an earlier execution,
 * *memoized is 1 and *result_json holds its result (free with sl_free); else
 * *memoized is 0, *result_json is NULL, and the step is completed or failed
 * later with *seq. Errors: SL_ENONDETERMINISM (another step recorded at this
 * position), SL_EINVALID (name), SL_ECANCELLED. */
SL_API int sl_execution_step_begin(int64_t* seq, int* memoized, char** result_json,
                                   size_t* result_len, sl_execution* execution, const char* name,
                                   size_t name_len);
/* Host step, phase two: queues the result for the next group commit and
 * returns. The workflow must not use the result or go on before it is
 * durable: wait with sl_execution_when_durable (event loops) or
 * sl_execution_wait_durable. (step_begin and llm wait by themselves for every
 * earlier write.) Errors: SL_EINVALID, SL_ETOOLARGE. */
SL_API int sl_execution_step_complete(sl_execution* execution, int64_t seq,
                                      const char* result_json, size_t result_len);

/* Runs exactly once per successful sl_execution_when_durable: status SL_OK
 * once every write the execution made so far (step results, waits, progress,
 * artifacts, events, token text) is committed; else SL_ESTORE (a commit
 * failed: nothing of it is kept and the run goes back to the queue when the
 * execution finishes), SL_ECANCELLED or SL_EINVALIDSTATE (the run was
 * cancelled or taken over), with a message (borrowed, valid during the call).
 * After an error every later call fails the same way: finish the execution.
 * On the calling thread before sl_execution_when_durable returns when nothing
 * is pending, else on the engine's writer thread: be quick, never wait for
 * the engine there, hand it to your own thread or loop. */
typedef void (*sl_durable_fn)(void* user_data, int status, const char* message,
                              size_t message_len);
/* Calls fn when everything this execution wrote so far is durable (above).
 * Errors (fn is then not called): SL_EINVALID (NULL fn). */
SL_API int sl_execution_when_durable(sl_execution* execution, sl_durable_fn fn, void* user_data);
/* Blocks the calling thread until everything this execution wrote so far is
 * durable; returns SL_OK or the error sl_durable_fn would get. */
SL_API int sl_execution_wait_durable(sl_execution* execution);
/* Records a failed attempt (error_class SL_CLASS_*). When the workflow's retry
 * policy retries it, the run is requeued for the next attempt whichever
 * sl_execution_finish_* the host then calls; otherwise the step has failed
 * for good: it is stored as failed (a later step_begin of it, on replay,
 * returns this error again) and the host raises it in the workflow, which may
 * catch it and go on (a compensating step); the run fails only if the host
 * finishes it failed. */
SL_API int sl_execution_step_fail(sl_execution* execution, int64_t seq, int error_class,
                                  const char* message, size_t message_len);

/* sl_execution_step_fail with class SL_CLASS_RATE_LIMITED and the wait the
 * provider asked for: the next attempt waits retry_after_ms (>= 0) instead of
 * the backoff, and the resources the step acquired pause for as long. */
SL_API int sl_execution_step_rate_limited(sl_execution* execution, int64_t seq,
                                          int64_t retry_after_ms, const char* message,
                                          size_t message_len);

/* Runs exactly once per successful sl_execution_acquire: status SL_OK when the
 * resource admitted the step, else SL_ECANCELLED or SL_ECLOSED with a message
 * (borrowed, valid during the call). On the calling thread before
 * sl_execution_acquire returns when admitted at once, else on an engine
 * thread: be quick, hand it to your own thread or loop. */
typedef void (*sl_acquire_fn)(void* user_data, int status, const char* message,
                              size_t message_len);

/* The host step `seq` (begun, not yet completed or failed) needs one use of
 * `resource`, costing about `tokens` of its LLM token budget (0 for other
 * work). Waiting holds no thread. The use is returned when the step
 * completes or fails (a failure of class SL_CLASS_RATE_LIMITED pauses the
 * whole resource for its retry-after) or the execution finishes. Errors (fn
 * is then not called): SL_EINVALID (name, negative tokens, NULL fn, a seq not
 * begun here), SL_ECANCELLED, SL_ECLOSED. */
SL_API int sl_execution_acquire(sl_execution* execution, int64_t seq, const char* resource,
                                size_t resource_len, double tokens, sl_acquire_fn fn,
                                void* user_data);

/* The host step `seq` is alive: its step timeout counts again from now. A
 * step silent past its timeout loses the run (the attempt fails with
 * SL_CLASS_TIMEOUT and is retried per policy; later calls on this execution
 * fail with SL_EINVALIDSTATE). Errors: SL_EINVALID (seq not begun here). */
SL_API int sl_execution_heartbeat(sl_execution* execution, int64_t seq);

/* Durable sleep of duration_ms (>= 0) counted from the first call. */
SL_API int sl_execution_sleep(int* state, sl_execution* execution, const char* name,
                              size_t name_len, int64_t duration_ms);
/* Waits for a signal of this name; timeout_ms < 0 waits forever. On
 * SL_WAIT_READY *payload_json holds the signal's payload (free with sl_free),
 * else NULL. */
SL_API int sl_execution_wait_for_signal(int* state, char** payload_json, size_t* payload_len,
                                        sl_execution* execution, const char* name,
                                        size_t name_len, int64_t timeout_ms);
/* Starts `workflow` on input_json (an object) as a child run, once, and waits
 * for it. On SL_WAIT_READY *output_json holds the child's output (free with
 * sl_free). Errors: SL_ENOTFOUND (workflow not registered), SL_ESTEPFAILED
 * (the child failed or was cancelled; the message says why). */
SL_API int sl_execution_invoke(int* state, char** output_json, size_t* output_len,
                               sl_execution* execution, const char* name, size_t name_len,
                               const char* workflow, size_t workflow_len, const char* input_json,
                               size_t input_len);

/* How a built-in llm step ended. Borrowed: valid only during the callback. */
typedef struct sl_llm_outcome {
  int status;        /* SL_OK, or the error's SL_E* code */
  int error_class;   /* SL_CLASS_* of the error; SL_CLASS_FATAL on success */
  const char* message; /* the error's message; "" on success */
  size_t message_len;
  const char* result_json; /* on success {"text","finish_reason","usage":{"input_tokens",
                            * "output_tokens"},"provider","model"}; else NULL */
  size_t result_len;
  int memoized;      /* 1: the result was stored by an earlier execution */
  int will_retry;    /* 1: the failure is retried per the workflow's policy; unwind and
                      * finish the execution (any finish call) and the run is requeued */
} sl_llm_outcome;

/* Runs exactly once per successful sl_execution_llm: on the calling thread
 * before it returns when the step is memoized, else on an engine thread
 * (the LLM client's I/O thread): be quick, hand the outcome to your own
 * thread or loop. Other sl_execution_* calls are allowed from it. */
typedef void (*sl_llm_fn)(void* user_data, const sl_llm_outcome* outcome);

/* The built-in llm step `name`: a chat completion memoized like a step. A new
 * attempt waits for its provider's resource (holding no thread), records
 * llm.attempt {seq,name,stream,attempt,provider,model}, streams the text as
 * chunk events of the stream, and records the result or the failed attempt
 * (retried per the workflow's policy: 401/403/400 fatal, 429 rate-limited
 * with its Retry-After, 5xx and broken streams retryable). request_json:
 * {"provider","model","messages":[{"role","content"}],"max_tokens",
 * "temperature","stream","stream_name"}, all but messages optional.
 * Cancelling the run or closing the engine stops the transfer at once (the
 * outcome is SL_ECANCELLED or SL_ECLOSED and nothing is recorded).
 * Errors (fn is then not called): SL_EINVALID (name, request, NULL fn),
 * SL_ENOTFOUND (provider), SL_ENONDETERMINISM, SL_ECANCELLED, SL_ECLOSED. */
SL_API int sl_execution_llm(sl_execution* execution, const char* name, size_t name_len,
                            const char* request_json, size_t request_len, sl_llm_fn fn,
                            void* user_data);

/* Not memoized: skipped while the execution replays stored steps. */
SL_API int sl_execution_progress(sl_execution* execution, const char* value_json,
                                 size_t value_len);
/* Stores a new version of the artifact `key`. */
SL_API int sl_execution_artifact(sl_execution* execution, const char* key, size_t key_len,
                                 const char* value_json, size_t value_len);
/* A custom event; run.*, step.*, chunk, progress, artifact are reserved. */
SL_API int sl_execution_emit(sl_execution* execution, const char* type, size_t type_len,
                             const char* data_json, size_t data_len);
/* Token text of `stream`: delivered live at once, persisted coalesced. */
SL_API int sl_execution_chunk(sl_execution* execution, const char* stream, size_t stream_len,
                              const char* text, size_t text_len);

/* The finish calls end the execution and free the handle, also when they
 * return an error, so no other call on it may be in progress or follow. When
 * the error is the caller's input (invalid output JSON, bad error class), the
 * run still ends: it fails with that error. A step that failed for good and
 * was caught by the workflow does not fail the run: finish_completed
 * completes it. finish_failed records error code "step_failed" with the given
 * class and message (the failed step's own error when it is the last thing
 * the workflow did). */
SL_API int sl_execution_finish_completed(sl_execution* execution, const char* output_json,
                                         size_t output_len);
SL_API int sl_execution_finish_failed(sl_execution* execution, int error_class,
                                      const char* message, size_t message_len);
/* After a wait returned SL_WAIT_PARKED: the run sleeps or waits, holding no
 * thread, and a new execution starts when the wait is satisfied. */
SL_API int sl_execution_finish_parked(sl_execution* execution);

/* ---- Error origin: the host's exception class and traceback -------------
 * A host may say where a failure came from: `type` is the class name it
 * raised (e.g. "ValueError", "TypeError"), `trace` its traceback or stack
 * (UTF-8; invalid bytes become U+FFFD). Both are stored with the failed step
 * or run as "origin": {"type","trace"} in its error JSON (the type is cut at
 * 256 bytes; a trace over 16 KiB keeps its first 4 KiB and its last 12 KiB
 * around a line saying how much was cut). Events carry the origin's type
 * only, never the trace (events are streamed to browsers). NULL with length
 * 0 is the empty string. */

/* sl_execution_step_fail with the error's origin. On replay, the step's
 * sl_execution_step_begin fails with SL_ESTEPFAILED and sl_last_error_origin
 * returns this type and trace, so the host can raise the same class again. */
SL_API int sl_execution_step_fail_origin(sl_execution* execution, int64_t seq, int error_class,
                                         const char* message, size_t message_len,
                                         const char* type, size_t type_len, const char* trace,
                                         size_t trace_len);
/* sl_execution_finish_failed with the escaping error's origin. When the last
 * thing the workflow did was a step that failed for good, the run's error is
 * the step's (naming it) with this origin, whose trace covers the workflow's
 * frames too; unless the step's error came from the host with another type
 * (the workflow caught it and raised another): the run then fails with this
 * one. */
SL_API int sl_execution_finish_failed_origin(sl_execution* execution, int error_class,
                                             const char* message, size_t message_len,
                                             const char* type, size_t type_len,
                                             const char* trace, size_t trace_len);
/* The origin of the calling thread's last error: both "" unless that error
 * was a host's failure raised again (a failed step replayed). Borrowed, valid
 * until this thread's next failing call. Any pointer may be NULL. */
SL_API void sl_last_error_origin(const char** type, size_t* type_len, const char** trace,
                                 size_t* trace_len);
/* ---- The http step and per-step retry policies ----
 *
 * retry_json (NULL or length 0: no policy) is a step's own retry policy:
 * null → none (the workflow's policy; for llm steps, when the workflow sets
 * none either, the default of 3 attempts); false → one attempt, no retries
 * (the way to turn retries off for one step); or an object
 * {"max_attempts","initial_backoff_ms","multiplier","max_backoff_ms",
 * "jitter","timeout_ms"}, the fields not given at their defaults (1 attempt,
 * 1000 ms, 2, 60000 ms, true, 0). Errors: SL_EINVALID naming the field. */

/* sl_execution_step_begin with the step's own retry policy. */
SL_API int sl_execution_step_begin_with_retry(int64_t* seq, int* memoized, char** result_json,
                                              size_t* result_len, sl_execution* execution,
                                              const char* name, size_t name_len,
                                              const char* retry_json, size_t retry_len);

/* sl_execution_llm with the step's own retry policy. */
SL_API int sl_execution_llm_with_retry(sl_execution* execution, const char* name, size_t name_len,
                                       const char* request_json, size_t request_len,
                                       const char* retry_json, size_t retry_len, sl_llm_fn fn,
                                       void* user_data);

/* How a built-in http step ended; the fields of sl_llm_outcome. Borrowed:
 * valid only during the callback. result_json on success:
 * {"status","headers":{lowercase name: value},"body" (UTF-8 text) or
 * "body_base64","json" (the body parsed when its Content-Type is JSON, else
 * null)}; secret headers read "[redacted]". */
typedef struct sl_http_outcome {
  int status;          /* SL_OK, or the error's SL_E* code */
  int error_class;     /* SL_CLASS_* of the error; SL_CLASS_FATAL on success */
  const char* message; /* the error's message; "" on success */
  size_t message_len;
  const char* result_json; /* on success, above; else NULL */
  size_t result_len;
  int memoized;   /* 1: the result was stored by an earlier execution */
  int will_retry; /* 1: the failure is retried per the step's policy; unwind and
                   * finish the execution (any finish call) and the run is requeued */
} sl_http_outcome;

/* Runs exactly once per successful sl_execution_http, on the calling thread
 * when memoized, else on an engine thread (the HTTP client's I/O thread): be
 * quick, hand the outcome to your own thread or loop. */
typedef void (*sl_http_fn)(void* user_data, const sl_http_outcome* outcome);

/* The built-in http step `name`: one HTTP request, memoized like a step (a
 * replay, also after a crash, returns the stored response and sends nothing).
 * A new attempt is sent once every earlier write is committed, after its
 * resource (if any) admits it, with an idempotency key header ("<run id>:<seq>",
 * the same on every retry and replay) and records http.attempt
 * {seq,name,attempt,method,host}. request_json: {"method" (default GET),
 * "url" (http or https, no user:password@), "headers": {"Name":"value"} or
 * [{"name","value","secret"}], at most one of "json" (any JSON, sent as
 * application/json), "body" (text) and "body_base64", "resource",
 * "connect_timeout_ms" (10000), "idle_timeout_ms" (30000),
 * "total_timeout_ms" (0: none), "idempotency_header" ("Idempotency-Key"; ""
 * sends none)}. Secret headers (marked, or Authorization, Proxy-Authorization,
 * Cookie, X-Api-Key, Api-Key, X-Auth-Token, X-Goog-Api-Key) are never stored:
 * their values are redacted from the stored response and every error. A 2xx
 * or 3xx answer is the result; 408/409/425/5xx and broken connections are
 * retryable, 429 rate-limited (its Retry-After), other 4xx fatal; timeouts
 * are SL_ETIMEOUT. Cancelling the run or closing the engine stops the
 * transfer at once (SL_ECANCELLED / SL_ECLOSED, nothing recorded).
 * Errors (fn is then not called): SL_EINVALID (name, request, retry_json,
 * NULL fn), SL_ENONDETERMINISM, SL_ECANCELLED, SL_ECLOSED. */
SL_API int sl_execution_http(sl_execution* execution, const char* name, size_t name_len,
                             const char* request_json, size_t request_len, const char* retry_json,
                             size_t retry_len, sl_http_fn fn, void* user_data);
/* How a built-in image step ended; the fields of sl_llm_outcome. Borrowed:
 * valid only during the callback. result_json on success: {"artifact",
 * "version","content_type","bytes","sha256","width","height","provider",
 * "model","revised_prompt"}; the picture itself is the binary artifact
 * `artifact` at `version` (sl_engine_artifact_bytes). */
typedef struct sl_image_outcome {
  int status;          /* SL_OK, or the error's SL_E* code */
  int error_class;     /* SL_CLASS_* of the error; SL_CLASS_FATAL on success */
  const char* message; /* the error's message; "" on success */
  size_t message_len;
  const char* result_json; /* on success, above; else NULL */
  size_t result_len;
  int memoized;   /* 1: the result was stored by an earlier execution */
  int will_retry; /* 1: the failure is retried per the step's policy; unwind and
                   * finish the execution (any finish call) and the run is requeued */
} sl_image_outcome;

/* Runs exactly once per successful sl_execution_image, on the calling thread
 * when memoized, else on an engine thread: be quick, hand the outcome to your
 * own thread or loop. */
typedef void (*sl_image_fn)(void* user_data, const sl_image_outcome* outcome);

/* The built-in image step `name`: one picture, memoized like a step (a replay,
 * also after a crash, returns the stored result and asks for nothing). A new
 * attempt starts once every earlier write is committed and its provider's
 * resource ("image:<provider>" unless configured otherwise) admits it, and
 * records image.attempt {seq,name,attempt,provider,model,size,artifact}. An
 * openai provider is sent POST {base_url}/images/generations {"model","prompt",
 * "size","n":1,"response_format":"b64_json"} (plus "extra"); the offline
 * provider draws a labelled placeholder picture (no network, no key). The
 * picture becomes a new version of the binary artifact "artifact" (default:
 * the step's name), with an artifact event, in the same commit as the result.
 * request_json: {"prompt" (required), "provider", "model", "size" ("WxH", each
 * 64..4096), "artifact", "extra": {..}, "idle_timeout_ms", "total_timeout_ms"}.
 * Providers come from the config JSON's "images" (sl_engine_options) and the
 * environment (OPENAI_API_KEY / OPENAI_BASE_URL, OPENAI_IMAGE_MODEL,
 * OPENAI_IMAGE_SIZE, STORYLOOM_IMAGE_PROVIDER); the default is offline.
 * 401/403/400 are fatal, 429 rate-limited (its Retry-After pauses the
 * resource), 5xx, broken transfers and malformed answers retryable, timeouts
 * SL_ETIMEOUT; retried per retry_json, else the workflow's policy, else 3
 * attempts. Keys are never stored or shown. Cancelling the run or closing the
 * engine stops the transfer at once (SL_ECANCELLED / SL_ECLOSED, nothing
 * recorded). Errors (fn is then not called): SL_EINVALID (name, request,
 * retry_json, NULL fn), SL_ENOTFOUND (provider), SL_ENONDETERMINISM,
 * SL_ECANCELLED, SL_ECLOSED. */
SL_API int sl_execution_image(sl_execution* execution, const char* name, size_t name_len,
                              const char* request_json, size_t request_len, const char* retry_json,
                              size_t retry_len, sl_image_fn fn, void* user_data);
/* ---- binary artifacts (pictures) ----------------------------------------- */

/* Stores a new version of the binary artifact `key`: `bytes_len` bytes (any,
 * NUL included) with a media type such as "image/png". The artifact's JSON
 * then has "content_type" and, as "value", {"content_type","size","sha256"}
 * (hex digest); the "artifact" event carries the same. Not memoized, like
 * sl_execution_artifact: skipped while replaying; the same bytes written again
 * after a crash keep one version. Errors: SL_ETOOLARGE over config_json
 * "max_artifact_bytes" [16 MiB, at least 1024]; SL_EINVALID for a bad key or
 * media type (type/subtype, printable ASCII, at most 128 bytes). */
SL_API int sl_execution_binary_artifact(sl_execution* execution, const char* key, size_t key_len,
                                        const char* content_type, size_t content_type_len,
                                        const void* bytes, size_t bytes_len);
/* The bytes of one version of a binary artifact (`version` 0: the latest),
 * freed with sl_free (a NUL follows them, not counted in bytes_len). When
 * artifact_json is not NULL it receives the artifact's JSON (sl_free it too).
 * Errors: SL_ENOTFOUND (run, key or version), SL_EINVALID (a JSON artifact:
 * read it with sl_engine_artifacts; a negative version). */
SL_API int sl_engine_artifact_bytes(char** bytes, size_t* bytes_len, char** artifact_json,
                                    size_t* artifact_json_len, sl_engine* engine,
                                    const char* run_id, size_t run_id_len, const char* key,
                                    size_t key_len, int64_t version);

/* ---- book export ---------------------------------------------------------- */

/* Writes the story of a run as a book to `path`: `format` "epub" (EPUB 3),
 * "pdf" (a cover, then one page per story page with its picture; fonts
 * embedded) or "md" (Markdown; the pictures go into "<name>_pictures/" beside
 * it). The story is the run's "story" artifact (or its "page/N" artifacts);
 * page N's picture is the binary artifact "page/N/picture"; a page without
 * one says "no picture". Errors: SL_EINVALID (format, empty path, a file that
 * cannot be written), SL_ENOTFOUND (the run, or a run with no story). */
SL_API int sl_engine_export_book(sl_engine* engine, const char* run_id, size_t run_id_len,
                                 const char* format, size_t format_len, const char* path,
                                 size_t path_len);
/* ---- Webhooks (docs/webhooks.md) ----
 * Outbound: signed deliveries of run events to subscribed URLs, each a run of
 * the built-in workflow "storyloom.webhook" (stored, retried with backoff and
 * Retry-After, dead-lettered after its attempts, re-sent with sl_engine_retry).
 * Secrets stay in the host's memory: pass them at every open. */

/* Sets or replaces the subscriptions: {"subscriptions":[{"id","url","secret",
 * "workflows":[..],"events":[..]}], "max_attempts", "initial_backoff_ms",
 * "multiplier", "max_backoff_ms", "attempt_timeout_ms"} (all but subscriptions
 * optional). The first call starts delivering events from then on. */
SL_API int sl_engine_configure_webhooks(sl_engine* engine, const char* options_json,
                                        size_t options_len);
/* The latest `limit` deliveries of a subscription (0: 100; at most 1000),
 * oldest first: [{"webhook_id","run_id","subscription","event_type","event_id",
 * "source_run_id","state":"pending"|"delivered"|"dead"|"cancelled",
 * "created_at_ms","attempts":[{"at_ms","status","latency_ms","error"}]}]. */
SL_API int sl_engine_webhook_log(char** log_json, size_t* log_json_len, sl_engine* engine,
                                 const char* subscription, size_t subscription_len, size_t limit);
/* Inbound: verifies a webhook and, when authentic, starts a run with the
 * webhook id as idempotency key, or sends a signal once per webhook id.
 * hook_json: {"secret","tolerance_s","workflow","owner","signal_run_id",
 * "signal_name"}; headers_json: the request's headers as an object (names in
 * any case). result_json: {"status":200|400|401,"message","run","duplicate"};
 * a refused webhook (400/401) is a result, not an error. */
SL_API int sl_engine_receive_webhook(char** result_json, size_t* result_json_len, sl_engine* engine,
                                     const char* hook_json, size_t hook_len,
                                     const char* headers_json, size_t headers_len,
                                     const char* body, size_t body_len);
/* "v1,<base64 HMAC-SHA256 of id.timestamp.body>"; secret "whsec_<base64>" or text. */
SL_API int sl_webhook_sign(char** signature, size_t* signature_len, const char* secret,
                           size_t secret_len, const char* webhook_id, size_t webhook_id_len,
                           int64_t timestamp_s, const char* body, size_t body_len);
/* {"status":200|400|401,"message"}: the signature (constant-time compare) and
 * the timestamp within tolerance_s (0: 300) of now_s (0: the system clock). */
SL_API int sl_webhook_verify(char** verdict_json, size_t* verdict_json_len, const char* secret,
                             size_t secret_len, const char* headers_json, size_t headers_len,
                             const char* body, size_t body_len, int64_t now_s, int64_t tolerance_s);

/* ---- Email over SMTP (docs/webhooks.md, "Email") ----
 * Sends one message and blocks until the server accepted or refused it.
 * config_json: {"url","from","username","password","require_starttls",
 * "timeout_ms"}, each optional: missing ones come from the environment
 * (SMTP_URL, SMTP_FROM, SMTP_USERNAME, SMTP_PASSWORD, SMTP_REQUIRE_STARTTLS).
 * message_json: {"to": "addr" | ["addr", ...], "subject", "text", "html",
 * "link"}; text and html become a multipart/alternative message, the link is
 * appended to both. message_id: the Message-ID (stable across retries).
 * result_json: {"accepted":true,"smtp_status","message_id"}. An SMTP 4xx or a
 * network error is SL_EPROVIDER of class retryable (SL_ETIMEOUT on a
 * timeout), a 5xx or refused credentials class fatal. The password never
 * appears in an error. */
SL_API int sl_email_send(char** result_json, size_t* result_json_len, const char* config_json,
                         size_t config_len, const char* message_json, size_t message_len,
                         const char* message_id, size_t message_id_len);

/* ---- Lifecycle reports: tracing and metrics (storyloom/lifecycle.h) ---- */

/* One report as JSON, valid only during the call: {"type": "run.started" |
 * "run.finished" | "step.started" | "step.finished" | "step.failed",
 * "run_id", "workflow", "trace_parent" ("" when none), "started_at_ms"}, and
 * when it ended "ended_at_ms", "duration_ms" (epoch ms); runs: "first"
 * (run.started: the run's first execution), "outcome" (completed, failed,
 * cancelled, parked, queued, released) and "error_class"; steps: "step",
 * "seq", "kind" ("step", "llm", "http", "image"), "attempt", and
 * "error_class" ("cancelled" or "closed" for an llm, http or image attempt
 * stopped by a cancel or a close), "will_retry" (step.failed), "model",
 * "usage" {"input_tokens", "output_tokens", "total_tokens"} (an llm step's
 * step.finished). Ids, names, times and classes only: no
 * input, result, error message or key. */
typedef void (*sl_lifecycle_fn)(void* user_data, const char* report_json, size_t report_len);

/* Reports every execution of a run (run.started / run.finished) and every
 * attempt of a host, llm, http or image step (step.started, then step.finished or
 * step.failed) to `fn`, in order, on one thread of the engine's own that
 * holds no engine lock. `fn` must be quick and must not call the engine.
 * Replaces the earlier callback; NULL fn stops the reports. Set it before
 * sl_engine_launch to see every run; user_data must outlive the engine (or
 * the next call). Errors: none but a NULL engine (SL_EINVALID). */
SL_API int sl_engine_set_lifecycle(sl_engine* engine, sl_lifecycle_fn fn, void* user_data);

#ifdef __cplusplus
}
#endif

#endif /* STORYLOOM_STORYLOOM_H_ */
