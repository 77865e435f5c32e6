// Engine: one open store plus its threads, as a Promise-based API. Blocking
// C calls run off the JS thread (the addon's AsyncWorker); executions and
// events arrive on the JS thread through thread-safe functions.
import { Context, describe, isParked } from './context';
import { callAsync, call, ERROR_CLASS_CODE, errorFor, type ErrorClass, InvalidArgumentError, translate } from './errors';
import {
  native,
  SL_EVENT_CURSOR,
  SL_EVENT_STORED,
  SL_EVENT_TRANSIENT,
  type NativeEngine,
  type NativeEvent,
  type NativeExecution,
  type NativeRetryOptions,
  type NativeSubscription,
} from './native';

export type RunStatus = 'queued' | 'running' | 'sleeping' | 'waiting' | 'completed' | 'failed' | 'cancelled';

export interface RunError {
  code: string;
  class: string;
  message: string;
  step: string;
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
  value: T;
  createdAtMs: number;
}

export interface Snapshot {
  run: Run;
  steps: Step[];
  /** The latest version of each key. */
  artifacts: Artifact[];
  /** Subscribe after this id to continue live. */
  lastEventId: number;
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
  /** "sqlite:PATH", a PATH, or ":memory:" (the default). */
  store?: string;
  /** Engine threads handing executions to JS [4]. */
  workers?: number;
  maxExecutions?: number;
  maxPayloadBytes?: number;
  pollIntervalMs?: number;
  leaseTtlMs?: number;
  drainTimeoutMs?: number;
  /** Errors with no caller to receive them (a finish call that failed). Default: process.emitWarning. */
  onError?: (error: unknown) => void;
}

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
}

/** Per-workflow options; concurrency and throttles will arrive here. */
export interface WorkflowOptions {
  retry?: RetryOptions;
}

/** sl_workflow_options.max_attempts is a C int. */
const MAX_ATTEMPTS_LIMIT = 2147483647;

const RETRY_INTEGER_FIELDS = ['maxAttempts', 'initialBackoffMs', 'maxBackoffMs'] as const;

/** Checks shapes and types (the engine checks ranges and names the field). */
function retryOptions(workflow: string, options: WorkflowOptions): NativeRetryOptions {
  const where = `workflow '${workflow}'`;
  if (options === null || typeof options !== 'object') {
    throw new InvalidArgumentError(`${where}: options must be an object`, 'invalid_argument', 'fatal');
  }
  for (const key of Object.keys(options)) {
    if (key !== 'retry') throw new InvalidArgumentError(`${where}: unknown option '${key}' (known: retry)`, 'invalid_argument', 'fatal');
  }
  const retry = options.retry;
  if (retry === undefined) return {};
  if (retry === null || typeof retry !== 'object') {
    throw new InvalidArgumentError(`${where}: retry must be an object, got ${JSON.stringify(retry)}`, 'invalid_argument', 'fatal');
  }
  const known = [...RETRY_INTEGER_FIELDS, 'multiplier', 'jitter'];
  for (const key of Object.keys(retry)) {
    if (!known.includes(key)) {
      throw new InvalidArgumentError(`${where}: unknown retry option '${key}' (known: ${known.join(', ')})`, 'invalid_argument', 'fatal');
    }
  }
  for (const key of RETRY_INTEGER_FIELDS) {
    const v = retry[key];
    if (v !== undefined && !Number.isSafeInteger(v)) {
      throw new InvalidArgumentError(`${where}: retry.${key} must be an integer, got ${JSON.stringify(v)}`, 'invalid_argument', 'fatal');
    }
    if (key === 'maxAttempts' && v !== undefined && v > MAX_ATTEMPTS_LIMIT) {
      throw new InvalidArgumentError(`${where}: retry.maxAttempts must be at most ${MAX_ATTEMPTS_LIMIT}, got ${v}`, 'invalid_argument', 'fatal');
    }
  }
  if (retry.multiplier !== undefined && (typeof retry.multiplier !== 'number' || !Number.isFinite(retry.multiplier))) {
    throw new InvalidArgumentError(`${where}: retry.multiplier must be a finite number, got ${JSON.stringify(retry.multiplier)}`, 'invalid_argument', 'fatal');
  }
  if (retry.jitter !== undefined && typeof retry.jitter !== 'boolean') {
    throw new InvalidArgumentError(`${where}: retry.jitter must be a boolean, got ${JSON.stringify(retry.jitter)}`, 'invalid_argument', 'fatal');
  }
  return { ...retry };
}

export type WorkflowFunction<Input = any, Output = unknown> = (ctx: Context, input: Input) => Output | Promise<Output>;

export interface StartOptions {
  /** Same key: the existing run is returned. */
  idempotencyKey?: string;
  owner?: string;
  /** Higher runs first. */
  priority?: number;
}

