#include "store/schema.h"

namespace storyloom::store {

const std::vector<const char*>& migrations() {
  static const std::vector<const char*> all = {
      // 0 -> 1: the first schema.
      R"sql(
CREATE TABLE runs (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  workflow TEXT NOT NULL,
  status TEXT NOT NULL,
  input TEXT NOT NULL,
  output TEXT,
  error TEXT,
  progress TEXT,
  owner TEXT NOT NULL DEFAULT '',
  idempotency_key TEXT UNIQUE,
  parent_id TEXT NOT NULL DEFAULT '',
  parent_step INTEGER NOT NULL DEFAULT -1,
  priority INTEGER NOT NULL DEFAULT 0,
  available_at INTEGER NOT NULL DEFAULT 0,
  wake_at INTEGER NOT NULL DEFAULT 0,
  waiting_for TEXT NOT NULL DEFAULT '',
  lease_owner TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  finished_at INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX runs_queue ON runs(priority DESC, available_at, seq) WHERE status = 'queued';
CREATE INDEX runs_parked ON runs(wake_at) WHERE status IN ('sleeping', 'waiting') AND wake_at > 0;
CREATE INDEX runs_running ON runs(lease_owner) WHERE status = 'running';
CREATE INDEX runs_by_status ON runs(status, seq);
CREATE INDEX runs_by_workflow ON runs(workflow, seq);
CREATE INDEX runs_by_owner ON runs(owner, seq);
CREATE INDEX runs_by_parent ON runs(parent_id) WHERE parent_id <> '';

CREATE TABLE steps (
  run_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  name TEXT NOT NULL,
  kind TEXT NOT NULL,
  status TEXT NOT NULL,
  result TEXT NOT NULL DEFAULT 'null',
  wake_at INTEGER NOT NULL DEFAULT 0,
  child_id TEXT NOT NULL DEFAULT '',
  completed_at INTEGER NOT NULL DEFAULT 0,
  attempts INTEGER NOT NULL DEFAULT 0,  -- failed attempts so far (status 'retrying')
  PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;

CREATE TABLE signals (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  run_id TEXT NOT NULL,
  name TEXT NOT NULL,
  payload TEXT NOT NULL,
  consumed_seq INTEGER NOT NULL DEFAULT -1,
  created_at INTEGER NOT NULL
);
CREATE INDEX signals_mailbox ON signals(run_id, name, consumed_seq, id);

CREATE TABLE artifacts (
  run_id TEXT NOT NULL,
  key TEXT NOT NULL,
  version INTEGER NOT NULL,
  value TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (run_id, key, version)
) WITHOUT ROWID;

CREATE TABLE events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  run_id TEXT NOT NULL,
  type TEXT NOT NULL,
  data TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX events_by_run ON events(run_id, id);

-- Persisted length of each token stream, so offsets continue after a restart.
CREATE TABLE chunk_streams (
  run_id TEXT NOT NULL,
  stream TEXT NOT NULL,
  end_offset INTEGER NOT NULL,
  PRIMARY KEY (run_id, stream)
) WITHOUT ROWID;

CREATE TABLE engines (
  id TEXT PRIMARY KEY,
  pid INTEGER NOT NULL,
  host TEXT NOT NULL,
  heartbeat_at INTEGER NOT NULL,
  workflows TEXT NOT NULL DEFAULT '[]'  -- JSON array of the names it executes
) WITHOUT ROWID;
)sql",
      // 1 -> 2: scheduling limits. The keys are computed from the input when a
      // run is first claimed, so every process counts the same buckets.
      R"sql(
ALTER TABLE runs ADD COLUMN concurrency_key TEXT;
ALTER TABLE runs ADD COLUMN throttle_key TEXT;
ALTER TABLE runs ADD COLUMN started_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN deadline_at INTEGER NOT NULL DEFAULT 0;
CREATE INDEX runs_running_key ON runs(workflow, concurrency_key) WHERE status = 'running';
CREATE INDEX runs_throttle ON runs(workflow, throttle_key, started_at) WHERE throttle_key IS NOT NULL;
CREATE INDEX runs_deadline ON runs(deadline_at)
  WHERE deadline_at > 0 AND status IN ('queued', 'running', 'sleeping', 'waiting');
)sql",
      // 2 -> 3: where the current attempt's text of each stream begins, so a
      // retried llm step's text replaces the earlier attempt's for readers.
      // And an index for the poller's "next queued run to become available".
      R"sql(
ALTER TABLE chunk_streams ADD COLUMN attempt_start INTEGER NOT NULL DEFAULT 0;
CREATE INDEX runs_available ON runs(available_at) WHERE status = 'queued';
)sql",
      // 3 -> 4: a run's LLM budget as given at start (storyloom/budget.h):
      // {"llm_calls", "llm_tokens"} as JSON text, NULL for no limit. What is
      // spent is not stored: it is the sum of the run's completed llm steps.
      R"sql(
ALTER TABLE runs ADD COLUMN budget TEXT;
)sql",
      // 4 -> 5: binary artifacts (pictures). A binary artifact's row in
      // `artifacts` holds its media type and, as `value`, the JSON
      // {"content_type","size","sha256"}; its bytes live in their own table so
      // listing artifacts never reads a picture.
      R"sql(
ALTER TABLE artifacts ADD COLUMN content_type TEXT NOT NULL DEFAULT '';
CREATE TABLE artifact_bytes (
  run_id TEXT NOT NULL,
  key TEXT NOT NULL,
  version INTEGER NOT NULL,
  bytes BLOB NOT NULL,
  PRIMARY KEY (run_id, key, version)
);
)sql",
      // 5 -> 6: named positions in the event sequence, so a reader of every
      // event (the webhook dispatcher) goes on after a restart where it stopped.
      R"sql(
