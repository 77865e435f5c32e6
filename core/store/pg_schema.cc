#include "store/pg_schema.h"

#include <string>

namespace storyloom::store::pg {

const std::vector<const char*>& pg_migrations() {
  static const std::vector<const char*> all = {
      // 0 -> 1: the schema of SQLite version 3, in PostgreSQL types. JSON is
      // kept as text, exactly as written (a corrupted value is reported, not
      // rejected by the column type).
      R"sql(
CREATE TABLE storyloom_meta (
  only_row INTEGER PRIMARY KEY CHECK (only_row = 1),
  application TEXT NOT NULL,
  version BIGINT NOT NULL
);
INSERT INTO storyloom_meta VALUES (1, 'storyloom', 0);

CREATE TABLE runs (
  seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
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
  parent_step BIGINT NOT NULL DEFAULT -1,
  priority INTEGER NOT NULL DEFAULT 0,
  available_at BIGINT NOT NULL DEFAULT 0,
  wake_at BIGINT NOT NULL DEFAULT 0,
  waiting_for TEXT NOT NULL DEFAULT '',
  lease_owner TEXT NOT NULL DEFAULT '',
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  finished_at BIGINT NOT NULL DEFAULT 0,
  concurrency_key TEXT,
  throttle_key TEXT,
  started_at BIGINT NOT NULL DEFAULT 0,
  deadline_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX runs_queue ON runs(priority DESC, available_at, seq) WHERE status = 'queued';
CREATE INDEX runs_parked ON runs(wake_at) WHERE status IN ('sleeping', 'waiting') AND wake_at > 0;
CREATE INDEX runs_running ON runs(lease_owner) WHERE status = 'running';
CREATE INDEX runs_by_status ON runs(status, seq);
CREATE INDEX runs_by_workflow ON runs(workflow, seq);
CREATE INDEX runs_by_owner ON runs(owner, seq);
CREATE INDEX runs_by_parent ON runs(parent_id) WHERE parent_id <> '';
CREATE INDEX runs_running_key ON runs(workflow, concurrency_key) WHERE status = 'running';
CREATE INDEX runs_throttle ON runs(workflow, throttle_key, started_at) WHERE throttle_key IS NOT NULL;
CREATE INDEX runs_deadline ON runs(deadline_at)
  WHERE deadline_at > 0 AND status IN ('queued', 'running', 'sleeping', 'waiting');
CREATE INDEX runs_available ON runs(available_at) WHERE status = 'queued';

CREATE TABLE steps (
  run_id TEXT NOT NULL,
  seq BIGINT NOT NULL,
  name TEXT NOT NULL,
  kind TEXT NOT NULL,
  status TEXT NOT NULL,
  result TEXT NOT NULL DEFAULT 'null',
  wake_at BIGINT NOT NULL DEFAULT 0,
  child_id TEXT NOT NULL DEFAULT '',
  completed_at BIGINT NOT NULL DEFAULT 0,
  attempts BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (run_id, seq)
);

CREATE TABLE signals (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  run_id TEXT NOT NULL,
  name TEXT NOT NULL,
  payload TEXT NOT NULL,
  consumed_seq BIGINT NOT NULL DEFAULT -1,
  created_at BIGINT NOT NULL
);
CREATE INDEX signals_mailbox ON signals(run_id, name, consumed_seq, id);

CREATE TABLE artifacts (
  run_id TEXT NOT NULL,
  key TEXT NOT NULL,
  version BIGINT NOT NULL,
  value TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (run_id, key, version)
);

-- Event ids come from this sequence inside write transactions, which take
-- the store's write lock: ids are handed out in commit order, so a reader of
-- "events after N" never skips one that commits late.
CREATE TABLE events (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  run_id TEXT NOT NULL,
  type TEXT NOT NULL,
  data TEXT NOT NULL,
  created_at BIGINT NOT NULL
);
CREATE INDEX events_by_run ON events(run_id, id);

CREATE TABLE chunk_streams (
  run_id TEXT NOT NULL,
  stream TEXT NOT NULL,
  end_offset BIGINT NOT NULL,
  attempt_start BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (run_id, stream)
);

CREATE TABLE engines (
  id TEXT PRIMARY KEY,
  pid BIGINT NOT NULL,
  host TEXT NOT NULL,
  heartbeat_at BIGINT NOT NULL,
  workflows TEXT NOT NULL DEFAULT '[]'
);

-- error.class of a stored error, NULL when the text is not JSON (one
-- corrupted row must not fail a whole listing).
CREATE FUNCTION storyloom_error_class(t TEXT) RETURNS TEXT LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  RETURN (t::jsonb) ->> 'class';
EXCEPTION WHEN others THEN
  RETURN NULL;
END $$;
)sql",
      // 1 -> 2: what SQLite's versions 4 to 6 added: a run's LLM budget, binary
      // artifacts (media type; bytes in their own table, so listings never read
      // a picture) and named cursors in the event sequence (the webhook
      // dispatcher's).
      R"sql(
ALTER TABLE runs ADD COLUMN budget TEXT;
ALTER TABLE artifacts ADD COLUMN content_type TEXT NOT NULL DEFAULT '';
CREATE TABLE artifact_bytes (
  run_id TEXT NOT NULL,
  key TEXT NOT NULL,
  version BIGINT NOT NULL,
  bytes BYTEA NOT NULL,
  PRIMARY KEY (run_id, key, version)
);
CREATE TABLE cursors (
  name TEXT PRIMARY KEY,
  position BIGINT NOT NULL
);
)sql",
      // 2 -> 3: writers no longer take turns under a store-wide lock, so an
      // identity no longer numbers events in commit order. An event's id is
      // now its transaction's id times 2^20 plus its number in that
      // transaction (PgTx::append_event; readers stop below the oldest
      // transaction still running, see kSettledEventId). Older events keep
      // their ids, below every new one (a transaction id exceeds the number
      // of transactions before it, each of which wrote far fewer than 2^20).
      R"sql(
ALTER TABLE events ALTER COLUMN id DROP IDENTITY;
)sql",
      // 3 -> 4: SQLite's 7 -> 8, the caller's W3C traceparent given at start.
      R"sql(
ALTER TABLE runs ADD COLUMN trace_parent TEXT NOT NULL DEFAULT '';
)sql",
      // 4 -> 5: SQLite's 8 -> 9, resources shared by every process
      // (store/shared_resources.h); admissions lock a resource's row.
      R"sql(