export interface ListOptions {
  status?: RunStatus;
  workflow?: string;
  owner?: string;
  /** 1..1000 [100]. */
  limit?: number;
  /** nextCursor of the previous page. */
  after?: string;
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

const TERMINAL_EVENTS = new Set(['run.completed', 'run.failed', 'run.cancelled']);
const TERMINAL_STATUS = new Set(['completed', 'failed', 'cancelled']);

/* eslint-disable @typescript-eslint/no-explicit-any */
function toRun(r: any): Run {
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
  };
}

function toArtifact(a: any): Artifact {
  return { key: a.key, version: a.version, value: a.value, createdAtMs: a.created_at_ms };
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
 * has finished: on its run.completed/failed/cancelled event, or at once when
 * it had finished before `after`.
 */
class Feed {
  #sub: NativeSubscription | undefined;
  #lastId: number;
  #endAt: number | undefined;
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
        if (this.#closed || !TERMINAL_STATUS.has(s.run.status)) return;
        this.#endAt = s.lastEventId;
        if (this.#lastId >= this.#endAt) this.close();
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
    if (TERMINAL_EVENTS.has(e.type) || (this.#endAt !== undefined && this.#lastId >= this.#endAt)) this.close();
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

  /** Opens (creating if needed) the store and starts the engine; runs left by a dead process resume. */
  static async open(options: OpenOptions = {}): Promise<Engine> {
    const { onError, ...rest } = options;
    const n = await callAsync(() => native().open({ ...rest, store: rest.store ?? ':memory:' }));
    return new Engine(
      n,
      onError ??
        ((e) => process.emitWarning(e instanceof Error ? e : new Error(String(e)), { code: 'STORYLOOM_UNREPORTED' })),
    );
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
    const retry = retryOptions(name, typeof a === 'function' ? {} : a);
    try {
      call(() => this._native().registerWorkflow(name, retry, (execution) => void this.#execute(execution, fn)));
    } catch (e) {
      // The engine's range errors ("max_attempts must be at least 1") do not say which workflow.
      if (e instanceof InvalidArgumentError && !e.message.includes(`'${name}'`)) {
        throw new InvalidArgumentError(`workflow '${name}': ${e.message}`, e.code, e.errorClass);
      }
      throw e;
    }
    this.#registered.add(name);
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

  async #recheckEach(): Promise<void> {
    for (const id of [...this.#awaiting]) {
      if (this.#inJs.has(id)) continue; // its execution holds the loop
      let status: string;
      try {
        status = (await this.get(id)).status;
      } catch {
        status = 'gone';
      }
      if (status !== 'queued' && status !== 'running') this.#stopAwaiting(id);
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
      const text = JSON.stringify(output === undefined ? null : output);
      call(() => execution.finishCompleted(text ?? 'null'));
    } catch (e) {
      ctx?._finish();
      try {
        if (isParked(e)) {
          call(() => execution.finishParked());
        } else {
          const k = (e as { errorClass?: unknown } | null)?.errorClass;
          const cls = typeof k === 'string' && k in ERROR_CLASS_CODE ? ERROR_CLASS_CODE[k as ErrorClass] : ERROR_CLASS_CODE.fatal;
          call(() => execution.finishFailed(cls, describe(e)));
        }
      } catch (finishError) {
        this.#onError(finishError);
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
    const json = await this.#track(() =>
      this.#native.start(workflow, text ?? '', options.idempotencyKey ?? '', options.owner ?? '', options.priority ?? 0),
    );
    const run = toRun(JSON.parse(json));
    this.#holdUntilExecuted(run);
    return run;
  }

  /** The run. NotFoundError when there is none. */
  async get(runId: string): Promise<Run> {
    return toRun(JSON.parse(await this.#track(() => this.#native.getRun(runId))));
  }

  /** A page of runs, oldest first; `status: 'failed'` is the dead-letter view. */
  async list(options: ListOptions = {}): Promise<RunPage> {
    const json = await this.#track(() =>
      this.#native.listRuns(options.status ?? '', options.workflow ?? '', options.owner ?? '', options.limit ?? 0, options.after ?? ''),
    );
    const page = JSON.parse(json);
    return { runs: page.runs.map(toRun), nextCursor: page.next_cursor };
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
      lastEventId: s.last_event_id,
    };
  }

  /** Every version of every artifact, by key then version. */
  async artifacts(runId: string): Promise<Artifact[]> {
    return JSON.parse(await this.#track(() => this.#native.artifacts(runId))).map(toArtifact);
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
   * Open event iterators and SSE streams end.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    for (const id of [...this.#awaiting]) this.#stopAwaiting(id);
    for (const feed of [...this._feeds]) feed.close();
    await Promise.allSettled([...this.#pending]);
    this.#closed = true;
    await this.#native.close();
  }
}