CREATE TABLE cursors (
  name TEXT PRIMARY KEY,
  position INTEGER NOT NULL
) WITHOUT ROWID;
)sql",
      // 6 -> 7: fewer index writes per run. Every index on `runs` is written
      // whenever the columns it covers change, and a run's status changes at
      // least twice (claimed, ended). What each remaining one serves:
      //   runs_queue        claims, in queue order (hot_queries.h kClaimQueueWalk)
      //   runs_available    the poller's next backoff end (kNextQueued; see 9 -> 10)
      //   runs_parked       due timers and the next one (kDueParked, kNextParked)
      //   runs_running_key  concurrency and max_running counts at claim time, and
      //                     recovery's scan of running runs (running_runs_without)
      //   runs_throttle     throttle windows at claim time
      //   runs_deadline     run timeouts (expire_overdue_runs)
      //   runs_by_status    list(status=...) pages, in start order (see 9 -> 10)
      //   runs_by_workflow  list(workflow=...) pages
      //   runs_by_owner     list(owner=...) pages (one user's stories)
      //   runs_by_parent    a parent's children (cancel of a tree)
      //   id, idempotency_key (UNIQUE)  lookups by id and by key
      // runs_running (lease_owner of running runs) served no query: recovery
      // reads every running run and compares owners itself.
      R"sql(
DROP INDEX IF EXISTS runs_running;
)sql",
      // 7 -> 8: the caller's W3C traceparent given at start (storyloom/lifecycle.h),
      // so a run's spans join the caller's trace after any restart; '' for none.
      R"sql(
ALTER TABLE runs ADD COLUMN trace_parent TEXT NOT NULL DEFAULT '';
)sql",
      // 8 -> 9: resources shared by every process on the store
      // (store/shared_resources.h): one row per resource (limits, bucket
      // levels at updated_at, pause) and each engine's requests in flight.
      R"sql(
CREATE TABLE resources (
  name TEXT PRIMARY KEY,
  requests REAL NOT NULL,
  period_ms INTEGER NOT NULL,
  burst REAL NOT NULL,
  max_in_flight INTEGER NOT NULL,
  tokens_per_minute REAL NOT NULL,
  request_level REAL NOT NULL,
  token_level REAL NOT NULL,
  updated_at INTEGER NOT NULL,
  paused_until INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE resource_holders (
  resource TEXT NOT NULL,
  engine_id TEXT NOT NULL,
  in_flight INTEGER NOT NULL,
  PRIMARY KEY (resource, engine_id)
) WITHOUT ROWID;
-- The limits each workflow was registered with, for inspectors (the engine
-- counts limits from its own registration, never from here).
CREATE TABLE workflow_limits (
  workflow TEXT PRIMARY KEY,
  max_running INTEGER NOT NULL,
  concurrency_key TEXT NOT NULL,
  key_limit INTEGER NOT NULL,
  throttle_key TEXT NOT NULL,
  throttle_limit INTEGER NOT NULL,
  throttle_period_ms INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
) WITHOUT ROWID;
)sql",
      // 9 -> 10: two indexes no longer moved by every run. A run that is
      // started, claimed and ends wrote 7 entries in them; now it writes 1.
      //   runs_delayed      only queued runs that are not yet available
      //                     (available_at ahead of the write that queued
      //                     them: a delayed start, a retry's backoff), for
      //                     the poller's next backoff end (kNextQueued). It
      //                     replaces runs_available, which held every queued run.
      //   runs_by_status    only the statuses no other index covers: parked
      //                     and finished runs. Queued runs are listed from
      //                     runs_queue, running ones from runs_running_key.
      R"sql(
DROP INDEX IF EXISTS runs_available;
CREATE INDEX runs_delayed ON runs(available_at)
  WHERE status = 'queued' AND available_at > updated_at;
DROP INDEX IF EXISTS runs_by_status;
CREATE INDEX runs_by_status ON runs(status, seq)
  WHERE status = 'sleeping' OR status = 'waiting' OR status = 'completed' OR
        status = 'failed' OR status = 'cancelled';
)sql",
      // 10 -> 11: queued runs by workflow and concurrency key, in queue order.
      // A run's keys are stored when it is started by an engine that knows
      // its workflow's options (NULL: not computed, the claim computes them),
      // and a claim under a concurrency limit reaches each key with a free
      // slot through this index instead of walking every queued run held
      // back by a full key (sqlite_claims.cc; hot_queries.h kQueuedOfKeyWhere).
      R"sql(
CREATE INDEX runs_queue_key ON runs(workflow, concurrency_key, priority DESC, available_at, seq)
  WHERE status = 'queued';
)sql",
  };
  return all;
}

}  // namespace storyloom::store
