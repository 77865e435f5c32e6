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
}

export interface LlmUsage {
  inputTokens: number;
  outputTokens: number;
}

/** What an llm step stores and returns. */
export interface LlmResult {
  text: string;
  /** stop, length, ... as the provider said (Anthropic's end_turn is "stop"). */
  finishReason: string;
  usage: LlmUsage;
  /** The provider that wrote it; "offline" is not a language model. */
  provider: string;
  model: string;
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

const REQUEST = ['provider', 'model', 'messages', 'maxTokens', 'temperature', 'stream', 'streamName'] as const;

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
  return JSON.stringify(out);
}

/* eslint-disable @typescript-eslint/no-explicit-any */
export function toLlmResult(r: any): LlmResult {
  return {
    text: r.text,
    finishReason: r.finish_reason,
    usage: { inputTokens: r.usage.input_tokens, outputTokens: r.usage.output_tokens },
    provider: r.provider,
    model: r.model,
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
