// The workflow context: what a workflow function calls, over one execution of
// the C ABI. Steps and waits are memoized by the engine; this file only
// marshals values and turns SL_WAIT_PARKED into an unwind of the workflow.
import { call, callAsync, CancelledError, ERROR_CLASS_CODE, errorFromNative, StoryloomError, type ErrorClass } from './errors';
import { durationMs, objectOf, optionalNumber, optionalString } from './check';
import { llmRequestJson, toLlmResult, type LlmRequest, type LlmResult } from './llm';
import { imageRequestJson, toImageResult, type ImageRequest, type ImageResult } from './image';
import { httpRequestJson, retryJson, stepRetryOptions, toHttpResult, type HttpRequest, type HttpResult, type StepRetryOptions } from './http';
import type { RetryOptions } from './workflow-options';
import { SL_WAIT_PARKED, SL_WAIT_TIMED_OUT, type NativeExecution, type NativeLlmOutcome } from './native';

/**
 * Thrown by sleep, waitForSignal and invoke when the run must wait, and by
 * llm when its failed attempt will be retried: it unwinds the workflow
 * function so the engine can park or requeue the run (no thread, no Promise
 * held). Let it pass: do not catch it, or rethrow it if you do.
 */
export class Parked extends Error {
  constructor(why = 'the run is parked until its wait is satisfied') {
    super(`${why}; let this error pass`);
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
  /** This step is alive: its step timeout (retry.timeoutMs) counts again from now. */
  heartbeat(): void;
}

export interface StepOptions {
  /**
   * A resource (Engine.open's `resources`, engine.configureResource) the step
   * needs: `fn` runs once the resource admits it (waiting holds no thread)
   * and the use is returned when the step ends. An error thrown with
   * `errorClass: 'rate_limited'` and a `retryAfterMs` pauses the resource.
   */
  resource?: string;
  /** LLM tokens the step will use of the resource's budget [0]. */
  tokens?: number;
  /** This step's retry policy, replacing the workflow's; `false`: one attempt, no retries. */
  retry?: RetryOptions | false;
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

/** The checked step options: a resource to use, and its token estimate. */
function stepOptions(name: string, options: StepOptions): { resource?: string; tokens: number; retry: string } {
  const where = `step '${name}' options`;
  const o = objectOf(where, options, ['resource', 'tokens', 'retry']);
  return {
    resource: optionalString(where, o, 'resource'),
    tokens: optionalNumber(where, o, 'tokens') ?? 0,
    retry: retryJson(`step '${name}'`, o.retry),
  };
}

/**
 * The wait a rate-limited failure asks for: `retryAfterMs` on an error with
 * `errorClass: 'rate_limited'`, as a whole number of milliseconds; else undefined.
 */
function retryAfterOf(e: unknown): number | undefined {
  const err = e as { errorClass?: unknown; retryAfterMs?: unknown } | null;
  if (err?.errorClass !== 'rate_limited') return undefined;
  const ms = err.retryAfterMs;
  return typeof ms === 'number' && Number.isFinite(ms) && ms >= 0 ? Math.round(ms) : undefined;
}

function isThenable<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

/** "Name: message" of anything thrown. */
export function describe(e: unknown): string {
  if (e instanceof Error) return `${e.name}: ${e.message}`;
  return `Error: ${String(e)}`;
}

/**
 * [name, stack] stored with a failure: a replayed step error keeps the name
 * and stack of its first throw; a thrown non-Error has no stack.
 */
export function originOf(e: unknown): [string, string] {
  if (e instanceof StoryloomError && e.originType) return [e.originType, e.originStack];
  if (e instanceof Error) return [e.name, e.stack ?? ''];
  return [typeof e, ''];
}

const CANCEL_POLL_MS = 25;

/** The context of one execution of a run. Valid only while the workflow function runs. */
export class Context {
  /** The run being executed. */
  readonly runId: string;
  /** The workflow's registered name. */
  readonly workflow: string;
  readonly #execution: NativeExecution;
  /** Made when first asked for: most executions never look at their signal. */
  #abort: AbortController | undefined;
  /** Why the execution must stop, once it must. */
  #stopped: CancelledError | undefined;
  /** Host steps in progress (their seq), for heartbeat(). */
  readonly #running = new Set<number>();
  #finished = false;
  #stepFailed = false;
  #parkedBy: string | undefined;

