// The addon's surface (src/), typed. Internal: use Engine instead.
import * as path from 'node:path';

export interface NativeExecution {
  runId(): string;
  workflow(): string;
  input(): string;
  cancelled(): boolean;
  /** retryJson: the step's own policy (storyloom.h retry_json; '' or absent: none). */
  stepBegin(name: string, retryJson?: string): { seq: number; memoized: boolean; result?: string };
  stepComplete(seq: number, json: string): void;
  /** Settles once everything the execution wrote so far is committed; rejects with the error that lost a write. */
  whenDurable(): Promise<void>;
  stepFail(seq: number, errorClass: number, message: string, type?: string, trace?: string): void;
  stepRateLimited(seq: number, retryAfterMs: number, message: string): void;
  /** As llm(): the outcome when admitted at once, else undefined and onOutcome is called once later. */
  acquire(seq: number, resource: string, tokens: number, onOutcome: (outcome: NativeLlmOutcome) => void): NativeLlmOutcome | undefined;
  heartbeat(seq: number): void;
  /** The outcome when already known (memoized), else undefined and onOutcome is called once later. */
  llm(name: string, requestJson: string, onOutcome: (outcome: NativeLlmOutcome) => void, retryJson?: string): NativeLlmOutcome | undefined;
  /** As llm(); the outcome has the same fields (sl_http_outcome). */
  http(name: string, requestJson: string, retryJson: string, onOutcome: (outcome: NativeLlmOutcome) => void): NativeLlmOutcome | undefined;
  image(name: string, requestJson: string, retryJson: string, onOutcome: (outcome: NativeLlmOutcome) => void): NativeLlmOutcome | undefined;
  sleep(name: string, ms: number): number;
  waitForSignal(name: string, timeoutMs: number): { state: number; payload?: string };
  invoke(name: string, workflow: string, inputJson: string): { state: number; output?: string };
  progress(json: string): void;
  artifact(key: string, json: string): void;
  binaryArtifact(key: string, contentType: string, bytes: Uint8Array): void;
  emit(type: string, json: string): void;
  chunk(stream: string, text: string): void;
  finishCompleted(json: string): void;
  finishFailed(errorClass: number, message: string, type?: string, trace?: string): void;
  finishParked(): void;
}

/** sl_llm_outcome. */
export interface NativeLlmOutcome {
  /** SL_OK (0) or an SL_E* code. */
  status: number;
  errorClass: number;
  message: string;
  /** The result JSON on success. */
  result?: string;
  memoized: boolean;
  willRetry: boolean;
}

export interface NativeEvent {
  id: number;
  kind: number;
  runId: string;
  type: string;
  data: string;
  createdAtMs: number;
  sse?: string;
}

export interface NativeSubscription {
  close(): void;
}

/** sl_workflow_options (version 2); absent fields keep the engine's defaults. */
export interface NativeWorkflowOptions {
  maxAttempts?: number;
  initialBackoffMs?: number;
  multiplier?: number;
  maxBackoffMs?: number;
  jitter?: boolean;
  stepTimeoutMs?: number;
  maxRunning?: number;
  concurrencyKey?: string;
  concurrencyLimit?: number;
  throttleKey?: string;
  throttleLimit?: number;
  throttlePeriodMs?: number;
  runTimeoutMs?: number;
}

/** sl_list_options (version 2); "" and 0 do not filter. */
export interface NativeRunFilter {
  status: string;
  workflow: string;
  owner: string;
  /** SL_CLASS_*; absent: any. */
  errorClass?: number;
  finishedAfterMs: number;
  finishedBeforeMs: number;
  limit?: number;
  after?: string;
}

