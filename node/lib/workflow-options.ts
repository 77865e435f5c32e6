// engine.workflow()'s options: their types and their translation to the
// fields of sl_workflow_options (version 2), checked for shape and type here
// and for range by the engine, which names the field.
import { C_INT_MAX, invalid, objectOf, optionalBoolean, optionalInteger, optionalNumber, optionalString } from './check';
import type { NativeWorkflowOptions } from './native';

/**
 * The retry policy of every step of a workflow: up to maxAttempts tries;
 * before try n+1 a wait in [0, min(maxBackoffMs, initialBackoffMs *
 * multiplier^(n-1))] (full jitter), or the whole bound with jitter: false.
 * Errors with `errorClass: 'fatal'` are never retried; other step errors are.
 */
export interface RetryOptions {
  /** [1: no retry] */
  maxAttempts?: number;
  /** [1000] */
  initialBackoffMs?: number;
  /** [2] */
  multiplier?: number;
  /** [60000] */
  maxBackoffMs?: number;
  /** Full jitter [true]. */
  jitter?: boolean;
  /**
   * Each step attempt (host or llm) must finish, or a host step heartbeat
   * (ctx.heartbeat()), within this many ms; else it fails with a timeout
   * error, retried per this policy [0: no timeout].
   */
  timeoutMs?: number;
}

/** Caps running runs per value of a key of the input. */
export interface ConcurrencyOptions {
  /** A JSON path into the run input: "$.user_id", "user_id", "$.user.id"; a missing path is the null bucket. */
  key: string;
  /** Running runs per key value. */
  limit: number;
}

/** Caps first starts per key per period. */
export interface ThrottleOptions {
  /** A JSON path into the run input; omitted: one bucket for the workflow. */
  key?: string;
  /** Starts per period. */
  limit: number;
  periodMs: number;
}

/**
 * Per-workflow options. Limits hold across processes sharing the store;
 * sleeping and waiting runs hold no slot.
 */
export interface WorkflowOptions {
  /**
   * Unset: host and http steps make one attempt, llm steps retry by default
   * (3 attempts). An object (even {}) sets the policy of every step, llm
   * steps too; false: one attempt for every step.
   */
  retry?: RetryOptions | false;
  /** Running runs of the workflow at once [no limit]. */
  maxRunning?: number;
  concurrency?: ConcurrencyOptions;
  throttle?: ThrottleOptions;
  /** From the first start, parked time included [0: none]; a run past it fails with a timeout error. */
  runTimeoutMs?: number;
}

const OPTIONS = ['retry', 'maxRunning', 'concurrency', 'throttle', 'runTimeoutMs'] as const;
const RETRY = ['maxAttempts', 'initialBackoffMs', 'multiplier', 'maxBackoffMs', 'jitter', 'timeoutMs'] as const;

/** Checks shapes and types (the engine checks ranges and names the field). */
export function workflowOptions(workflow: string, options: unknown): NativeWorkflowOptions {
  const where = `workflow '${workflow}'`;
  const o = objectOf(`${where}: options`, options, OPTIONS, `${where}: unknown option`);
  const out: NativeWorkflowOptions = {};
  if (o.retry === false) {
    out.maxAttempts = 1; // an explicit policy of one attempt: llm steps' default is off too
  } else if (o.retry !== undefined) {
    const w = `${where}: retry`;
    const r = objectOf(w, o.retry, RETRY, `${where}: unknown retry option`);
    // 0 is "unset" in sl_workflow_options: refuse it here as the engine would.
    if (r.maxAttempts === 0) throw invalid(`${where}: max_attempts must be at least 1, got 0`);
    out.maxAttempts = optionalInteger(w, r, 'maxAttempts', C_INT_MAX) ?? 1;
    out.initialBackoffMs = optionalInteger(w, r, 'initialBackoffMs');
    out.multiplier = optionalNumber(w, r, 'multiplier');
    out.maxBackoffMs = optionalInteger(w, r, 'maxBackoffMs');
    out.jitter = optionalBoolean(w, r, 'jitter');
    out.stepTimeoutMs = optionalInteger(w, r, 'timeoutMs');
  }
  out.maxRunning = optionalInteger(`${where}:`, o, 'maxRunning', C_INT_MAX);
  out.runTimeoutMs = optionalInteger(`${where}:`, o, 'runTimeoutMs');
  if (o.concurrency !== undefined) {
    const w = `${where}: concurrency`;
    const c = objectOf(w, o.concurrency, ['key', 'limit'], `${where}: unknown concurrency option`);
    if (c.limit === undefined) throw invalid(`${w}.limit is required`);
    out.concurrencyKey = optionalString(w, c, 'key');
    out.concurrencyLimit = optionalInteger(w, c, 'limit', C_INT_MAX);
  }
  if (o.throttle !== undefined) {
    const w = `${where}: throttle`;
    const t = objectOf(w, o.throttle, ['key', 'limit', 'periodMs'], `${where}: unknown throttle option`);
    if (t.limit === undefined) throw invalid(`${w}.limit is required`);
    out.throttleKey = optionalString(w, t, 'key');
    out.throttleLimit = optionalInteger(w, t, 'limit', C_INT_MAX);
    out.throttlePeriodMs = optionalInteger(w, t, 'periodMs');
  }
  // Absent fields keep the engine's defaults: drop them rather than pass undefined.
  for (const key of Object.keys(out) as (keyof NativeWorkflowOptions)[]) {
    if (out[key] === undefined) delete out[key];
  }
  return out;
}
