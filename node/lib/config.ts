// Engine.open()'s `llm` and `resources`, and engine.configureResource()'s
// limits: camelCase in JS, the JSON of sl_engine_options.config_json
// (storyloom/config.h) for the engine. Shapes and types are checked here;
// ranges by the engine, which names the field in its own (snake_case) words.
import { imagesJson } from './image';
import { invalid, objectOf, optionalBoolean, optionalInteger, optionalNumber, optionalString } from './check';

export type LlmProviderKind = 'openai' | 'anthropic' | 'gemini' | 'offline';

/** One LLM provider. Its key stays in memory: sent as a request header, never stored, logged or returned. */
export interface LlmProviderOptions {
  /** What requests call it: "openai", "openrouter", "local", ... */
  name: string;
  /** [openai: an OpenAI-compatible chat completions server] */
  kind?: LlmProviderKind;
  /** e.g. "http://127.0.0.1:8080/v1"; omitted: the kind's public endpoint. */
  baseUrl?: string;
  apiKey?: string;
  /** The model of requests that name none. */
  model?: string;
  /** The resource its requests use [`llm:<name>`]. */
  resource?: string;
  /** [10000] */
  connectTimeoutMs?: number;
  /** No byte from the server this long is a retryable error [60000]. */
  idleTimeoutMs?: number;
  /** offline: pause between streamed words [0]. */
  offlineWordDelayMs?: number;
}

export interface LlmOptions {
  /**
   * The provider of requests that name none; omitted: $STORYLOOM_LLM_PROVIDER,
   * else the first of openai, openrouter, anthropic that has a key, else offline.
   */
  defaultProvider?: string;
  /**
   * Also read providers from the environment [true]: OPENAI_API_KEY,
   * OPENAI_BASE_URL, OPENAI_MODEL, OPENROUTER_API_KEY, OPENROUTER_MODEL,
   * ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL, ANTHROPIC_MODEL; offline is always there.
   */
  useEnvironment?: boolean;
  /** Added to the environment's; one with the same name replaces it. */
  providers?: LlmProviderOptions[];
}

/**
 * The limits of a resource: a token bucket of `requests` per `periodMs`
 * holding at most `burst`, a budget of LLM tokens per minute, a cap on
 * requests in flight. Absent or 0: no limit of that kind.
 */
export interface ResourceLimits {
  requests?: number;
  /** [1000] */
  periodMs?: number;
  /** [requests] */
  burst?: number;
  maxInFlight?: number;
  tokensPerMinute?: number;
}

const LLM = ['defaultProvider', 'useEnvironment', 'providers'] as const;
const PROVIDER: Record<string, string> = {
  name: 'name',
  kind: 'kind',
  baseUrl: 'base_url',
  apiKey: 'api_key',
  model: 'model',
  resource: 'resource',
  connectTimeoutMs: 'connect_timeout_ms',
  idleTimeoutMs: 'idle_timeout_ms',
  offlineWordDelayMs: 'offline_word_delay_ms',
};
const PROVIDER_STRINGS = ['name', 'baseUrl', 'apiKey', 'model', 'resource'];
const PROVIDER_INTEGERS = ['connectTimeoutMs', 'idleTimeoutMs', 'offlineWordDelayMs'];
const KINDS: LlmProviderKind[] = ['openai', 'anthropic', 'gemini', 'offline'];
const LIMITS = ['requests', 'periodMs', 'burst', 'maxInFlight', 'tokensPerMinute'] as const;

function providerJson(where: string, value: unknown): Record<string, unknown> {
  const p = objectOf(where, value, Object.keys(PROVIDER));
  if (typeof p.name !== 'string') throw invalid(`${where}.name must be a string, got ${JSON.stringify(p.name) ?? 'undefined'}`);
  for (const key of PROVIDER_STRINGS) optionalString(where, p, key);
  for (const key of PROVIDER_INTEGERS) optionalInteger(where, p, key);
  if (p.kind !== undefined && !KINDS.includes(p.kind as LlmProviderKind)) {
    throw invalid(`${where}.kind must be one of ${KINDS.join(', ')}, got ${JSON.stringify(p.kind)}`);
  }
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(p)) if (v !== undefined) out[PROVIDER[key]] = v;
  return out;
}

function llmJson(where: string, value: unknown): Record<string, unknown> {
  const o = objectOf(where, value, LLM);
  const out: Record<string, unknown> = {};
  const defaultProvider = optionalString(where, o, 'defaultProvider');
  if (defaultProvider !== undefined) out.default_provider = defaultProvider;
  const useEnvironment = optionalBoolean(where, o, 'useEnvironment');
  if (useEnvironment !== undefined) out.use_environment = useEnvironment;
  if (o.providers !== undefined) {
    if (!Array.isArray(o.providers)) throw invalid(`${where}.providers must be an array, got ${JSON.stringify(o.providers)}`);
    out.providers = o.providers.map((p, i) => providerJson(`${where}.providers[${i}]`, p));
  }
  return out;
}

/** {requests, period_ms, burst, max_in_flight, tokens_per_minute} of camelCase limits. */
export function resourceLimitsJson(where: string, value: unknown): Record<string, number> {
  const o = objectOf(where, value, LIMITS);
  const out: Record<string, number> = {};
  const put = (key: string, v: number | undefined) => {
    if (v !== undefined) out[key] = v;
  };
  put('requests', optionalNumber(where, o, 'requests'));
  put('period_ms', optionalInteger(where, o, 'periodMs'));
  put('burst', optionalNumber(where, o, 'burst'));
  put('max_in_flight', optionalInteger(where, o, 'maxInFlight'));
  put('tokens_per_minute', optionalNumber(where, o, 'tokensPerMinute'));
  return out;
}

/** sl_engine_options.config_json for Engine.open's llm, resources and maxJsonDepth; "" when none is given. */
export function engineConfigJson(
  llm: unknown,
  resources: unknown,
  maxJsonDepth?: unknown,
  maxArtifactBytes?: unknown,
  images?: unknown,
): string {
  const config: Record<string, unknown> = {};
  // The engine checks it (an integer >= 1024) and names the key in its message.
  if (maxArtifactBytes !== undefined) config.max_artifact_bytes = maxArtifactBytes;
  // The engine checks the range (1..1000) and names the key in its message.
  if (maxJsonDepth !== undefined) config.max_json_depth = maxJsonDepth;
  if (llm !== undefined) config.llm = llmJson('Engine.open: llm', llm);
  if (images !== undefined) config.images = imagesJson('Engine.open: images', images);
  if (resources !== undefined) {
    const where = 'Engine.open: resources';
    if (resources === null || typeof resources !== 'object' || Array.isArray(resources)) {
      throw invalid(`${where} must be an object of resource name to limits, got ${JSON.stringify(resources)}`);
    }
    config.resources = Object.fromEntries(
      Object.entries(resources).map(([name, limits]) => [name, resourceLimitsJson(`${where}['${name}']`, limits)]),
    );
  }
  return Object.keys(config).length === 0 ? '' : JSON.stringify(config);
}
