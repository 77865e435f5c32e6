// Webhooks: signed deliveries of run events to subscribed URLs (outbound),
// and checks of signed webhooks other systems send in (inbound), following
// Standard Webhooks. The work is done by the engine (C ABI); this file only
// translates names and types.
import { invalid } from './check';
import { call, callAsync } from './errors';
import { native, type NativeEngine } from './native';
import type { Run } from './engine';

/** One outbound subscription. The secret stays in memory: pass it at every open. */
export interface WebhookSubscription {
  /** 1-64 of [A-Za-z0-9_.-]; names the delivery log. */
  id: string;
  /** http:// or https:// */
  url: string;
  /** "whsec_<base64>" or the key as text; at least 16 bytes. */
  secret: string;
  /** Runs of these workflows only; absent: every workflow. */
  workflows?: string[];
  /** Event types ("run.completed", "run.failed", "run.cancelled", "run.waiting", "progress", custom, "*"); absent: the three run endings. */
  events?: string[];
}

export interface WebhookOptions {
  subscriptions: WebhookSubscription[];
  /** Attempts per delivery before it is dead (default 8). */
  maxAttempts?: number;
  initialBackoffMs?: number;
  multiplier?: number;
  maxBackoffMs?: number;
  /** One attempt may take this long (default 15000). */
  attemptTimeoutMs?: number;
}

export interface WebhookAttempt {
  atMs: number;
  /** The receiver's HTTP status; 0 when none came back. */
  status: number;
  latencyMs: number;
  /** Why it failed; null when acknowledged. */
  error: string | null;
}

export interface WebhookDelivery {
  webhookId: string;
  /** The delivery's run: engine.retry(runId) re-sends it. */
  runId: string;
  subscription: string;
  eventType: string;
  eventId: number;
  sourceRunId: string;
  state: 'pending' | 'delivered' | 'dead' | 'cancelled';
  createdAtMs: number;
  attempts: WebhookAttempt[];
}

/** What an authentic inbound webhook does: start `workflow`, or signal `signalRunId`. */
export interface InboundWebhookOptions {
  secret: string;
  /** Accepted clock difference either side, in seconds (default 300). */
  toleranceS?: number;
  workflow?: string;
  owner?: string;
  signalRunId?: string;
  signalName?: string;
}

/** The request headers: a Headers object (fetch, Next.js) or a plain object. */
export type WebhookHeaders = { get(name: string): string | null } | Record<string, string | string[] | undefined>;

export interface WebhookVerdict {
  /** 200 authentic and fresh; 400 a header missing or malformed, or a stale timestamp; 401 no signature matches. */
  status: 200 | 400 | 401;
  message: string;
}

export interface InboundResult extends WebhookVerdict {
  /** The run started or signalled; null when refused. */
  run: Run | null;
  /** The webhook id was seen before: nothing new was started or sent. */
  duplicate: boolean;
}

const HEADER_NAMES = ['webhook-id', 'webhook-timestamp', 'webhook-signature'];

function headersJson(headers: WebhookHeaders): string {
  const out: Record<string, string> = {};
  const get = (headers as { get?: unknown }).get;
  for (const name of HEADER_NAMES) {
    let value: unknown;
    if (typeof get === 'function') {
      value = (headers as { get(n: string): string | null }).get(name);
    } else {
      const record = headers as Record<string, unknown>;
      const key = Object.keys(record).find((k) => k.toLowerCase() === name);
      value = key === undefined ? undefined : record[key];
      if (Array.isArray(value)) value = value[0];
    }
    if (typeof value === 'string') out[name] = value;
  }
  return JSON.stringify(out);
}

function bodyText(body: string | Uint8Array): string {
  if (typeof body === 'string') return body;
  if (body instanceof Uint8Array) return Buffer.from(body).toString('utf8');
  throw new TypeError('webhook body must be a string or a Uint8Array (the raw request body)');
}

/** "v1,<base64 HMAC-SHA256 of id.timestamp.body>". */
export function signWebhook(secret: string, webhookId: string, timestampS: number, body: string): string {
  return call(() => native().webhookSign(secret, webhookId, timestampS, body));
}

/** Checks the signature (constant-time) and that the timestamp is within the window of now. */
export function verifyWebhook(
  secret: string,
  headers: WebhookHeaders,
  body: string | Uint8Array,
  options: { nowS?: number; toleranceS?: number } = {},
): WebhookVerdict {
  const json = call(() =>
    native().webhookVerify(secret, headersJson(headers), bodyText(body), options.nowS ?? 0, options.toleranceS ?? 0),
  );
  return JSON.parse(json) as WebhookVerdict;
}

const SUBSCRIPTION_KEYS = ['id', 'url', 'secret', 'workflows', 'events'];
const OPTION_KEYS = ['subscriptions', 'maxAttempts', 'initialBackoffMs', 'multiplier', 'maxBackoffMs', 'attemptTimeoutMs'];

function onlyKeys(value: object, known: string[], where: string): void {
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) throw invalid(`${where} has an unknown key '${key}' (known: ${known.join(', ')})`);
  }
}

export function webhookOptionsJson(options: WebhookOptions): string {
  if (typeof options !== 'object' || options === null || !Array.isArray(options.subscriptions)) {
    throw invalid('engine.configureWebhooks: options.subscriptions must be an array');
  }
  onlyKeys(options, OPTION_KEYS, 'engine.configureWebhooks: options');
  options.subscriptions.forEach((s, i) => {
    if (typeof s !== 'object' || s === null) throw invalid(`engine.configureWebhooks: subscriptions[${i}] must be an object`);
    onlyKeys(s, SUBSCRIPTION_KEYS, `engine.configureWebhooks: subscriptions[${i}]`);
  });
  return JSON.stringify({
    subscriptions: options.subscriptions.map((s) => ({
      id: s.id,
      url: s.url,
      secret: s.secret,
      workflows: s.workflows,
      events: s.events,
    })),
    max_attempts: options.maxAttempts,
    initial_backoff_ms: options.initialBackoffMs,
    multiplier: options.multiplier,
    max_backoff_ms: options.maxBackoffMs,
    attempt_timeout_ms: options.attemptTimeoutMs,
  });
}

export function toWebhookDelivery(d: any): WebhookDelivery {
  return {
    webhookId: d.webhook_id,
    runId: d.run_id,
    subscription: d.subscription,
    eventType: d.event_type,
    eventId: d.event_id,
    sourceRunId: d.source_run_id,
    state: d.state,
    createdAtMs: d.created_at_ms,
    attempts: d.attempts.map((a: any) => ({ atMs: a.at_ms, status: a.status, latencyMs: a.latency_ms, error: a.error })),
  };
}

export async function receiveWebhookJson(
  engine: NativeEngine,
  hook: InboundWebhookOptions,
  headers: WebhookHeaders,
  body: string | Uint8Array,
): Promise<any> {
  const hookJson = JSON.stringify({
    secret: hook.secret,
    tolerance_s: hook.toleranceS,
    workflow: hook.workflow,
    owner: hook.owner,
    signal_run_id: hook.signalRunId,
    signal_name: hook.signalName,
  });
  return JSON.parse(await callAsync(() => engine.receiveWebhook(hookJson, headersJson(headers), bodyText(body))));
}
