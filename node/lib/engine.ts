// Engine: one open store plus its threads, as a Promise-based API. Blocking
// C calls run off the JS thread (the addon's AsyncWorker); executions and
// events arrive on the JS thread through thread-safe functions.
import { LifecycleMetrics } from './metrics';
import { activeTraceParent, LifecycleSpans, openTelemetryApi } from './telemetry';
import { budgetJson, toBudget, toBudgetStatus, toUsage, type BudgetStatus, type RunBudget, type RunUsage } from './budget';
import { durationMs, intArgument, invalid, objectOf, stringArgument } from './check';
import type { ImageOptions } from './image';
import { engineConfigJson, resourceLimitsJson, type LlmOptions, type ResourceLimits } from './config';
import { Context, describe, isParked, originOf } from './context';
import {
  callAsync,
  call,
  CancelledError,
  ERROR_CLASS_CODE,
  errorFor,
  type ErrorClass,
  InvalidArgumentError,
  InvalidStateError,
  type StoryloomError,
  translate,
  WorkflowFailedError,
} from './errors';
import { toLlmProviders, toResourceStatus, type LlmProviders, type ResourceStatus } from './llm';
import {
  native,
  SL_DURABILITY_FULL,
  SL_DURABILITY_NORMAL,
  SL_EVENT_CURSOR,
  SL_EVENT_STORED,
  SL_EVENT_TRANSIENT,
  type NativeEngine,
  type NativeEvent,
  type NativeExecution,
  type NativeSubscription,
} from './native';
import { nativeRunFilter, type ListOptions, type RunFilter, type RunStatus } from './run-filter';
import { workflowOptions, type WorkflowOptions } from './workflow-options';
import {
  receiveWebhookJson,
  toWebhookDelivery,
  webhookOptionsJson,
  type InboundResult,
  type InboundWebhookOptions,
  type WebhookDelivery,
  type WebhookHeaders,
  type WebhookOptions,
} from './webhooks';

export type { RunStatus } from './run-filter';

export interface RunError {
  code: string;
  class: string;
  message: string;
  step: string;
  /** Where the error came from, when a host said: the thrown error's name and stack. */
  origin?: { type: string; trace?: string };
}

export interface Run<Input = unknown, Output = unknown> {
  id: string;
  workflow: string;
  status: RunStatus;
  input: Input;
  output: Output | null;
  error: RunError | null;
  progress: unknown;
  owner: string;
  idempotencyKey: string;
  parentId: string;
  priority: number;
  createdAtMs: number;
  updatedAtMs: number;
  /** 0 until the run finishes. */
  finishedAtMs: number;
  /** As given at start ({llmCalls: 0, llmTokens: 0}: no limit). */
  budget: RunBudget;
  /** The W3C traceparent given at start (a child run's: its parent's); '' when none. */
  traceParent: string;
}

export interface RunPage {
  runs: Run[];
  /** Pass as `after` for the next page; "" at the end. */
  nextCursor: string;
}

export interface Step {
  seq: number;
  name: string;
  kind: string;
  status: string;
  result: unknown;
  completedAtMs: number;
}

export interface Artifact<T = unknown> {
  key: string;
  version: number;
  /** For a binary artifact: {content_type, size, sha256}. */
  value: T;
  createdAtMs: number;
  /** Set only for a binary artifact (a picture): its media type. Read its bytes with artifactBytes. */
  contentType?: string;
}

/**
 * Where a token stream's text stands: bytes [attemptStart, end) of the
 * stream are the current llm attempt's text; earlier bytes belong to attempts
 * that were retried or re-executed after a crash, and a view shows none of them.
 */
export interface StreamState {
  attemptStart: number;
  end: number;
}

export interface Snapshot {
  run: Run;
  steps: Step[];
  /** The latest version of each key. */
  artifacts: Artifact[];
  /** Each token stream of the run, by name ({} from an engine that does not report them). */
  streams: Record<string, StreamState>;
  /** Subscribe after this id to continue live. */
  lastEventId: number;
  /** What the run's completed llm steps used, in all and per provider and model. */
  usage: RunUsage;
  /** The run's budget against its usage. */
  budget: BudgetStatus;
}

/** stored: persisted with an id; transient: live token text (id 0); cursor: a stored chunk already seen live (id only). */
export type EventKind = 'stored' | 'transient' | 'cursor';

export interface StoryEvent {
  id: number;
  kind: EventKind;
  runId: string;
  type: string;
  /** The event's JSON data; undefined for a cursor. */
  data: unknown;
  createdAtMs: number;
}

