// JSON responses of the API routes and the translation of engine errors.
export function json(body: unknown, status = 200): Response {
  return Response.json(body, { status, headers: { 'cache-control': 'no-store' } });
}

/** {error} with the status for an engine error code; anything else is a 500. */
export function errorResponse(e: unknown): Response {
  const code = (e as { code?: unknown } | null)?.code;
  const message = e instanceof Error ? e.message : String(e);
  if (code === 'not_found') return json({ error: message }, 404);
  if (code === 'invalid_argument' || code === 'payload_too_large') return json({ error: message }, 400);
  if (code === 'invalid_state') return json({ error: message }, 409);
  console.error(e);
  return json({ error: message }, 500);
}

/** The request's JSON body within the size and depth limits (request-body.ts); an empty body is undefined. */
export { readJsonLimited as readJson } from './request-body';

export function unknownSession(id: string): Response {
  return json({ error: `no story session '${id}'` }, 404);
}
