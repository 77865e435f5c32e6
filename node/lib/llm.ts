// The built-in llm step's request and result (storyloom.h sl_execution_llm),
// the configured providers and a resource's state: camelCase in JS, the C
// ABI's JSON for the engine.
import { invalid, objectOf, optionalBoolean, optionalInteger, optionalNumber, optionalString } from './check';
import type { LlmProviderKind } from './config';

export interface LlmMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** A chat completion; all but `messages` optional. */
export interface LlmRequest {
  /** A configured provider's name [the engine's default provider]. */
  provider?: string;
  /** [the provider's model] */
  model?: string;
  /** At least one user message. */
  messages: LlmMessage[];
  /** 1..1000000 [1024] */
  maxTokens?: number;
  /** 0..2 [the provider's] */
  temperature?: number;
  /** Stream the text as chunk events [true]. */
  stream?: boolean;
  /** The chunk stream [the step's name]. */
  streamName?: string;
  /** Stop sequences: a string or up to 16 strings of 1 to 256 bytes. */
  stop?: string | string[];
  /** No byte from the provider this long fails the attempt with TimeoutError [the provider's idle timeout]. */
  idleTimeoutMs?: number;
  /** The whole request over this long fails the attempt with TimeoutError [none]. */
  totalTimeoutMs?: number;
  /** Provider-specific fields merged into the request body as they are ({top_p: 0.9}, ...). */
  extra?: Record<string, unknown>;
  /**
   * Structured output: a JSON Schema (an object) the answer must match. The
   * answer comes back parsed in `json`; one that is not JSON or does not
   * match fails the attempt (retried) naming the mismatch.
   */
  jsonSchema?: Record<string, unknown>;
}

export interface LlmUsage {
  /** Prompt tokens. */
  inputTokens: number;
  /** Completion tokens. */
  outputTokens: number;
  /** As the provider said, else input + output. */
  totalTokens: number;
}

/** Normalized: every provider's stop reason is one of these. */
export type FinishReason = 'stop' | 'length' | 'content_filter' | 'tool_calls' | 'error';

/** What an llm step stores and returns. */
export interface LlmResult {
  text: string;
  /** Normalized (OpenAI's length, Anthropic's max_tokens and Gemini's MAX_TOKENS are all "length"). */
  finishReason: FinishReason;
  /** The provider's own word ("end_turn", "max_tokens", "MAX_TOKENS", ...). */
  stopReason: string;
  /**
   * The answer was cut off at maxTokens: stored and returned as it is, never
   * retried. Ask again with a larger maxTokens for the rest.
   */
  truncated: boolean;
  usage: LlmUsage;
  /** The provider that wrote it; "offline" is not a language model. */
  provider: string;
  model: string;
  /** The answer parsed, when the request had a jsonSchema (null otherwise, and when truncated). */
  json: unknown;
}

export interface LlmProviderInfo {
  name: string;
  kind: LlmProviderKind;
  baseUrl: string;
  model: string;
  resource: string;
  /** Whether a key is configured; the key itself is never handed out. */
  hasKey: boolean;
}

export interface LlmProviders {
  /** The provider of requests that name none; "offline" when no key is configured. */
  default: string;
  providers: LlmProviderInfo[];
}

/** A resource's state now; an amount without a limit is null. */
export interface ResourceStatus {
  name: string;
  availableRequests: number | null;
  availableTokens: number | null;
  inFlight: number;
  /** Requests queued for the resource. */
  waiting: number;
  /** Paused by a 429 until then (ms since the epoch); 0 when not paused. */
  pausedUntilMs: number;
}

const REQUEST = [
  'provider',
  'model',
  'messages',
  'maxTokens',
  'temperature',
  'stream',
  'streamName',
  'stop',
  'idleTimeoutMs',
  'totalTimeoutMs',
  'extra',
  'jsonSchema',
] as const;

/** A plain object (for extra and jsonSchema), or absent. */
function optionalObject(where: string, o: Record<string, unknown>, key: string): Record<string, unknown> | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    throw invalid(`${where}.${key} must be an object, got ${JSON.stringify(v) ?? String(v)}`);
  }
  return v as Record<string, unknown>;
}

/** The request JSON of sl_execution_llm; `where` names the step. */
export function llmRequestJson(where: string, request: unknown): string {
  const o = objectOf(where, request, REQUEST);
  if (!Array.isArray(o.messages)) throw invalid(`${where}.messages must be an array, got ${JSON.stringify(o.messages) ?? 'undefined'}`);
  const messages = o.messages.map((m, i) => {
    const w = `${where}.messages[${i}]`;
    const message = objectOf(w, m, ['role', 'content']);
    if (typeof message.role !== 'string') throw invalid(`${w}.role must be a string, got ${JSON.stringify(message.role) ?? 'undefined'}`);
    if (typeof message.content !== 'string') {
      throw invalid(`${w}.content must be a string, got ${JSON.stringify(message.content) ?? 'undefined'}`);
    }
    return { role: message.role, content: message.content };
  });
  const out: Record<string, unknown> = { messages };
  const put = (key: string, v: unknown) => {
    if (v !== undefined) out[key] = v;
  };
  put('provider', optionalString(where, o, 'provider'));
  put('model', optionalString(where, o, 'model'));
  put('max_tokens', optionalInteger(where, o, 'maxTokens'));
  put('temperature', optionalNumber(where, o, 'temperature'));
  put('stream', optionalBoolean(where, o, 'stream'));
  put('stream_name', optionalString(where, o, 'streamName'));
  if (o.stop !== undefined) {
    const stop = typeof o.stop === 'string' ? [o.stop] : o.stop;
    if (!Array.isArray(stop) || !stop.every((x) => typeof x === 'string')) {
      throw invalid(`${where}.stop must be a string or an array of strings, got ${JSON.stringify(o.stop)}`);
    }
    out.stop = stop;
  }
  put('idle_timeout_ms', optionalInteger(where, o, 'idleTimeoutMs'));
  put('total_timeout_ms', optionalInteger(where, o, 'totalTimeoutMs'));
  put('extra', optionalObject(where, o, 'extra'));
  put('json_schema', optionalObject(where, o, 'jsonSchema'));
  return JSON.stringify(out);
}

/* eslint-disable @typescript-eslint/no-explicit-any */
export function toLlmResult(r: any): LlmResult {
  return {
    text: r.text,
    finishReason: r.finish_reason,
    stopReason: r.stop_reason ?? r.finish_reason,
    truncated: r.truncated ?? r.finish_reason === 'length',
    usage: {
      inputTokens: r.usage.input_tokens,
      outputTokens: r.usage.output_tokens,
      totalTokens: r.usage.total_tokens ?? r.usage.input_tokens + r.usage.output_tokens,
    },
    provider: r.provider,
    model: r.model,
    json: r.json ?? null,
  };
}

export function toLlmProviders(p: any): LlmProviders {
  return {
    default: p.default,
    providers: p.providers.map((x: any) => ({
      name: x.name,
      kind: x.kind,
      baseUrl: x.base_url,
      model: x.model,
      resource: x.resource,
      hasKey: x.has_key,
    })),
  };
}

export function toResourceStatus(s: any): ResourceStatus {
  return {
    name: s.name,
    availableRequests: s.available_requests,
    availableTokens: s.available_tokens,
    inFlight: s.in_flight,
    waiting: s.waiting,
    pausedUntilMs: s.paused_until_ms,
  };
}
/* eslint-enable @typescript-eslint/no-explicit-any */