export interface OpenOptions {
  /** "sqlite:PATH", a PATH, ":memory:" (the default), or a "postgresql://..." URL (README, PostgreSQL). */
  store?: string;
  /** Engine threads handing executions to JS [4]. */
  workers?: number;
  maxExecutions?: number;
  maxPayloadBytes?: number;
  pollIntervalMs?: number;
  leaseTtlMs?: number;
  drainTimeoutMs?: number;
  /** How deeply arrays and objects may nest in JSON sent to the engine [32, at most 1000]. */
  maxJsonDepth?: number;
  /** The bytes of one binary artifact (ctx.binaryArtifact) [16 MiB, at least 1024]. */
  maxArtifactBytes?: number;
  /**
   * LLM providers for ctx.llm. Without any, the environment's (OPENAI_API_KEY,
   * ANTHROPIC_API_KEY, ...) and the offline provider, the default when no key is set.
   */
  llm?: LlmOptions;
  /**
   * Image providers of ctx.image: by default offline (a labelled placeholder
   * picture, no key) and openai when OPENAI_API_KEY or OPENAI_BASE_URL is set.
   */
  images?: ImageOptions;
  /** Limits per resource name, e.g. { 'llm:openai': { requests: 60, periodMs: 60000, maxInFlight: 4 } }. */
  resources?: Record<string, ResourceLimits>;
  /**
   * What a commit survives [full]. 'full': every group commit is fsynced, so
   * an acknowledged step survives a power loss. 'normal': synced at
   * checkpoints; survives a crash of the process, not of the machine. Either
   * way a step's result reaches the workflow only after its commit.
   */
  durability?: Durability;
  /** Errors with no caller to receive them (a finish call that failed). Default: process.emitWarning. */
  onError?: (error: unknown) => void;
  /**
   * Spans and metrics through @opentelemetry/api when it is installed [true]:
   * a span per execution of a run and per step attempt, and, with a meter
   * provider registered, run counters, step durations, llm tokens, rate-limit
   * pauses and the queue depth (README, OpenTelemetry). false: none, even with
   * the API installed.
   */
  telemetry?: boolean;
}

export type Durability = 'full' | 'normal';

const DURABILITY: Record<Durability, number> = { full: SL_DURABILITY_FULL, normal: SL_DURABILITY_NORMAL };

/** Engine.open's durability as its SL_DURABILITY_* value; undefined: the engine's default (full). */
function durabilityOption(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string' && Object.hasOwn(DURABILITY, value)) return DURABILITY[value as Durability];
  throw invalid(`Engine.open: durability must be 'full' or 'normal', got ${JSON.stringify(value) ?? String(value)}`);
}

export type WorkflowFunction<Input = any, Output = unknown> = (ctx: Context, input: Input) => Output | Promise<Output>;

export interface StartOptions {
  /** Same key: the existing run is returned. */
  idempotencyKey?: string;
  owner?: string;
  /** Higher runs first. */
  priority?: number;
  /** What the run's llm steps may spend (calls, tokens); a child run gets what is left. */
  budget?: RunBudget;
  /**
   * The caller's W3C traceparent, kept with the run: its spans are children
   * of that span, also after a crash and resume. Default: the active span's,
   * when @opentelemetry/api is installed and telemetry is on.
   */
  traceParent?: string;
}

/** One run of engine.startMany. */
export interface StartRequest<Input extends object = object> extends StartOptions {
  workflow: string;
  /** [{}] */
  input?: Input;
}

/** engine.startMany's answer for one request: the run (the existing one for a seen idempotency key), or why not. */
export type StartResult = { run: Run; error?: undefined } | { run?: undefined; error: StoryloomError };

/** One signal of engine.signalMany. */
export interface SignalRequest {
  runId: string;
  name: string;
  /** [{}] */
  payload?: unknown;
  /** First wins: delivered only if the run never received a signal of this name (else an InvalidStateError result). */
  once?: boolean;
}

/** engine.signalMany's answer for one signal. */
export type SignalResult = { ok: true; error?: undefined } | { ok: false; error: StoryloomError };

const START_REQUEST = ['workflow', 'input', 'idempotencyKey', 'owner', 'priority', 'budget', 'traceParent'] as const;
const SIGNAL_REQUEST = ['runId', 'name', 'payload', 'once'] as const;

/** An array argument of a *Many call, each element an object with only `known` keys. */
function arrayOfObjects(where: string, value: unknown, known: readonly string[]): Record<string, unknown>[] {
  if (!Array.isArray(value)) throw invalid(`${where} must be an array, got ${JSON.stringify(value) ?? String(value)}`);
  return value.map((item, i) => objectOf(`${where}[${i}]`, item, known));
}

/* eslint-disable-next-line @typescript-eslint/no-explicit-any */
function toItemError(e: any): StoryloomError {
  return errorFor(e.code, e.message, e.class);
}

export interface EventsOptions {
  /** Deliver events with id > after (0: from the start). */
  after?: number;
  /** Stops the iterator. */
  signal?: AbortSignal;
}

export interface SseOptions {
  /** The request's Last-Event-ID header: resume after it. */
  lastEventId?: string | number | null;
  /** Aborting (the request's signal) closes the stream and the subscription. */
  signal?: AbortSignal;
  /** A heartbeat comment every heartbeatMs [15000]; 0 disables. */
  heartbeatMs?: number;
  /** Sent as `retry:` first, when given. */
  retryMs?: number;
  /** Close the stream once the run has finished [true]. */
  endWhenFinished?: boolean;
}

/** How often runs held for the keep-alive are checked for having parked or finished elsewhere. */
const KEEP_ALIVE_CHECK_MS = 200;
const KEEP_ALIVE_CHECKS_PER_TICK = 32;

const TERMINAL_EVENTS = new Set(['run.completed', 'run.failed', 'run.cancelled']);
const TERMINAL_STATUS = new Set(['completed', 'failed', 'cancelled']);

