// The built-in http step's request and result (storyloom.h sl_execution_http)
// and a step's own retry policy: camelCase in JS, the C ABI's JSON for the engine.
import { invalid, objectOf, optionalBoolean, optionalInteger, optionalNumber, optionalString } from './check';
import type { RetryOptions } from './workflow-options';

/** A request header; `secret` keeps its value out of everything stored. */
export interface HttpHeader {
  name: string;
  value: string;
  /** Never stored [false]. Authorization, Cookie, X-Api-Key, ... are secret anyway. */
  secret?: boolean;
}

/** One HTTP request; only `url` is required. Give at most one of json and body. */
export interface HttpRequest {
  /** Upper case [GET]. */
  method?: string;
  /** http:// or https://, no user:password@ (send credentials in a secret header). */
  url: string;
  /** {Name: value}, or a list when some are secret. */
  headers?: Record<string, string> | HttpHeader[];
  /** Sent as application/json (unless a Content-Type header says otherwise). */
  json?: unknown;
  /** Text (sent as UTF-8) or bytes. */
  body?: string | Uint8Array;
  /** A resource (Engine.open's `resources`) that admits the request first. */
  resource?: string;
  /** [10000] */
  connectTimeoutMs?: number;
  /** No byte for this long fails the attempt with TimeoutError [30000]. */
  idleTimeoutMs?: number;
  /** The whole attempt over this long fails it the same way [0: none]. */
  totalTimeoutMs?: number;
  /** The header carrying `<run id>:<seq>`, the same on every retry and replay ['Idempotency-Key'; '' sends none]. */
  idempotencyHeader?: string;
}

/** What an http step stores and returns (any 2xx or 3xx answer). */
export interface HttpResult {
  status: number;
  /** Lowercase names; secret ones read "[redacted]". */
  headers: Record<string, string>;
  /** The body as UTF-8 text ("" when it is not UTF-8: read `bytes`). */
  text: string;
  bytes: Uint8Array;
  /** The body parsed when its Content-Type is JSON, else null. */
  json: unknown;
}

/** Options of ctx.step, ctx.llm and ctx.http: the step's own retry policy. */
export interface StepRetryOptions {
  /**
   * This step's retry policy, replacing the workflow's (and, for llm steps,
   * the default of 3 attempts); `false`: one attempt, no retries.
   */
  retry?: RetryOptions | false;
}

const REQUEST = [
  'method',
  'url',
  'headers',
  'json',
  'body',
  'resource',
  'connectTimeoutMs',
  'idleTimeoutMs',
  'totalTimeoutMs',
  'idempotencyHeader',
] as const;
const RETRY = ['maxAttempts', 'initialBackoffMs', 'multiplier', 'maxBackoffMs', 'jitter', 'timeoutMs'] as const;

/** The retry_json of the C ABI ("" for none); `where` names the step. */
export function retryJson(where: string, retry: unknown): string {
  if (retry === undefined || retry === null) return '';
  if (retry === false) return 'false';
  const w = `${where}: retry`;
  const r = objectOf(w, retry, RETRY, `${where}: unknown retry option`);
  const out: Record<string, unknown> = {};
  const put = (key: string, v: unknown) => {
    if (v !== undefined) out[key] = v;
  };
  put('max_attempts', optionalInteger(w, r, 'maxAttempts'));
  put('initial_backoff_ms', optionalInteger(w, r, 'initialBackoffMs'));
  put('multiplier', optionalNumber(w, r, 'multiplier'));
  put('max_backoff_ms', optionalInteger(w, r, 'maxBackoffMs'));
  put('jitter', optionalBoolean(w, r, 'jitter'));
  put('timeout_ms', optionalInteger(w, r, 'timeoutMs'));
  return JSON.stringify(out);
}

/** The checked options of a step call. */
export function stepRetryOptions(where: string, options: unknown): string {
  const o = objectOf(`${where} options`, options, ['retry']);
  return retryJson(where, o.retry);
}

/** The request JSON of sl_execution_http; `where` names the step. */
export function httpRequestJson(where: string, request: unknown): string {
  const o = objectOf(where, request, REQUEST);
  const out: Record<string, unknown> = {};
  const put = (key: string, v: unknown) => {
    if (v !== undefined) out[key] = v;
  };
  const url = optionalString(where, o, 'url');
  if (url === undefined) throw invalid(`${where}.url is required`);
  put('url', url);
  put('method', optionalString(where, o, 'method'));
  if (Array.isArray(o.headers)) {
    out.headers = o.headers.map((h, i) => {
      const w = `${where}.headers[${i}]`;
      const header = objectOf(w, h, ['name', 'value', 'secret']);
      const name = optionalString(w, header, 'name');
      const value = optionalString(w, header, 'value');
      if (name === undefined || value === undefined) throw invalid(`${w} needs a name and a value`);
      return { name, value, secret: optionalBoolean(w, header, 'secret') ?? false };
    });
  } else if (o.headers !== undefined) {
    const headers = objectOf(`${where}.headers`, o.headers, Object.keys(o.headers as object));
    for (const [name, value] of Object.entries(headers)) {
      if (typeof value !== 'string') throw invalid(`${where}.headers['${name}'] must be a string, got ${JSON.stringify(value)}`);
    }
    out.headers = headers;
  }
  if (o.json !== undefined && o.body !== undefined) throw invalid(`${where} has both json and body; send one`);
  if (o.json !== undefined) out.json = o.json;
  if (typeof o.body === 'string') out.body = o.body;
  else if (o.body instanceof Uint8Array) out.body_base64 = Buffer.from(o.body).toString('base64');
  else if (o.body !== undefined) throw invalid(`${where}.body must be a string or a Uint8Array`);
  put('resource', optionalString(where, o, 'resource'));
  put('connect_timeout_ms', optionalInteger(where, o, 'connectTimeoutMs'));
  put('idle_timeout_ms', optionalInteger(where, o, 'idleTimeoutMs'));
  put('total_timeout_ms', optionalInteger(where, o, 'totalTimeoutMs'));
  put('idempotency_header', optionalString(where, o, 'idempotencyHeader'));
  return JSON.stringify(out);
}

/* eslint-disable @typescript-eslint/no-explicit-any */
export function toHttpResult(r: any): HttpResult {
  const bytes =
    typeof r.body === 'string' ? new Uint8Array(Buffer.from(r.body, 'utf8')) : new Uint8Array(Buffer.from(r.body_base64 ?? '', 'base64'));
  return {
    status: r.status,
    headers: r.headers ?? {},
    text: typeof r.body === 'string' ? r.body : '',
    bytes,
    json: r.json ?? null,
  };
}
/* eslint-enable @typescript-eslint/no-explicit-any */