CREATE TABLE resources (
  name TEXT PRIMARY KEY,
  requests DOUBLE PRECISION NOT NULL,
  period_ms BIGINT NOT NULL,
  burst DOUBLE PRECISION NOT NULL,
  max_in_flight BIGINT NOT NULL,
  tokens_per_minute DOUBLE PRECISION NOT NULL,
  request_level DOUBLE PRECISION NOT NULL,
  token_level DOUBLE PRECISION NOT NULL,
  updated_at BIGINT NOT NULL,
  paused_until BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE resource_holders (
  resource TEXT NOT NULL,
  engine_id TEXT NOT NULL,
  in_flight BIGINT NOT NULL,
  PRIMARY KEY (resource, engine_id)
);
CREATE TABLE workflow_limits (
  workflow TEXT PRIMARY KEY,
  max_running BIGINT NOT NULL,
  concurrency_key TEXT NOT NULL,
  key_limit BIGINT NOT NULL,
  throttle_key TEXT NOT NULL,
  throttle_limit BIGINT NOT NULL,
  throttle_period_ms BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
)sql",
      // 5 -> 6: SQLite's 10 -> 11, queued runs by workflow and concurrency
      // key in queue order: keys are stored at start when the starting
      // engine knows the options, and claims reach each key with a free slot
      // through this index (pg_claims.cc).
      R"sql(
CREATE INDEX runs_queue_key ON runs(workflow, concurrency_key, priority DESC, available_at, seq)
  WHERE status = 'queued';
)sql",
  };
  return all;
}

void migrate(Connection& conn) {
  const std::string& where = conn.display();
  conn.exec_script("BEGIN");
  try {
    Result schema = conn.query_once("SELECT current_schema()");
    if (schema.null(0, 0)) {
      throw Error(ErrorCode::store, "store '" + where +
                                        "': the schema named by search_path does not exist; "
                                        "create it first (CREATE SCHEMA ...)");
    }
    conn.query_once("SELECT pg_advisory_xact_lock(hashtext('storyloom.migrate.' || current_schema()))");
    Result found = conn.query_once(
        "SELECT to_regclass('storyloom_meta') IS NOT NULL, "
        "(SELECT count(*) FROM pg_tables WHERE schemaname = current_schema())");
    bool ours = found.text(0, 0) == "t";
    int64_t tables = found.int64(0, 1);
    int64_t version = 0;
    if (ours) {
      Result meta = conn.query_once("SELECT application, version FROM storyloom_meta");
      if (meta.rows() != 1 || meta.text(0, 0) != "storyloom") ours = false;
      if (ours) version = meta.int64(0, 1);
    }
    if (!ours && tables > 0) {
      throw Error(ErrorCode::not_a_database,
                  "store '" + where + "' is not a storyloom database (schema '" + schema.text(0, 0) +
                      "' holds tables of another application)");
    }
    if (version > pg_schema_version()) {
      throw Error(ErrorCode::schema_too_new,
                  "store '" + where + "' has schema version " + std::to_string(version) +
                      ", newer than this storyloom supports (" +
                      std::to_string(pg_schema_version()) + "); upgrade storyloom");
    }
    for (int64_t v = version; v < pg_schema_version(); ++v) {
      conn.exec_script(pg_migrations()[static_cast<size_t>(v)]);
    }
    if (version < pg_schema_version()) {
      conn.exec_script("UPDATE storyloom_meta SET version = " + std::to_string(pg_schema_version()));
    }
    conn.exec_script("COMMIT");
  } catch (...) {
    PQclear(PQexec(conn.raw(), "ROLLBACK"));
    throw;
  }
}

void check_current(Connection& conn) {
  const std::string& where = conn.display();
  Result found = conn.query_once("SELECT to_regclass('storyloom_meta') IS NOT NULL");
  if (found.text(0, 0) != "t") {
    throw Error(ErrorCode::not_a_database,
                "store '" + where + "' is not a storyloom database (no storyloom tables in its schema)");
  }
  int64_t version = conn.query_once("SELECT version FROM storyloom_meta").int64(0, 0);
  if (version > pg_schema_version()) {
    throw Error(ErrorCode::schema_too_new,
                "store '" + where + "' has schema version " + std::to_string(version) +
                    ", newer than this storyloom supports (" + std::to_string(pg_schema_version()) +
                    "); upgrade storyloom");
  }
  if (version < pg_schema_version()) {
    throw Error(ErrorCode::invalid_state,
                "store '" + where + "' has schema version " + std::to_string(version) +
                    ", older than this storyloom's (" + std::to_string(pg_schema_version()) +
                    "); open it once read-write (any engine) to migrate it");
  }
}

}  // namespace storyloom::store::pg