/* eslint-disable @typescript-eslint/no-explicit-any */
export function toRun(r: any): Run {
  return {
    id: r.id,
    workflow: r.workflow,
    status: r.status,
    input: r.input,
    output: r.output ?? null,
    error: r.error ?? null,
    progress: r.progress ?? null,
    owner: r.owner,
    idempotencyKey: r.idempotency_key,
    parentId: r.parent_id,
    priority: r.priority,
    createdAtMs: r.created_at_ms,
    updatedAtMs: r.updated_at_ms,
    finishedAtMs: r.finished_at_ms,
    budget: toBudget(r.budget),
    traceParent: r.trace_parent ?? '',
  };
}

function toArtifact(a: any): Artifact {
  const artifact: Artifact = { key: a.key, version: a.version, value: a.value, createdAtMs: a.created_at_ms };
  if (a.content_type !== undefined) artifact.contentType = a.content_type;
  return artifact;
}

function toStoredEvent(e: any): StoryEvent {
  return { id: e.id, kind: 'stored', runId: e.run_id, type: e.type, data: e.data, createdAtMs: e.created_at_ms };
}

const KINDS: Record<number, EventKind> = {
  [SL_EVENT_STORED]: 'stored',
  [SL_EVENT_TRANSIENT]: 'transient',
  [SL_EVENT_CURSOR]: 'cursor',
};

function toLiveEvent(e: NativeEvent): StoryEvent {
  return {
    id: e.id,
    kind: KINDS[e.kind] ?? 'stored',
    runId: e.runId,
    type: e.type,
    data: e.kind === SL_EVENT_CURSOR || e.data === '' ? undefined : JSON.parse(e.data),
    createdAtMs: e.createdAtMs,
  };
}
/* eslint-enable @typescript-eslint/no-explicit-any */

/**
 * One subscription to a run, ending after the run's last event when the run
 * has finished: on its run.completed/failed/cancelled event (the core keeps
 * that event last), or, when the run had finished before the subscription,
 * at the snapshot's last event (a reader resuming after the terminal event
 * would otherwise wait for one that never comes).
 */
class Feed {
  #sub: NativeSubscription | undefined;
  #lastId: number;
  /** The snapshot's last event id, when the run had finished by then. */
  #endAt: number | undefined;
  #snapshotRead = false;
  #terminalSeen = false;
  #closed = false;

