// The workflow context: what a workflow function calls, over one execution of
// the C ABI. Steps and waits are memoized by the engine; this file only
// marshals values and turns SL_WAIT_PARKED into an unwind of the workflow.
import { call, CancelledError, ERROR_CLASS_CODE, type ErrorClass } from './errors';
import { SL_WAIT_PARKED, SL_WAIT_TIMED_OUT, type NativeExecution } from './native';

/**
 * Thrown by sleep, waitForSignal and invoke when the run must wait: it unwinds
 * the workflow function so the engine can park the run (no thread, no
 * Promise held). Let it pass: do not catch it, or rethrow it if you do.
 */
export class Parked extends Error {
  constructor() {
    super('the run is parked until its wait is satisfied; let this error pass');
  }
  override get name(): string {
    return 'Parked';
  }
}

/** True for the internal error that parks a run. */
export function isParked(e: unknown): boolean {
  return e instanceof Parked;
}

/** Passed to a step function. */
export interface StepInfo {
  /** Stable across executions of this run (`run_id:step_seq`): pass it to external APIs. */
  idempotencyKey: string;
  /** Fires when the run is cancelled or the engine is closing. */
  signal: AbortSignal;
}

export interface WaitForSignalOptions {
  /** Milliseconds from the first call; omitted or negative waits forever. */
  timeout?: number;
}

type Json = unknown;

function toJson(what: string, value: unknown): string {
  const text = JSON.stringify(value === undefined ? null : value);
  if (text === undefined) throw new TypeError(`${what} is not JSON-serializable`);
  return text;
}

function parse(text: string | undefined): Json {
  return text === undefined || text === '' ? undefined : JSON.parse(text);
}

/**
 * How a step failure is classified: `errorClass` on the thrown error, else
 * retryable, so the workflow's retry policy applies (by default one attempt,
 * no retry). Throw an error with `errorClass: 'fatal'` to fail at once.
 */
function classOf(e: unknown): number {
  const k = (e as { errorClass?: unknown } | null)?.errorClass;
  return typeof k === 'string' && k in ERROR_CLASS_CODE ? ERROR_CLASS_CODE[k as ErrorClass] : ERROR_CLASS_CODE.retryable;
}

/** "Name: message" of anything thrown. */
export function describe(e: unknown): string {
  if (e instanceof Error) return `${e.name}: ${e.message}`;
  return `Error: ${String(e)}`;
}

const CANCEL_POLL_MS = 25;

/** The context of one execution of a run. Valid only while the workflow function runs. */
export class Context {
  /** The run being executed. */
  readonly runId: string;
  /** The workflow's registered name. */
  readonly workflow: string;
  readonly #execution: NativeExecution;
  readonly #abort = new AbortController();
  #finished = false;

  /** @internal */
  constructor(execution: NativeExecution) {
    this.#execution = execution;
    this.runId = call(() => execution.runId());
    this.workflow = call(() => execution.workflow());
  }

  /** Aborts once the run is cancelled or the engine is closing. */
  get signal(): AbortSignal {
    this.#poll();
    return this.#abort.signal;
  }

  /** @internal */
  _finish(): void {
    this.#finished = true;
  }

  #poll(): void {
    if (this.#finished || this.#abort.signal.aborted) return;
    if (this.#execution.cancelled()) {
      this.#abort.abort(new CancelledError(`run '${this.runId}' was cancelled, or its engine is closing`, 'cancelled', 'fatal'));
    }
  }

  #enter(what: string): void {
    if (this.#finished) throw new Error(`ctx.${what}() called after the workflow function returned`);
    this.#poll();
  }

  /**
   * A memoized step: the first execution runs `fn` and stores its result
   * (JSON); later executions of the run return the stored result without
   * calling `fn`. A throw records the step as failed with the error's name and
   * message, then propagates (the run fails).
   */
  async step<T = Json>(name: string, fn: (info: StepInfo) => T | Promise<T>): Promise<T> {
    this.#enter('step');
    const begin = call(() => this.#execution.stepBegin(name));
    if (begin.memoized) return parse(begin.result) as T;
    const timer = setInterval(() => this.#poll(), CANCEL_POLL_MS);
    timer.unref();
    let value: T;
    try {
      value = await fn({ idempotencyKey: `${this.runId}:${begin.seq}`, signal: this.#abort.signal });
    } catch (e) {
      if (!this.#finished) call(() => this.#execution.stepFail(begin.seq, classOf(e), describe(e)));
      throw e;
    } finally {
      clearInterval(timer);
    }
    const text = toJson(`the result of step '${name}'`, value);
    call(() => this.#execution.stepComplete(begin.seq, text));
    // The same value a replay would return.
    return JSON.parse(text) as T;
  }

  /** Durable sleep of `ms` counted from the first call; parks the run until then. */
  async sleep(name: string, ms: number): Promise<void> {
    this.#enter('sleep');
    const state = call(() => this.#execution.sleep(name, Math.max(0, Math.round(ms))));
    if (state === SL_WAIT_PARKED) throw new Parked();
  }

  /**
   * Waits for a signal sent with engine.signal(runId, name, payload) (before
   * or after this call) and returns its payload; returns undefined when the
   * timeout passed first. Parks the run while it waits.
   */
  async waitForSignal<T = Json>(name: string, options: WaitForSignalOptions = {}): Promise<T | undefined> {
    this.#enter('waitForSignal');
    const timeout = options.timeout === undefined ? -1 : Math.round(options.timeout);
    const r = call(() => this.#execution.waitForSignal(name, timeout));
    if (r.state === SL_WAIT_PARKED) throw new Parked();
    if (r.state === SL_WAIT_TIMED_OUT) return undefined;
    return parse(r.payload) as T;
  }

  /** Runs `workflow` on `input` as a child run, once, and returns its output. */
  async invoke<T = Json>(name: string, workflow: string, input: object = {}): Promise<T> {
    this.#enter('invoke');
    const text = toJson(`the input of child '${name}'`, input);
    const r = call(() => this.#execution.invoke(name, workflow, text));
    if (r.state === SL_WAIT_PARKED) throw new Parked();
    return parse(r.output) as T;
  }

  /** Sets the run's progress (any JSON). Skipped while replaying stored steps. */
  progress(value: unknown): void {
    this.#enter('progress');
    const text = toJson('progress', value);
    call(() => this.#execution.progress(text));
  }

  /** Stores a new version of the artifact `key` (skipped when identical to the latest). */
  artifact(key: string, value: unknown): void {
    this.#enter('artifact');
    const text = toJson(`artifact '${key}'`, value);
    call(() => this.#execution.artifact(key, text));
  }

  /** A custom event; run.*, step.*, chunk, progress and artifact are reserved. */
  emit(type: string, data: unknown = {}): void {
    this.#enter('emit');
    const text = toJson(`event '${type}'`, data);
    call(() => this.#execution.emit(type, text));
  }

  /** Token text of `stream`: delivered live at once, persisted coalesced. */
  chunk(stream: string, text: string): void {
    this.#enter('chunk');
    call(() => this.#execution.chunk(stream, String(text)));
  }
}
