// The built-in image step (storyloom.h sl_execution_image): its request and
// result, and Engine.open's `images` providers; camelCase in JS, the C ABI's
// JSON for the engine. Shapes and types are checked here, ranges by the engine.
import { invalid, objectOf, optionalBoolean, optionalInteger, optionalString } from './check';

export type ImageProviderKind = 'openai' | 'offline';

/** One image provider. Its key stays in memory: sent as a request header, never stored, logged or returned. */
export interface ImageProviderOptions {
  /** What requests call it: "openai", "local", ... */
  name: string;
  /** [openai: an OpenAI-compatible POST {baseUrl}/images/generations] */
  kind?: ImageProviderKind;
  /** e.g. "http://127.0.0.1:8080/v1"; omitted: https://api.openai.com/v1. */
  baseUrl?: string;
  apiKey?: string;
  /** The model of requests that name none. */
  model?: string;
  /** The size of requests that name none, "WxH" [1024x1024; offline 512x384]. */
  size?: string;
  /** The resource its requests use [`image:<name>`]. */
  resource?: string;
  /** [10000] */
  connectTimeoutMs?: number;
  /** No byte from the server this long is a retryable timeout [180000]. */
  idleTimeoutMs?: number;
}

export interface ImageOptions {
  /** The provider of requests that name none; omitted: $STORYLOOM_IMAGE_PROVIDER, else offline. */
  defaultProvider?: string;
  /**
   * Also read providers from the environment [true]: openai from
   * OPENAI_API_KEY / OPENAI_BASE_URL, OPENAI_IMAGE_MODEL [dall-e-3],
   * OPENAI_IMAGE_SIZE; offline (a labelled placeholder) is always there.
   */
  useEnvironment?: boolean;
  /** Added to the environment's; one with the same name replaces it. */
  providers?: ImageProviderOptions[];
}

/** One picture; only `prompt` is required. */
export interface ImageRequest {
  prompt: string;
  /** [the engine's default image provider] */
  provider?: string;
  /** [the provider's model] */
  model?: string;
  /** "WxH", each 64..4096 [the provider's size]. */
  size?: string;
  /** The binary artifact the picture is stored as [the step's name]. */
  artifact?: string;
  /** Provider fields merged into the request body, e.g. { quality: 'hd' }. */
  extra?: Record<string, unknown>;
  /** No byte for this long fails the attempt with TimeoutError [the provider's]. */
  idleTimeoutMs?: number;
  /** The whole attempt over this long fails it the same way [none]. */
  totalTimeoutMs?: number;
}

/** What an image step stores and returns; the picture is engine.artifactBytes(runId, artifact, version). */
export interface ImageResult {
  artifact: string;
  version: number;
  /** image/png, image/jpeg or image/webp, read from the bytes. */
  contentType: string;
  bytes: number;
  sha256: string;
  width: number;
  height: number;
  provider: string;
  model: string;
  /** What the provider says it drew from ("" when it says nothing). */
  revisedPrompt: string;
}

const REQUEST = ['prompt', 'provider', 'model', 'size', 'artifact', 'extra', 'idleTimeoutMs', 'totalTimeoutMs'] as const;
const PROVIDER = ['name', 'kind', 'baseUrl', 'apiKey', 'model', 'size', 'resource', 'connectTimeoutMs', 'idleTimeoutMs'] as const;

/** The request JSON of sl_execution_image; `where` names the step. */
export function imageRequestJson(where: string, request: unknown): string {
  const o = objectOf(where, request, REQUEST);
  const out: Record<string, unknown> = {};
  const put = (key: string, v: unknown) => {
    if (v !== undefined) out[key] = v;
  };
  const prompt = optionalString(where, o, 'prompt');
  if (prompt === undefined) throw invalid(`${where}.prompt is required`);
  put('prompt', prompt);
  put('provider', optionalString(where, o, 'provider'));
  put('model', optionalString(where, o, 'model'));
  put('size', optionalString(where, o, 'size'));
  put('artifact', optionalString(where, o, 'artifact'));
  if (o.extra !== undefined) {
    if (o.extra === null || typeof o.extra !== 'object' || Array.isArray(o.extra)) {
      throw invalid(`${where}.extra must be an object, got ${JSON.stringify(o.extra)}`);
    }
    out.extra = o.extra;
  }
  put('idle_timeout_ms', optionalInteger(where, o, 'idleTimeoutMs'));
  put('total_timeout_ms', optionalInteger(where, o, 'totalTimeoutMs'));
  return JSON.stringify(out);
}

/** config_json's "images" of Engine.open's `images`. */
export function imagesJson(where: string, value: unknown): Record<string, unknown> {
  const o = objectOf(where, value, ['defaultProvider', 'useEnvironment', 'providers']);
  const out: Record<string, unknown> = {};
  const defaultProvider = optionalString(where, o, 'defaultProvider');
  if (defaultProvider !== undefined) out.default_provider = defaultProvider;
  const useEnvironment = optionalBoolean(where, o, 'useEnvironment');
  if (useEnvironment !== undefined) out.use_environment = useEnvironment;
  if (o.providers !== undefined) {
    if (!Array.isArray(o.providers)) throw invalid(`${where}.providers must be an array, got ${JSON.stringify(o.providers)}`);
    out.providers = o.providers.map((p, i) => {
      const w = `${where}.providers[${i}]`;
      const q = objectOf(w, p, PROVIDER);
      const name = optionalString(w, q, 'name');
      if (name === undefined) throw invalid(`${w}.name is required`);
      const provider: Record<string, unknown> = { name };
      const put = (key: string, v: unknown) => {
        if (v !== undefined) provider[key] = v;
      };
      put('kind', optionalString(w, q, 'kind'));
      put('base_url', optionalString(w, q, 'baseUrl'));
      put('api_key', optionalString(w, q, 'apiKey'));
      put('model', optionalString(w, q, 'model'));
      put('size', optionalString(w, q, 'size'));
      put('resource', optionalString(w, q, 'resource'));
      put('connect_timeout_ms', optionalInteger(w, q, 'connectTimeoutMs'));
      put('idle_timeout_ms', optionalInteger(w, q, 'idleTimeoutMs'));
      return provider;
    });
  }
  return out;
}

/* eslint-disable @typescript-eslint/no-explicit-any */
export function toImageResult(r: any): ImageResult {
  return {
    artifact: r.artifact,
    version: r.version,
    contentType: r.content_type,
    bytes: r.bytes,
    sha256: r.sha256,
    width: r.width,
    height: r.height,
    provider: r.provider,
    model: r.model,
    revisedPrompt: r.revised_prompt ?? '',
  };
}
/* eslint-enable @typescript-eslint/no-explicit-any */