  constructor(
    private readonly engine: Engine,
    private readonly runId: string,
    after: number,
    sse: boolean,
    private readonly onEvent: (e: NativeEvent) => void,
    private readonly onEnd: (error?: unknown) => void,
  ) {
    this.#lastId = after;
    this.#sub = this.engine._native().subscribe(runId, after, sse, (e) => this.#deliver(e));
    this.engine._feeds.add(this);
    this.engine.snapshot(runId).then(
      (s) => {
        this.#snapshotRead = true;
        if (this.#closed) return;
        if (TERMINAL_STATUS.has(s.run.status)) this.#endAt = s.lastEventId;
        if ((this.#endAt !== undefined && this.#lastId >= this.#endAt) || (this.#endAt === undefined && this.#terminalSeen)) this.close();
      },
      (err) => {
        if (!this.#closed) this.close(err);
      },
    );
  }

  #deliver(e: NativeEvent): void {
    if (this.#closed) return;
    this.onEvent(e);
    if (e.kind === SL_EVENT_TRANSIENT) return;
    this.#lastId = Math.max(this.#lastId, e.id);
    if (this.#endAt !== undefined) {
      if (this.#lastId >= this.#endAt) this.close();
    } else if (TERMINAL_EVENTS.has(e.type)) {
      // Finished while subscribed: done. Before the snapshot says which, wait for it.
      if (this.#snapshotRead) this.close();
      else this.#terminalSeen = true;
    }
  }

  close(error?: unknown): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#sub?.close();
    this.#sub = undefined;
    this.engine._feeds.delete(this);
    this.onEnd(error);
  }
}

/** An open store plus its worker threads, timers and event hub. */
export class Engine {
  readonly #native: NativeEngine;
  readonly #onError: (error: unknown) => void;
  #closed = false;
  #pending = new Set<Promise<unknown>>();
  /** @internal */
  readonly _feeds = new Set<Feed>();

  private constructor(n: NativeEngine, onError: (error: unknown) => void) {
    this.#native = n;
    this.#onError = onError;
  }

  /**
   * Opens (creating if needed) the store and starts the engine's threads.
   * Reads, starts, signals and cancels work at once; no run executes (not even
   * one a dead process left running) until launch(): register the workflows
   * first, then launch.
   */
  static async open(options: OpenOptions = {}): Promise<Engine> {
    const { onError, llm, images, resources, maxJsonDepth, maxArtifactBytes, durability, telemetry, ...rest } = options;
    if (telemetry !== undefined && typeof telemetry !== 'boolean') {
      throw invalid(`Engine.open: telemetry must be a boolean, got ${JSON.stringify(telemetry) ?? String(telemetry)}`);
    }
    for (const key of ['pollIntervalMs', 'leaseTtlMs', 'drainTimeoutMs'] as const) {
      if (rest[key] !== undefined) durationMs(`Engine.open: ${key}`, rest[key]);
    }
    const configJson = engineConfigJson(llm, resources, maxJsonDepth, maxArtifactBytes, images);
    const level = durabilityOption(durability);
    const n = await callAsync(() =>
      native().open({ ...rest, store: rest.store ?? ':memory:', configJson, ...(level === undefined ? {} : { durability: level }) }),
    );
    const engine = new Engine(
      n,
      onError ??
        ((e) => process.emitWarning(e instanceof Error ? e : new Error(String(e)), { code: 'STORYLOOM_UNREPORTED' })),
    );
    const api = telemetry === false ? undefined : openTelemetryApi();
    if (api) {
      const spans = new LifecycleSpans(api);
      const metrics = new LifecycleMetrics(api, () => engine.#queuedWorkflows());
      engine.#otel = api;
      engine.#metrics = metrics;
      n.setLifecycle((report) => {
        try {
          const r = JSON.parse(report);
          spans.report(r);
          metrics.report(r);
        } catch (e) {
          engine.#onError(e);
        }
      });
    }
    return engine;
  }

  // @opentelemetry/api when telemetry is on and it is installed.
  /* eslint-disable-next-line @typescript-eslint/no-explicit-any */
  #otel: any;
  #metrics: LifecycleMetrics | undefined;

  // The workflow of every queued run, read a page at a time (the queue depth gauge).
  async #queuedWorkflows(): Promise<string[]> {
    const workflows: string[] = [];
    let after = '';
    do {
      const filter = { status: 'queued', workflow: '', owner: '', finishedAfterMs: 0, finishedBeforeMs: 0, limit: 1000, after };
      const page = JSON.parse(await this.#track(() => this.#native.listRuns(filter)));
      for (const run of page.runs) workflows.push(run.workflow);
      after = page.next_cursor ?? '';
    } while (after !== '');
    return workflows;
  }

  #traceParent(where: string, given: unknown): string {
    if (given === undefined) return this.#otel ? activeTraceParent(this.#otel) : '';
    return stringArgument(where, given);
  }

  /** The library's version, "MAJOR.MINOR.PATCH". */
  static version(): string {
    return native().version();
  }

  /** @internal */
  _native(): NativeEngine {
    if (this.#closed) throw errorFor('closed', 'the engine is closed');
    return this.#native;
  }

  #track<T>(f: () => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(errorFor('closed', 'the engine is closed'));
    const p = callAsync(f);
    this.#pending.add(p);
    const done = () => this.#pending.delete(p);
    p.then(done, done);
    return p;
  }

  /**
   * Registers a workflow. `fn(ctx, input)` runs on the JS thread for every
   * execution of a run; its return value (JSON) completes the run, a throw
   * fails it.
   */
  workflow<Input = any, Output = unknown>(name: string, fn: WorkflowFunction<Input, Output>): void;
  workflow<Input = any, Output = unknown>(
    name: string,
    options: WorkflowOptions,
    fn: WorkflowFunction<Input, Output>,
  ): void;
  workflow(name: string, a: WorkflowOptions | WorkflowFunction, b?: WorkflowFunction): void {
    const fn = (typeof a === 'function' ? a : b) as WorkflowFunction;
    if (typeof fn !== 'function') throw new TypeError(`workflow '${name}' needs a function`);
    const native = workflowOptions(name, typeof a === 'function' ? {} : a);
    try {
      call(() => this._native().registerWorkflow(name, native, (execution) => void this.#execute(execution, fn)));
    } catch (e) {
      // The engine's range errors ("max_attempts must be at least 1") do not say which workflow.
      if (e instanceof InvalidArgumentError && !e.message.includes(`'${name}'`)) {
        throw new InvalidArgumentError(`workflow '${name}': ${e.message}`, e.code, e.errorClass);
      }
      throw e;
    }
    this.#registered.add(name);
  }

  /**
   * Begins executing runs: new ones and those a dead process left running.
   * Call it once every workflow is registered, so a recovered run finds the
   * workflows it invokes (workflows registered later run too). Idempotent;
   * ClosedError after close().
   */
  launch(): void {
    call(() => this._native().launch());
  }

  // Keeping the process alive for runs it started: a workflow's thread-safe
  // function is referenced only while an execution is in JS (an idle engine
  // must not hold the loop), so between start() and the execution, or during
  // a retry's backoff, nothing would. A referenced timer holds the loop while
  // a run this engine started, signalled or retried (of a workflow registered
  // here) is queued or running; it lets go once the run parks (sleeping,
  // waiting) or finishes, here or in another process.
  #awaiting = new Set<string>();
  #inJs = new Map<string, number>();
  #keepAlive: NodeJS.Timeout | undefined;
  #registered = new Set<string>();
  #rechecking = false;

  #holdUntilExecuted(run: Run): void {
    if (this.#closed || !this.#registered.has(run.workflow)) return;
    if (run.status !== 'queued' && run.status !== 'running') return;
    this.#awaiting.add(run.id);
    this.#keepAlive ??= setInterval(() => void this.#recheckAwaiting(), KEEP_ALIVE_CHECK_MS);
  }

  #stopAwaiting(runId: string): void {
    this.#awaiting.delete(runId);
    if (this.#awaiting.size === 0 && this.#keepAlive) {
      clearInterval(this.#keepAlive);
      this.#keepAlive = undefined;
    }
  }

  async #recheckAwaiting(): Promise<void> {
    if (this.#rechecking) return; // the previous check is still reading
    this.#rechecking = true;
    try {
      await this.#recheckEach();
    } finally {
      this.#rechecking = false;
    }
  }

  // A few of the oldest per check, the rest moved to the back: with thousands
  // of runs queued, reading each one every check would compete with them.
  // (Runs that complete here are let go by #execute without a read.)
  async #recheckEach(): Promise<void> {
    let checked = 0;
    for (const id of [...this.#awaiting]) {
      if (checked === KEEP_ALIVE_CHECKS_PER_TICK) break;
      if (this.#inJs.has(id)) continue; // its execution holds the loop
      checked++;
      let status: string;
      try {
        status = (await this.get(id)).status;
      } catch {
        status = 'gone';
      }
      if (!this.#awaiting.has(id)) continue;
      this.#awaiting.delete(id);
      if (status === 'queued' || status === 'running') this.#awaiting.add(id);
      else this.#stopAwaiting(id);
    }
  }

  async #execute(execution: NativeExecution, fn: WorkflowFunction): Promise<void> {
    let ctx: Context | undefined;
    let runId: string | undefined;
    try {
      ctx = new Context(execution);
      runId = ctx.runId;
      this.#inJs.set(runId, (this.#inJs.get(runId) ?? 0) + 1);
      const input = JSON.parse(execution.input());
      const output = await fn(ctx, input);
      ctx._finish();
      const swallowed = ctx._swallowedPark();
      if (swallowed !== undefined) {
        call(() => execution.finishFailed(ERROR_CLASS_CODE.fatal, swallowed));
        return;
      }
      const text = JSON.stringify(output === undefined ? null : output);
      call(() => execution.finishCompleted(text ?? 'null'));
      // Completed, unless a failed step the policy retries requeued it.
      if (!ctx._stepFailed) this.#stopAwaiting(runId);
    } catch (e) {
      ctx?._finish();
      try {
        if (isParked(e)) {
          call(() => execution.finishParked());
        } else {
          const k = (e as { errorClass?: unknown } | null)?.errorClass;
          const cls = typeof k === 'string' && k in ERROR_CLASS_CODE ? ERROR_CLASS_CODE[k as ErrorClass] : ERROR_CLASS_CODE.fatal;
          call(() => execution.finishFailed(cls, describe(e), ...originOf(e)));
        }
      } catch (finishError) {
        // InvalidStateError: the engine ended this execution itself (a step
        // timeout, or close gave up on it) and has already requeued or failed
        // the run; nothing is lost, so there is nothing to report.
        if (!(finishError instanceof InvalidStateError)) this.#onError(finishError);
      }
    } finally {
      if (runId !== undefined) {
        const n = (this.#inJs.get(runId) ?? 1) - 1;
        if (n > 0) this.#inJs.set(runId, n);
        else this.#inJs.delete(runId);
      }
    }
  }

  /** Starts a run (durable when the Promise resolves); an idempotency key seen before returns that run. */
  async start<Input extends object = object>(workflow: string, input: Input = {} as Input, options: StartOptions = {}): Promise<Run> {
    const text = JSON.stringify(input);
    const budget = options.budget === undefined ? { llm_calls: 0, llm_tokens: 0 } : budgetJson('engine.start: budget', options.budget);
    const traceParent = this.#traceParent('engine.start: traceParent', options.traceParent);
    const json = await this.#track(() =>
      this.#native.start(
        workflow,
        text ?? '',
        options.idempotencyKey ?? '',
        options.owner ?? '',
        options.priority ?? 0,
        budget.llm_calls,
        budget.llm_tokens,
        traceParent,
      ),
    );
    const run = toRun(JSON.parse(json));
    this.#holdUntilExecuted(run);
    return run;
  }

  /**
   * Starts many runs in one commit, each checked alone: one result per
   * request, in order, `{ run }` (durable when the Promise resolves; the
   * existing run for an idempotency key seen before) or `{ error }` (e.g.
   * NotFoundError for an unknown workflow). Rejects only for a malformed
   * argument (InvalidArgumentError naming the element and field).
   */
  async startMany(requests: StartRequest[]): Promise<StartResult[]> {
    const items = arrayOfObjects('engine.startMany: requests', requests, START_REQUEST).map((r, i) => ({
      workflow: r.workflow,
      input: r.input ?? {},
      ...(r.idempotencyKey === undefined ? {} : { idempotency_key: r.idempotencyKey }),
      ...(r.owner === undefined ? {} : { owner: r.owner }),
      ...(r.priority === undefined ? {} : { priority: r.priority }),
      ...(r.budget === undefined ? {} : { budget: budgetJson(`engine.startMany: requests[${i}].budget`, r.budget) }),
      trace_parent: this.#traceParent(`engine.startMany: requests[${i}].traceParent`, r.traceParent),
    }));
    /* eslint-disable-next-line @typescript-eslint/no-explicit-any */
    const results: any[] = JSON.parse(await this.#track(() => this.#native.startMany(JSON.stringify(items))));
    return results.map((r) => {
      if (r.error) return { error: toItemError(r.error) };
      const run = toRun(r.run);
      this.#holdUntilExecuted(run);
      return { run };
    });
  }

  /**
   * Puts many signals in their runs' mailboxes in one commit, each checked
   * alone: one result per signal, in order, `{ ok: true }` or `{ ok: false,
   * error }` (e.g. NotFoundError, InvalidStateError for a finished run).
   * Rejects only for a malformed argument.
   */
  async signalMany(signals: SignalRequest[]): Promise<SignalResult[]> {
    const items = arrayOfObjects('engine.signalMany: signals', signals, SIGNAL_REQUEST).map((s) => ({
      run_id: s.runId,
      name: s.name,
      payload: s.payload === undefined ? {} : s.payload,
      ...(s.once === undefined ? {} : { once: s.once }),
    }));
    /* eslint-disable-next-line @typescript-eslint/no-explicit-any */
    const results: any[] = JSON.parse(await this.#track(() => this.#native.signalMany(JSON.stringify(items))));
    const out: SignalResult[] = results.map((r) => (r.error ? { ok: false, error: toItemError(r.error) } : { ok: true }));
    // Waiting runs woken by their signal are queued again.
    await Promise.all(
      out.map(async (r, i) => {
        if (!r.ok) return;
        try {
          this.#holdUntilExecuted(await this.get(items[i].run_id as string));
        } catch {
          /* deleted meanwhile: nothing to hold */
        }
      }),
    );
    return out;
  }

  /** The run. NotFoundError when there is none. */
  async get(runId: string): Promise<Run> {
    return toRun(JSON.parse(await this.#track(() => this.#native.getRun(runId))));
  }

  /**
   * Waits until the run ends and resolves to its output. Rejects with
   * WorkflowFailedError when it failed (the name, message and stack of the
   * error that escaped the workflow, read from the store: another process gets
   * the same), CancelledError when it was cancelled; `signal` stops waiting
   * (rejecting with its reason).
   */
  async result<Output = unknown>(runId: string, options: { signal?: AbortSignal } = {}): Promise<Output> {
    for await (const _ of this.events(runId, { signal: options.signal })) {
      // Only the end matters.
    }
    options.signal?.throwIfAborted();
    const run = await this.get(runId);
    if (run.status === 'failed') throw new WorkflowFailedError(run.id, run.error ?? { code: 'internal', class: 'fatal', message: 'failed', step: '' });
    if (run.status === 'cancelled') throw new CancelledError(`run '${run.id}' was cancelled`, 'cancelled', 'fatal');
    if (run.status !== 'completed') throw new InvalidStateError(`engine.result: run '${run.id}' is ${run.status}, not finished`, 'invalid_state', 'fatal');
    return run.output as Output;
  }

  /** A page of runs, oldest first; `status: 'failed'` is the dead-letter view (by `errorClass`, finish time). */
  async list(options: ListOptions = {}): Promise<RunPage> {
    const filter = nativeRunFilter('engine.list: options', options, true);
    const page = JSON.parse(await this.#track(() => this.#native.listRuns(filter)));
    return { runs: page.runs.map(toRun), nextCursor: page.next_cursor };
  }

  /**
   * Queues every failed run matching `filter` again (its status, if given,
   * must be 'failed'); completed steps are not executed again. Returns how
   * many were queued.
   */
  async retryFailed(filter: RunFilter = {}): Promise<number> {
    const f = nativeRunFilter('engine.retryFailed: filter', filter);
    // Which runs to keep the process alive for (retryFailed names none):
    // the first page of those failed now; the rest are queued behind them.
    const before = await this.#track(() => this.#native.listRuns({ ...f, status: 'failed', limit: 1000, after: '' }));
    const count = Number(await this.#track(() => this.#native.retryFailed(f)));
    for (const r of JSON.parse(before).runs) this.#holdUntilExecuted({ ...toRun(r), status: 'queued' });
    return count;
  }

  /**
   * Cancels every unfinished run matching `filter` (its status, if given,
   * must be unfinished) and their unfinished children; returns the ids of
   * the matching runs cancelled.
   */
  async cancelMany(filter: RunFilter = {}): Promise<string[]> {
    const f = nativeRunFilter('engine.cancelMany: filter', filter);
    return JSON.parse(await this.#track(() => this.#native.cancelMany(f)));
  }

  /** Changes the priority of a queued run (higher starts first); InvalidStateError when it is not queued. */
  async setPriority(runId: string, priority: number): Promise<void> {
    const n = intArgument('engine.setPriority: priority', priority);
    await this.#track(() => this.#native.setPriority(runId, n));
  }

  /**
   * Redo from a step: forgets the result of the first step named `stepName`
   * and of every later step, keeps the earlier ones, and queues the finished
   * (completed or failed) run again; a run.rewound event records it.
   * Artifacts keep their earlier versions.
   */
  async rewind(runId: string, stepName: string): Promise<void> {
    const step = stringArgument('engine.rewind: stepName', stepName);
    await this.#track(() => this.#native.rewind(runId, step));
    this.#holdUntilExecuted(await this.get(runId));
  }

  /** Sets or replaces the limits of a resource ("llm:openai", ...); waiting requests are rechecked. */
  async configureResource(name: string, limits: ResourceLimits): Promise<void> {
    const where = `engine.configureResource('${name}')`;
    const json = JSON.stringify(resourceLimitsJson(`${where}: limits`, limits));
    await this.#track(() => this.#native.configureResource(stringArgument(`${where}: name`, name), json));
  }

  /** A resource's state now; an unknown name is reported as unlimited. */
  async resourceStatus(name: string): Promise<ResourceStatus> {
    const n = stringArgument('engine.resourceStatus: name', name);
    return toResourceStatus(JSON.parse(await this.#track(() => this.#native.resourceStatus(n))));
  }

  /** The configured LLM providers and the default one; never their keys. */
  async llmProviders(): Promise<LlmProviders> {
    return toLlmProviders(JSON.parse(await this.#track(() => this.#native.llmProviders())));
  }

  /**
   * Sets or replaces the outbound webhook subscriptions (docs/webhooks.md).
   * Secrets stay in memory; the first call starts delivering events.
   */
  async configureWebhooks(options: WebhookOptions): Promise<void> {
    const json = webhookOptionsJson(options);
    await this.#track(() => this.#native.configureWebhooks(json));
  }

  /** The latest `limit` deliveries of a subscription (default 100), oldest first, with every attempt. */
  async webhookLog(subscription: string, limit = 100): Promise<WebhookDelivery[]> {
    const sub = stringArgument('engine.webhookLog: subscription', subscription);
    const json = await this.#track(() => this.#native.webhookLog(sub, limit));
    return JSON.parse(json).map(toWebhookDelivery);
  }

  /**
   * Verifies an inbound webhook (signature, timestamp window) and, when
   * authentic, starts `hook.workflow` with the JSON body as input and the
   * webhook id as idempotency key, or sends the body as signal
   * `hook.signalName` to `hook.signalRunId`, once per webhook id. A refused
   * webhook resolves with status 400 or 401 and starts nothing.
   */
  async receiveWebhook(
    hook: InboundWebhookOptions,
    headers: WebhookHeaders,
    body: string | Uint8Array,
  ): Promise<InboundResult> {
    const r = await this.#track(() => receiveWebhookJson(this.#native, hook, headers, body));
    return { status: r.status, message: r.message, run: r.run ? toRun(r.run) : null, duplicate: r.duplicate };
  }

  /** Cancels an unfinished run and its children; steps in flight see ctx.signal abort. */
  async cancel(runId: string): Promise<void> {
    await this.#track(() => this.#native.cancel(runId));
  }

  /** Queues a failed run again; completed steps are not executed again. */
  async retry(runId: string): Promise<void> {
    await this.#track(() => this.#native.retry(runId));
    this.#holdUntilExecuted(await this.get(runId));
  }

  /** Deletes a finished run with everything it owns. */
  async delete(runId: string): Promise<void> {
    await this.#track(() => this.#native.deleteRun(runId));
  }

  /** Puts a signal in the run's mailbox (it may arrive before the run waits for it). */
  /**
   * First wins: delivers the signal only if the run never received one of
   * this name (read or unread); of several senders racing, exactly one gets
   * through and the others reject with InvalidStateError naming the signal.
   * The delivered payload is in the run's `signal.received` event.
   */
  async signalOnce(runId: string, name: string, payload: unknown = {}): Promise<void> {
    const [result] = await this.signalMany([{ runId, name, payload, once: true }]);
    if (!result.ok) throw result.error;
  }

  async signal(runId: string, name: string, payload: unknown = {}): Promise<void> {
    const text = JSON.stringify(payload === undefined ? null : payload);
    await this.#track(() => this.#native.signal(runId, name, text));
    // A waiting run woken by the signal is queued again.
    this.#holdUntilExecuted(await this.get(runId));
  }

  /** One consistent read of the run, its steps, latest artifacts and last event id. */
  async snapshot(runId: string): Promise<Snapshot> {
    /* eslint-disable-next-line @typescript-eslint/no-explicit-any */
    const s: any = JSON.parse(await this.#track(() => this.#native.snapshot(runId)));
    return {
      run: toRun(s.run),
      /* eslint-disable-next-line @typescript-eslint/no-explicit-any */
      steps: s.steps.map((x: any) => ({
        seq: x.seq,
        name: x.name,
        kind: x.kind,
        status: x.status,
        result: x.result,
        completedAtMs: x.completed_at_ms,
      })),
      artifacts: s.artifacts.map(toArtifact),
      streams: Object.fromEntries(
        /* eslint-disable-next-line @typescript-eslint/no-explicit-any */
        Object.entries(s.streams ?? {}).map(([name, x]: [string, any]) => [name, { attemptStart: x.attempt_start, end: x.end }]),
      ),
      lastEventId: s.last_event_id,
      usage: toUsage(s.usage),
      budget: toBudgetStatus(s.budget),
    };
  }

  /** Every version of every artifact, by key then version. */
  async artifacts(runId: string): Promise<Artifact[]> {
    return JSON.parse(await this.#track(() => this.#native.artifacts(runId))).map(toArtifact);
  }

  /**
   * The bytes of a binary artifact (version 0: the latest). Rejects with
   * NotFoundError for an unknown run, key or version, InvalidArgumentError
   * for a JSON artifact.
   */
  async artifactBytes(runId: string, key: string, version = 0): Promise<Buffer> {
    return await this.#track(() => this.#native.artifactBytes(runId, key, version));
  }

  /**
   * Writes the run's story as a book to `path`: 'epub' (EPUB 3), 'pdf' (a
   * cover, then a page per story page with its picture) or 'md' (Markdown,
   * pictures in "<name>_pictures/" beside it). Page N's picture is the binary
   * artifact "page/N/picture". Rejects with NotFoundError for a run with no
   * story, InvalidArgumentError for a bad format or an unwritable path.
   */
  async exportBook(runId: string, format: 'epub' | 'pdf' | 'md', path: string): Promise<void> {
    await this.#track(() => this.#native.exportBook(runId, format, path));
  }

  /** Stored events with id > after, at most limit (1..10000, default 1000). */
  async storedEvents(runId: string, options: { after?: number; limit?: number } = {}): Promise<StoryEvent[]> {
    const json = await this.#track(() => this.#native.events(runId, options.after ?? 0, options.limit ?? 0));
    return JSON.parse(json).map(toStoredEvent);
  }

  /**
   * The run's events after `after` (stored, then live; no gap, no duplicate),
   * as an async iterator. It ends after the run finishes, when `signal`
   * aborts, or when the loop breaks; each closes the subscription.
   */
  events(runId: string, options: EventsOptions = {}): AsyncIterableIterator<StoryEvent> {
    const queue: StoryEvent[] = [];
    let ended = false;
    let failure: unknown;
    let wake: (() => void) | undefined;
    let feed: Feed | undefined;
    const signal = options.signal;
    const onAbort = () => feed?.close();
    const start = () => {
      if (feed || ended) return;
      if (signal?.aborted) {
        ended = true;
        return;
      }
      feed = call(
        () =>
          new Feed(
            this,
            runId,
            options.after ?? 0,
            false,
            (e) => {
              queue.push(toLiveEvent(e));
              wake?.();
            },
            (error) => {
              ended = true;
              failure = error;
              signal?.removeEventListener('abort', onAbort);
              wake?.();
            },
          ),
      );
      signal?.addEventListener('abort', onAbort, { once: true });
    };
    const iterator: AsyncIterableIterator<StoryEvent> = {
      next: async (): Promise<IteratorResult<StoryEvent>> => {
        start();
        for (;;) {
          if (queue.length > 0) return { value: queue.shift()!, done: false };
          if (ended) {
            if (failure !== undefined) {
              const f = translate(failure);
              failure = undefined;
              throw f;
            }
            return { value: undefined, done: true };
          }
          await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
        }
      },
      return: async (): Promise<IteratorResult<StoryEvent>> => {
        ended = true;
        queue.length = 0;
        feed?.close();
        return { value: undefined, done: true };
      },
      [Symbol.asyncIterator]() {
        return iterator;
      },
    };
    return iterator;
  }

  /**
   * A web Response streaming the run's events as server-sent events (the
   * engine's own wire format), resuming after `lastEventId`. The stream closes
   * and unsubscribes when `signal` aborts, when the reader cancels, or (by
   * default) once the run has finished. Throws NotFoundError for an unknown run.
   */
  sseResponse(runId: string, options: SseOptions = {}): Response {
    const after = Number(options.lastEventId ?? 0) || 0;
    const heartbeatMs = options.heartbeatMs ?? 15000;
    const endWhenFinished = options.endWhenFinished ?? true;
    const encoder = new TextEncoder();
    const { signal } = options;
    let controller!: ReadableStreamDefaultController<Uint8Array>;
    let timer: NodeJS.Timeout | undefined;
    let finished = false;
    let feed: Feed | undefined;
    const finish = (error?: unknown) => {
      if (finished) return;
      finished = true;
      if (timer) clearInterval(timer);
      signal?.removeEventListener('abort', onAbort);
      feed?.close();
      try {
        if (error !== undefined) controller.error(translate(error));
        else controller.close();
      } catch {
        /* already closed by the reader */
      }
    };
    const onAbort = () => finish();
    const body = new ReadableStream<Uint8Array>({
      start: (c) => {
        controller = c;
      },
      cancel: () => finish(),
    });
    if (signal?.aborted) {
      finish();
    } else {
      this._native();
      if (options.retryMs !== undefined) controller.enqueue(encoder.encode(native().sseRetry(options.retryMs)));
      feed = call(
        () =>
          new Feed(
            this,
            runId,
            after,
            true,
            (e) => {
              if (!finished && e.sse !== undefined) controller.enqueue(encoder.encode(e.sse));
            },
            (error) => {
              if (error !== undefined || endWhenFinished) finish(error);
            },
          ),
      );
      signal?.addEventListener('abort', onAbort, { once: true });
      if (heartbeatMs > 0) {
        const beat = native().sseHeartbeat();
        timer = setInterval(() => {
          if (!finished) controller.enqueue(encoder.encode(beat));
        }, heartbeatMs);
        timer.unref();
      }
    }
    return new Response(body, {
      headers: {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      },
    });
  }

  /**
   * Stops claiming runs, lets executions in flight finish (up to
   * drainTimeoutMs), puts the rest back in the queue, and frees the engine.
   * Resolves within drainTimeoutMs (plus at most 100 ms): a step still running
   * then may go on, but what it returns is dropped (its calls reject with
   * ClosedError) and it runs again after the next open. Open event iterators
   * and SSE streams end.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#metrics?.close();
    for (const id of [...this.#awaiting]) this.#stopAwaiting(id);
    for (const feed of [...this._feeds]) feed.close();
    await Promise.allSettled([...this.#pending]);
    this.#closed = true;
    await this.#native.close();
  }
}
