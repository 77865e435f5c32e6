// Errors of the engine, one class per code of the C ABI (storyloom.h). The
// message is the engine's own text (sl_last_error_message), unchanged.

export type ErrorCode =
  | 'invalid_argument'
  | 'not_found'
  | 'invalid_state'
  | 'payload_too_large'
  | 'store'
  | 'not_a_database'
  | 'schema_too_new'
  | 'nondeterminism'
  | 'cancelled'
  | 'step_failed'
  | 'closed'
  | 'timeout'
  | 'internal'
  | 'provider'
  | 'quota_exceeded'
  | 'budget_exceeded';

export type ErrorClass = 'retryable' | 'fatal' | 'rate_limited' | 'timeout';

const CODES: ErrorCode[] = [
  'internal', // 0 is SL_OK; never thrown
  'invalid_argument',
  'not_found',
  'invalid_state',
  'payload_too_large',
  'store',
  'not_a_database',
  'schema_too_new',
  'nondeterminism',
  'cancelled',
  'step_failed',
  'closed',
  'timeout',
  'internal',
  'provider',
  'quota_exceeded',
  'budget_exceeded',
];
const CLASSES: ErrorClass[] = ['retryable', 'fatal', 'rate_limited', 'timeout'];

/** Any failure reported by the engine. `code` names what went wrong. */
export class StoryloomError extends Error {
  readonly code: ErrorCode;
  /** How a retry policy treats it. */
  readonly errorClass: ErrorClass;
  /**
   * A step's error raised again on replay: the name of the error the step
   * first threw (e.g. 'TypeError', 'PaymentDeclined') and its stack; '' else.
   */
  originType = '';
  originStack = '';
  constructor(message: string, code: ErrorCode = 'internal', errorClass: ErrorClass = 'fatal') {
    super(message);
    this.code = code;
    this.errorClass = errorClass;
  }
  override get name(): string {
    return this.constructor.name;
  }
}

export class InvalidArgumentError extends StoryloomError {}
export class NotFoundError extends StoryloomError {}
export class InvalidStateError extends StoryloomError {}
export class PayloadTooLargeError extends StoryloomError {}
export class StoreError extends StoryloomError {}
export class NotADatabaseError extends StoryloomError {}
export class SchemaTooNewError extends StoryloomError {}
export class NondeterminismError extends StoryloomError {}
export class CancelledError extends StoryloomError {}
export class StepFailedError extends StoryloomError {}
export class ClosedError extends StoryloomError {}
export class TimeoutError extends StoryloomError {}
export class InternalError extends StoryloomError {}
/** An LLM provider refused or failed a request (401, 400, 429 after the last attempt, a broken stream). */
export class ProviderError extends StoryloomError {}
/** The provider account is out of quota or credit (OpenAI insufficient_quota, Anthropic billing, OpenRouter 402, Gemini quota); never retried. */
export class QuotaExceededError extends StoryloomError {}
/** The run's LLM budget (StartOptions.budget) is spent: the llm step made no request; never retried. */
export class BudgetExceededError extends StoryloomError {}

const BY_CODE: Record<ErrorCode, new (m: string, c: ErrorCode, k: ErrorClass) => StoryloomError> = {
  invalid_argument: InvalidArgumentError,
  not_found: NotFoundError,
  invalid_state: InvalidStateError,
  payload_too_large: PayloadTooLargeError,
  store: StoreError,
  not_a_database: NotADatabaseError,
  schema_too_new: SchemaTooNewError,
  nondeterminism: NondeterminismError,
  cancelled: CancelledError,
  step_failed: StepFailedError,
  closed: ClosedError,
  timeout: TimeoutError,
  internal: InternalError,
  provider: ProviderError,
  quota_exceeded: QuotaExceededError,
  budget_exceeded: BudgetExceededError,
};

/** Builds the error for a code, e.g. from a run's stored `error.code`. */
export function errorFor(code: string, message: string, errorClass: string = 'fatal'): StoryloomError {
  const c = (code in BY_CODE ? code : 'internal') as ErrorCode;
  const k = (CLASSES.includes(errorClass as ErrorClass) ? errorClass : 'fatal') as ErrorClass;
  return new BY_CODE[c](message, c, k);
}

/** The error code and class named by their C values (SL_E*, SL_CLASS_*). */
export function errorFromNative(code: number, errorClass: number, message: string): StoryloomError {
  return errorFor(CODES[code] ?? 'internal', message, CLASSES[errorClass] ?? 'fatal');
}

/** Turns an error thrown by the addon (carrying slCode/slClass) into a StoryloomError. */
export function translate(e: unknown): unknown {
  if (e instanceof Error && typeof (e as { slCode?: unknown }).slCode === 'number') {
    const raw = e as Error & { slCode: number; slClass: number; slOriginType?: string; slOriginTrace?: string };
    const error = errorFromNative(raw.slCode, raw.slClass, raw.message);
    error.originType = raw.slOriginType ?? '';
    error.originStack = raw.slOriginTrace ?? '';
    return error;
  }
  return e;
}

/** Calls into the addon, translating its errors. */
export function call<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw translate(e);
  }
}

/** Awaits a Promise of the addon, translating its errors. */
export async function callAsync<T>(p: () => Promise<T>): Promise<T> {
  try {
    return await p();
  } catch (e) {
    throw translate(e);
  }
}

export const ERROR_CLASS_CODE: Record<ErrorClass, number> = { retryable: 0, fatal: 1, rate_limited: 2, timeout: 3 };

/** A stored run error: what `Run.error` holds for a failed run. */
export interface StoredRunError {
  code: string;
  class: string;
  message: string;
  step: string;
  /** Where the error came from, when a host said: its class name and stack. */
  origin?: { type: string; trace?: string };
}

/**
 * Thrown by `engine.result()` for a run that failed: `runId`, `step` (the step
 * whose error escaped the workflow, '' if none), `originType` (the name of the
 * error the workflow or step threw, e.g. 'TypeError'; the engine's error code
 * when the engine failed the run), `message` as stored and `originStack` (the
 * JS stack, '' when the error did not come from JS code). Read back from the
 * store, so another process gets the same. Its `stack` ends with the origin's.
 */
export class WorkflowFailedError extends StoryloomError {
  readonly runId: string;
  readonly step: string;
  readonly error: StoredRunError;
  constructor(runId: string, error: StoredRunError) {
    const where = error.step ? ` in step '${error.step}'` : '';
    super(`run '${runId}' failed${where}: ${error.message}`, 'step_failed', CLASSES.includes(error.class as ErrorClass) ? (error.class as ErrorClass) : 'fatal');
    this.runId = runId;
    this.step = error.step ?? '';
    this.error = error;
    this.originType = error.origin?.type ?? error.code ?? '';
    this.originStack = error.origin?.trace ?? '';
    if (this.originStack) this.stack = `${this.stack}\nThe workflow's error: ${this.originStack}`;
  }
}