  /** @internal */
  constructor(execution: NativeExecution) {
    this.#execution = execution;
    this.runId = call(() => execution.runId());
    this.workflow = call(() => execution.workflow());
  }

  /** Aborts once the run is cancelled, a step timed out (the engine ended the execution) or the engine is closing. */
  get signal(): AbortSignal {
    this.#poll();
    return this.#controller().signal;
  }

  #controller(): AbortController {
    if (!this.#abort) {
      this.#abort = new AbortController();
      if (this.#stopped) this.#abort.abort(this.#stopped);
    }
    return this.#abort;
  }

  /** @internal */
  _finish(): void {
    this.#finished = true;
  }

  /**
   * @internal The message for a workflow function that returned after a wait
   * parked the run (it caught Parked and went on), else undefined.
   */
  _swallowedPark(): string | undefined {
    if (this.#parkedBy === undefined) return undefined;
    return (
      `workflow '${this.workflow}' returned after ctx.${this.#parkedBy}() parked run '${this.runId}': ` +
      "it caught storyloom's internal Parked error (thrown to unwind the workflow until the wait is over); " +
      "rethrow errors you do not handle (an error named 'Parked' above all), or catch around steps only"
    );
  }

  #park(by: string): Parked {
    this.#parkedBy = by;
    return new Parked();
  }

  /** @internal A step of this execution failed (the run may be requeued whatever the finish call). */
  get _stepFailed(): boolean {
    return this.#stepFailed;
  }

  #poll(): void {
    if (this.#finished || this.#stopped) return;
    if (this.#execution.cancelled()) {
      this.#stopped = new CancelledError(
        `run '${this.runId}' was cancelled, a step of it timed out, or its engine is closing`,
        'cancelled',
        'fatal',
      );
      this.#abort?.abort(this.#stopped);
    }
  }

  #enter(what: string): void {
    if (this.#finished) throw new Error(`ctx.${what}() called after the workflow function returned`);
    this.#poll();
  }

