// The store's hot queries: those run for every claim and every poll, whose
// cost must not grow with the number of runs. Each names the index it must
// use (INDEXED BY: SQLite without statistics would otherwise walk
// runs_by_status and sort), and tests/store/query_plan_test.cc checks every
// plan with EXPLAIN QUERY PLAN, so a schema change cannot bring a scan back.
#pragma once

namespace storyloom::store::sql {

// The next runs to claim, in queue order: ?1 owner, ?2 now, ?3 limit, ?4 the
// workflows this engine executes (JSON array). A walk of runs_queue from its
// start that stops after ?3 matches. It selects seq, the rowid, so the claim's
// UPDATE (WHERE seq IN ...) reaches each row without a lookup in the id index.
inline constexpr const char* kClaimQueueWalk =
    "SELECT seq FROM runs INDEXED BY runs_queue WHERE status = 'queued' AND available_at <= ?2 "
    "AND workflow IN (SELECT value FROM json_each(?4)) "
    "ORDER BY priority DESC, available_at, seq LIMIT ?3";


// A page of the queue after a position, for claims under limits: ?1 now,
// ?2 workflows (JSON array), (?3, ?4, ?5) = (-priority, available_at, seq)
// of the last row seen, ?6 page size. Selects seq then the run's columns.
inline constexpr const char* kQueuePageWhere =
    " FROM runs INDEXED BY runs_queue WHERE status = 'queued' AND available_at <= ?1 AND "
    "workflow IN (SELECT value FROM json_each(?2)) AND (-priority, available_at, seq) > (?3, ?4, ?5) "
    "ORDER BY priority DESC, available_at, seq LIMIT ?6";

// Claims under limits reach the queued runs of one workflow per concurrency
// key through runs_queue_key (workflow, concurrency_key, then queue order),
// so the runs of a key that is full are never read: the first stored key of
// a workflow's queued runs (?1 workflow), and the next one after ?2.
inline constexpr const char* kFirstQueuedKey =
    "SELECT concurrency_key FROM runs INDEXED BY runs_queue_key WHERE status = 'queued' AND "
    "workflow = ?1 AND concurrency_key IS NOT NULL ORDER BY concurrency_key LIMIT 1";
inline constexpr const char* kNextQueuedKey =
    "SELECT concurrency_key FROM runs INDEXED BY runs_queue_key WHERE status = 'queued' AND "
    "workflow = ?1 AND concurrency_key > ?2 ORDER BY concurrency_key LIMIT 1";

// The queued runs of one workflow with one stored key (kQueuedOfKeyWhere, ?2
// the key) or with none (kQueuedWithoutKeyWhere, no ?2), in queue order
// after a position: ?1 workflow, ?3 now, (?4, ?5, ?6) = (-priority,
// available_at, seq) of the last row seen, ?7 limit. Prefixed with
// "SELECT seq, " and the run's columns.
inline constexpr const char* kQueuedOfKeyWhere =
    " FROM runs INDEXED BY runs_queue_key WHERE status = 'queued' AND workflow = ?1 AND "
    "concurrency_key = ?2 AND available_at <= ?3 AND (-priority, available_at, seq) > (?4, ?5, ?6) "
    "ORDER BY priority DESC, available_at, seq LIMIT ?7";
inline constexpr const char* kQueuedWithoutKeyWhere =
    " FROM runs INDEXED BY runs_queue_key WHERE status = 'queued' AND workflow = ?1 AND "
    "concurrency_key IS NULL AND available_at <= ?3 AND "
    "(-priority, available_at, seq) > (?4, ?5, ?6) ORDER BY priority DESC, available_at, seq "
    "LIMIT ?7";

// Running runs of one workflow by concurrency key (?1 workflow): every key's
// count in one read of runs_running_key, for claims that reach runs by key.
inline constexpr const char* kRunningByKey =
    "SELECT concurrency_key, count(*) FROM runs INDEXED BY runs_running_key WHERE "
    "status = 'running' AND workflow = ?1 AND concurrency_key IS NOT NULL GROUP BY concurrency_key";

// The earliest timer of a sleeping or waiting run.
inline constexpr const char* kNextParked =
    "SELECT min(wake_at) FROM runs INDEXED BY runs_parked "
    "WHERE status IN ('sleeping', 'waiting') AND wake_at > 0";

// The earliest available_at of a queued run after ?1 (a backoff ending).
// Only runs queued for later are in runs_delayed: a run queued to start at
// once has available_at equal to the updated_at of the write that queued it.
inline constexpr const char* kNextQueued =
    "SELECT min(available_at) FROM runs INDEXED BY runs_delayed "
    "WHERE status = 'queued' AND available_at > updated_at AND available_at > ?1";

// Sleeping or waiting runs whose timer is due: ?1 now, ?2 limit.
inline constexpr const char* kDueParked =
    "SELECT id FROM runs INDEXED BY runs_parked WHERE status IN ('sleeping', 'waiting') AND "
    "wake_at > 0 AND wake_at <= ?1 ORDER BY wake_at LIMIT ?2";

// Unfinished runs past their deadline, earliest first: ?1 now, ?2 limit;
// prefixed with the run's columns. Without the hint SQLite walks
// runs_by_status over every unfinished run (15 ms per poll with 50,000 queued).
inline constexpr const char* kOverdueWhere =
    " FROM runs INDEXED BY runs_deadline WHERE deadline_at > 0 AND status IN ('queued', "
    "'running', 'sleeping', 'waiting') AND deadline_at <= ?1 ORDER BY deadline_at LIMIT ?2";

// Runs of one status, counted by workflow: the queue depth gauge, read at
// each metrics collection. Not a per-claim query, but it must not grow with
// the finished runs kept: it walks only that status's entries of the index
// holding it (a partial index is used only for a status written in the SQL).
inline constexpr const char* kCountQueuedByWorkflow =
    "SELECT workflow, count(*) FROM runs INDEXED BY runs_queue WHERE status = 'queued' "
    "GROUP BY workflow";
inline constexpr const char* kCountRunningByWorkflow =
    "SELECT workflow, count(*) FROM runs INDEXED BY runs_running_key WHERE status = 'running' "
    "GROUP BY workflow";
// ... and for the other statuses: this, the status's quoted name, kCountByWorkflowEnd.
inline constexpr const char* kCountByWorkflowBegin =
    "SELECT workflow, count(*) FROM runs INDEXED BY runs_by_status WHERE status = ";
inline constexpr const char* kCountByWorkflowEnd = " GROUP BY workflow";

// The oldest pending wait of a run for a kind and name (?1 run, ?2 kind, ?3
// name): run for every signal that wakes a run. A search of the steps' primary
// key on the run, in seq order; never a scan of every run's steps.
inline constexpr const char* kPendingWait =
    "SELECT seq FROM steps WHERE run_id = ?1 AND status = 'pending' AND kind = ?2 AND name = ?3 "
    "ORDER BY seq LIMIT 1";

}  // namespace storyloom::store::sql
