// Request bodies with limits: at most MAX_BODY_BYTES (64 KiB, far more than
// any form of this app sends) and JSON nested at most MAX_JSON_DEPTH levels.
// A larger body is refused with 413 as soon as its Content-Length or its
// bytes so far pass the limit, without reading (or holding) the rest; bad or
// too deeply nested JSON is a 400 naming the problem, never a 500.

// Not http.ts's json(): http.ts re-exports readJsonLimited as readJson.
function json(body: unknown, status: number): Response {
  return Response.json(body, { status, headers: { 'cache-control': 'no-store' } });
}

export const MAX_BODY_BYTES = 64 * 1024;
export const MAX_JSON_DEPTH = 32;

export type BodyResult = { ok: true; value: unknown } | { ok: false; response: Response };

function tooLarge(): BodyResult {
  return { ok: false, response: json({ error: `the request body is over ${MAX_BODY_BYTES} bytes (64 KiB): send less` }, 413) };
}

/** The body's bytes, or null once they pass `limit` (the stream is then cancelled, not read on). */
async function readAtMost(request: Request, limit: number): Promise<Uint8Array | null> {
  if (!request.body) return new Uint8Array(0);
  const reader = request.body.getReader();
  const parts: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => undefined);
      return null;
    }
    parts.push(value);
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/** How deeply arrays and objects nest in JSON text (strings skipped), stopping once past `limit`. */
export function jsonDepth(text: string, limit: number): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      depth++;
      if (depth > deepest) deepest = depth;
      if (deepest > limit) return deepest;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return deepest;
}

/** The request's JSON body within the limits (undefined when empty), or the 413/400 response. */
export async function readJsonLimited(request: Request): Promise<BodyResult> {
  const declared = Number(request.headers.get('content-length') ?? '');
  if (Number.isFinite(declared) && declared > MAX_BODY_BYTES) return tooLarge();
  let bytes: Uint8Array | null;
  try {
    bytes = await readAtMost(request, MAX_BODY_BYTES);
  } catch (e) {
    return { ok: false, response: json({ error: `the request body could not be read: ${(e as Error).message}` }, 400) };
  }
  if (bytes === null) return tooLarge();
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return { ok: false, response: json({ error: 'the request body is not valid UTF-8' }, 400) };
  }
  if (text.trim() === '') return { ok: true, value: undefined };
  if (jsonDepth(text, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) {
    return { ok: false, response: json({ error: `the request body nests arrays or objects deeper than ${MAX_JSON_DEPTH} levels` }, 400) };
  }
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (e) {
    return { ok: false, response: json({ error: `the request body is not valid JSON: ${(e as Error).message}` }, 400) };
  }
}