  /**
   * A memoized step: the first execution runs `fn` and stores its result
   * (JSON); later executions of the run return the stored result without
   * calling `fn`. The Promise resolves only once the result is committed
   * (durable before visible), or rejects with the engine's StoreError when
   * the commit failed (the run then goes back to the queue). A throw records
   * the step as failed with the error's name and message, then propagates
   * (the run fails).
   */
  async step<T = Json>(name: string, fn: (info: StepInfo) => T | Promise<T>, options: StepOptions = {}): Promise<T> {
    this.#enter('step');
    const use = stepOptions(name, options);
    // stepBegin blocks its thread until every earlier write of the run is
    // committed (an artifact, progress, a chunk since the last step): wait
    // for that here without blocking the event loop.
    await this.#durable();
    const begin = call(() => this.#execution.stepBegin(name, use.retry));
    if (begin.memoized) return parse(begin.result) as T;
    const seq = begin.seq;
    if (use.resource !== undefined) await this.#acquire(seq, use.resource, use.tokens);
    this.#running.add(seq);
    let timer: NodeJS.Timeout | undefined;
    let value: T;
    try {
      const ctx = this;
      const out = fn({
        idempotencyKey: `${this.runId}:${seq}`,
        get signal() {
          return ctx.#controller().signal;
        },
        heartbeat: () => this.#heartbeat(seq),
      });
      if (isThenable(out)) {
        // Only a step that waits can see the run cancelled meanwhile: watch for it.
        timer = setInterval(() => this.#poll(), CANCEL_POLL_MS);
        timer.unref();
        value = await out;
      } else {
        value = out;
      }
    } catch (e) {
      this.#stepFailed = true;
      if (!this.#finished) {
        const wait = retryAfterOf(e);
        if (wait !== undefined) call(() => this.#execution.stepRateLimited(seq, wait, describe(e)));
        else call(() => this.#execution.stepFail(seq, classOf(e), describe(e), ...originOf(e)));
      }
      throw e;
    } finally {
      this.#running.delete(seq);
      if (timer) clearInterval(timer);
    }
    const text = toJson(`the result of step '${name}'`, value);
    call(() => this.#execution.stepComplete(begin.seq, text));
    await this.#durable();
    // The same value a replay would return.
    return JSON.parse(text) as T;
  }

  /**
   * Resolves once everything this execution wrote so far is committed;
   * rejects with the engine's error (StoreError, CancelledError,
   * InvalidStateError) when one of those writes was lost.
   */
  #durable(): Promise<void> {
    return callAsync(() => this.#execution.whenDurable());
  }

  /** Waits, holding no thread, until `resource` admits step `seq`. */
  async #acquire(seq: number, resource: string, tokens: number): Promise<void> {
    const outcome = await new Promise<NativeLlmOutcome>((resolve) => {
      const known = call(() => this.#execution.acquire(seq, resource, tokens, resolve));
      if (known) resolve(known);
    });
    if (outcome.status !== 0) throw errorFromNative(outcome.status, outcome.errorClass, outcome.message);
  }

  #heartbeat(seq: number): void {
    if (this.#finished || !this.#running.has(seq)) return;
    call(() => this.#execution.heartbeat(seq));
  }

  /**
   * Every host step in progress is alive: their step timeouts
   * (retry.timeoutMs) count again from now. Call it from long steps, e.g.
   * per item of a batch. (llm steps cannot be heartbeated: the C ABI does not
   * hand out their position.)
   */
  heartbeat(): void {
    this.#enter('heartbeat');
    for (const seq of this.#running) call(() => this.#execution.heartbeat(seq));
  }

  /**
   * The built-in llm step `name`: a chat completion run by the engine (no JS
   * on the hot path), memoized like a step. A new attempt waits for its
   * provider's resource (llm.waiting event), records llm.attempt, and streams
   * the text as chunk events of `streamName` (default: the step's name). A
   * failure the workflow's retry policy retries unwinds the workflow (Parked)
   * and the run is requeued; a final one rejects with ProviderError (the
   * provider refused or failed), TimeoutError, ..., the engine's message
   * intact. Cancelling the run stops the transfer; the Promise then rejects
   * with CancelledError.
   */
  async llm(name: string, request: LlmRequest, options: StepRetryOptions = {}): Promise<LlmResult> {
    this.#enter('llm');
    const json = llmRequestJson(`llm step '${name}'`, request);
    const retry = stepRetryOptions(`llm step '${name}'`, options);
    const outcome = await new Promise<NativeLlmOutcome>((resolve) => {
      const known = call(() => this.#execution.llm(name, json, resolve, retry));
      if (known) resolve(known);
    });
    if (outcome.status === 0 && outcome.result !== undefined) return toLlmResult(JSON.parse(outcome.result));
    this.#stepFailed = true;
    if (outcome.willRetry) throw new Parked(`llm step '${name}' failed and will be retried (${outcome.message})`);
    throw errorFromNative(outcome.status, outcome.errorClass, outcome.message);
  }

  /**
   * The built-in http step `name`: one HTTP request sent by the engine,
   * memoized like a step (a replay, also after a crash, returns the stored
   * response without sending it again). Each attempt carries an
   * Idempotency-Key header (`runId:seq`, the same on every retry). Secret
   * headers (marked, or Authorization, Cookie, X-Api-Key, ...) are never
   * stored. A 2xx/3xx answer resolves; 408/409/425/429/5xx and broken
   * connections are retried per `options.retry` (else the workflow's policy)
   * by unwinding the workflow (Parked); other 4xx reject with
   * StepFailedError naming the status. Cancelling the run stops the transfer
   * (CancelledError).
   */
  async http(name: string, request: HttpRequest, options: StepRetryOptions = {}): Promise<HttpResult> {
    this.#enter('http');
    const json = httpRequestJson(`http step '${name}'`, request);
    const retry = stepRetryOptions(`http step '${name}'`, options);
    const outcome = await new Promise<NativeLlmOutcome>((resolve) => {
      const known = call(() => this.#execution.http(name, json, retry, resolve));
      if (known) resolve(known);
    });
    if (outcome.status === 0 && outcome.result !== undefined) return toHttpResult(JSON.parse(outcome.result));
    this.#stepFailed = true;
    if (outcome.willRetry) throw new Parked(`http step '${name}' failed and will be retried (${outcome.message})`);
    throw errorFromNative(outcome.status, outcome.errorClass, outcome.message);
  }

  /**
   * The built-in image step `name`: one picture from the engine's image
   * provider (an OpenAI-compatible images API, or offline: a labelled
   * placeholder), memoized like a step. The picture is stored as the binary
   * artifact `request.artifact` (else `name`) in the same commit as the
   * result, which names its version: read it with engine.artifactBytes.
   * 429 (its Retry-After), 5xx, timeouts and malformed answers are retried
   * per `options.retry` (else the workflow's policy, else 3 attempts) by
   * unwinding the workflow (Parked); 400/401/403 reject with
   * StepFailedError. Cancelling the run stops the transfer (CancelledError).
   */
  async image(name: string, request: ImageRequest, options: StepRetryOptions = {}): Promise<ImageResult> {
    this.#enter('image');
    const json = imageRequestJson(`image step '${name}'`, request);
    const retry = stepRetryOptions(`image step '${name}'`, options);
    const outcome = await new Promise<NativeLlmOutcome>((resolve) => {
      const known = call(() => this.#execution.image(name, json, retry, resolve));
      if (known) resolve(known);
    });
    if (outcome.status === 0 && outcome.result !== undefined) return toImageResult(JSON.parse(outcome.result));
    this.#stepFailed = true;
    if (outcome.willRetry) throw new Parked(`image step '${name}' failed and will be retried (${outcome.message})`);
    throw errorFromNative(outcome.status, outcome.errorClass, outcome.message);
  }

  /** Durable sleep of `ms` counted from the first call; parks the run until then. */
  async sleep(name: string, ms: number): Promise<void> {
    this.#enter('sleep');
    const state = call(() => this.#execution.sleep(name, Math.max(0, durationMs(`ctx.sleep '${name}': ms`, ms))));
    if (state === SL_WAIT_PARKED) throw this.#park('sleep');
  }

  /**
   * Waits for a signal sent with engine.signal(runId, name, payload) (before
   * or after this call) and returns its payload; returns undefined when the
   * timeout passed first (once that outcome is committed). Parks the run
   * while it waits.
   */
  async waitForSignal<T = Json>(name: string, options: WaitForSignalOptions = {}): Promise<T | undefined> {
    this.#enter('waitForSignal');
    const timeout =
      options.timeout === undefined ? -1 : durationMs(`ctx.waitForSignal '${name}': timeout`, options.timeout);
    const r = call(() => this.#execution.waitForSignal(name, timeout));
    if (r.state === SL_WAIT_PARKED) throw this.#park('waitForSignal');
    // The wait's outcome is a write of this run: returned only once committed.
    await this.#durable();
    if (r.state === SL_WAIT_TIMED_OUT) return undefined;
    return parse(r.payload) as T;
  }

  /** Runs `workflow` on `input` as a child run, once, and returns its output (once committed). */
  async invoke<T = Json>(name: string, workflow: string, input: object = {}): Promise<T> {
    this.#enter('invoke');
    const text = toJson(`the input of child '${name}'`, input);
    const r = call(() => this.#execution.invoke(name, workflow, text));
    if (r.state === SL_WAIT_PARKED) throw this.#park('invoke');
    await this.#durable();
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

  /**
   * Stores a new version of the binary artifact `key` (a picture): bytes with
   * a media type such as "image/png". Its value becomes {content_type, size,
   * sha256}. Skipped while replaying; the engine's max_artifact_bytes caps it.
   */
  binaryArtifact(key: string, contentType: string, bytes: Uint8Array): void {
    this.#enter('binaryArtifact');
    call(() => this.#execution.binaryArtifact(key, contentType, bytes));
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
