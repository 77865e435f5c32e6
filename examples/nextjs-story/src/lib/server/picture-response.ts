// How a page's picture is served: its bytes with the media type read from
// them, an ETag that is the picture's sha256 (so a browser revalidates with
// If-None-Match and gets 304 with no body), and caching for the signed-in
// user only (private): a URL naming a version never changes meaning and is
// kept for a year; the URL of "the latest" is revalidated on every use.
import type { Artifact, Engine } from 'storyloom';
import { pictureNumberOf } from '../story';
import { json } from './http';

export const IMMUTABLE = 'private, max-age=31536000, immutable';
export const REVALIDATE = 'private, no-cache';

/** A whole number ≥ 1 from a path or query parameter, else null. */
export function positiveInt(raw: string | null): number | null {
  return raw !== null && /^[1-9]\d{0,8}$/.test(raw) ? Number(raw) : null;
}

/** Does If-None-Match (a list of entity tags, weak or strong, or *) name `etag`? */
export function etagMatches(ifNoneMatch: string | null, etag: string): boolean {
  if (ifNoneMatch === null) return false;
  return ifNoneMatch.split(',').some((t) => {
    const tag = t.trim().replace(/^W\//, '');
    return tag === '*' || tag === etag;
  });
}

/** Version `version` (else the latest) of page `page`'s picture in `artifacts`, or undefined. */
export function findPicture(artifacts: Artifact[], page: number, version: number | null): Artifact | undefined {
  const versions = artifacts.filter((a) => a.contentType !== undefined && pictureNumberOf(a.key) === page);
  if (version !== null) return versions.find((a) => a.version === version);
  return versions.reduce<Artifact | undefined>((latest, a) => (latest === undefined || a.version > latest.version ? a : latest), undefined);
}

/** The response for page `page`'s picture of story `id` (version `version`, else the latest); 404 when there is none. */
export async function pictureResponse(engine: Engine, request: Request, id: string, page: number, version: number | null): Promise<Response> {
  const picture = findPicture(await engine.artifacts(id), page, version);
  if (!picture) {
    const which = version === null ? '' : ` version ${version}`;
    return json({ error: `story '${id}' has no picture${which} for page ${page}` }, 404);
  }
  const { sha256 } = picture.value as { sha256: string };
  const etag = `"${sha256}"`;
  const headers: Record<string, string> = {
    etag,
    'cache-control': version === null ? REVALIDATE : IMMUTABLE,
    'x-content-type-options': 'nosniff',
  };
  if (etagMatches(request.headers.get('if-none-match'), etag)) return new Response(null, { status: 304, headers });
  const bytes = await engine.artifactBytes(id, picture.key, picture.version);
  return new Response(new Uint8Array(bytes), {
    status: 200,
    headers: { ...headers, 'content-type': picture.contentType! },
  });
}