export interface NativeEngine {
  registerWorkflow(name: string, options: NativeWorkflowOptions, dispatch: (execution: NativeExecution) => void): void;
  launch(): void;
  start(
    workflow: string,
    inputJson: string,
    key: string,
    owner: string,
    priority: number,
    budgetLlmCalls: number,
    budgetLlmTokens: number,
    /** sl_start_options.trace_parent; '' for none. */
    traceParent?: string,
  ): Promise<string>;
  /** sl_engine_set_lifecycle: each report's JSON to onReport on the JS thread (once per engine). */
  setLifecycle(onReport: (reportJson: string) => void): void;
  /** sl_engine_start_many: a JSON array of requests in, a JSON array of {run} | {error} out. */
  startMany(requestsJson: string): Promise<string>;
  /** sl_engine_signal_many: a JSON array of {run_id, name, payload} in, a JSON array of {ok} | {error} out. */
  signalMany(signalsJson: string): Promise<string>;
  getRun(id: string): Promise<string>;
  listRuns(filter: NativeRunFilter): Promise<string>;
  /** The count as text. */
  retryFailed(filter: NativeRunFilter): Promise<string>;
  /** A JSON array of run ids. */
  cancelMany(filter: NativeRunFilter): Promise<string>;
  setPriority(id: string, priority: number): Promise<void>;
  rewind(id: string, step: string): Promise<void>;
  configureResource(name: string, limitsJson: string): Promise<void>;
  resourceStatus(name: string): Promise<string>;
  llmProviders(): Promise<string>;
  /** sl_engine_configure_webhooks */
  configureWebhooks(optionsJson: string): Promise<void>;
  /** sl_engine_webhook_log: a JSON array of deliveries. */
  webhookLog(subscription: string, limit: number): Promise<string>;
  /** sl_engine_receive_webhook: {status, message, run, duplicate}. */
  receiveWebhook(hookJson: string, headersJson: string, body: string): Promise<string>;
  deleteRun(id: string): Promise<void>;
  cancel(id: string): Promise<void>;
  signal(id: string, name: string, payloadJson: string): Promise<void>;
  retry(id: string): Promise<void>;
  snapshot(id: string): Promise<string>;
  artifacts(id: string): Promise<string>;
  artifactBytes(id: string, key: string, version: number): Promise<Buffer>;
  exportBook(id: string, format: string, path: string): Promise<void>;
  events(id: string, after: number, limit: number): Promise<string>;
  subscribe(id: string, after: number, sse: boolean, onEvent: (e: NativeEvent) => void): NativeSubscription;
  close(): Promise<void>;
}

export interface NativeOpenOptions {
  store: string;
  workers?: number;
  maxExecutions?: number;
  maxPayloadBytes?: number;
  pollIntervalMs?: number;
  leaseTtlMs?: number;
  drainTimeoutMs?: number;
  /** SL_DURABILITY_FULL (1) or SL_DURABILITY_NORMAL (2); absent: full. */
  durability?: number;
  /** sl_engine_options.config_json; "" for none. */
  configJson?: string;
}

export interface Native {
  open(options: NativeOpenOptions): Promise<NativeEngine>;
  version(): string;
  sseHeartbeat(): string;
  sseRetry(ms: number): string;
  /** Closes every open engine at once (sl_engine_close_now); for process 'exit'. */
  closeEnginesNow(): void;
  /** sl_email_send on a worker thread: the result JSON. */
  sendEmail(configJson: string, messageJson: string, messageId: string): Promise<string>;
  /** sl_webhook_sign */
  webhookSign(secret: string, webhookId: string, timestampS: number, body: string): string;
  /** sl_webhook_verify: {status, message}. */
  webhookVerify(secret: string, headersJson: string, body: string, nowS: number, toleranceS: number): string;
}

export const SL_WAIT_READY = 0;
export const SL_WAIT_TIMED_OUT = 1;
export const SL_WAIT_PARKED = 2;
export const SL_EVENT_STORED = 0;
export const SL_EVENT_TRANSIENT = 1;
export const SL_EVENT_CURSOR = 2;
export const SL_DURABILITY_FULL = 1;
export const SL_DURABILITY_NORMAL = 2;

let loaded: Native | undefined;

/** Loads build/Release/storyloom.node (built by `npm install`) on first use. */
export function native(): Native {
  if (!loaded) {
    // dist/cjs/native.js -> ../../build/Release
    loaded = require(path.join(__dirname, '..', '..', 'build', 'Release', 'storyloom.node')) as Native;
    // process.exit() goes on to exit(), which runs the C++ static destructors:
    // no engine thread may still be running then. The event loop is over, so
    // executions in JavaScript are not waited for; they resume after the next open.
    const addon = loaded;
    process.on('exit', () => addon.closeEnginesNow());
  }
  return loaded;
}
