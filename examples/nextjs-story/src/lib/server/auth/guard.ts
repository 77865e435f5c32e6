// What every story route checks: a signed-in user, a same-origin request for
// anything that changes state (CSRF), and that the story is theirs. Another
// user's story is answered exactly as a story that does not exist (404).
import type { Engine, Run } from 'storyloom';
import { json } from '../http';
import { isStory } from '../stories';
import type { User } from './accounts';
import { signedInUser } from './session';

export type Guarded<T> = { ok: true; value: T } | { ok: false; response: Response };

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Refuses (403) a state-changing request that does not come from this app's
 * own pages: its Origin (or, without one, its Sec-Fetch-Site) must say same
 * origin. The SameSite=Lax cookie already stays home on cross-site POSTs;
 * this holds for browsers and proxies that do not enforce it.
 */
export function sameOrigin(request: Request): Response | null {
  if (SAFE.has(request.method)) return null;
  const origin = request.headers.get('origin');
  const host = request.headers.get('host');
  if (origin !== null) {
    let originHost = '';
    try {
      originHost = new URL(origin).host;
    } catch {
      /* "null" or garbage: refused below */
    }
    if (host !== null && originHost === host) return null;
    return json({ error: `cross-origin request refused (Origin ${origin} is not this site)` }, 403);
  }
  if (request.headers.get('sec-fetch-site') === 'same-origin') return null;
  return json({ error: 'request refused: a request that changes something must carry this site as its Origin header' }, 403);
}

/** The signed-in user, or 401 (and 403 for a cross-origin write). */
export async function requireUser(request: Request): Promise<Guarded<User>> {
  const refused = sameOrigin(request);
  if (refused) return { ok: false, response: refused };
  const user = await signedInUser();
  if (!user) return { ok: false, response: json({ error: 'sign in first: this needs a signed-in user' }, 401) };
  return { ok: true, value: user };
}

export function unknownStory(id: string): Response {
  return json({ error: `no story session '${id}'` }, 404);
}

/** Is `run` a story of `user`? (Another user's story counts as no story.) */
export function ownsStory(run: Run, user: User): boolean {
  return isStory(run) && run.owner === user.id;
}

/** The user's story `id`, or the 404 response (unknown, not a story, or someone else's). */
export async function ownedRun(engine: Engine, id: string, user: User): Promise<Guarded<Run>> {
  try {
    const run = await engine.get(id);
    if (ownsStory(run, user)) return { ok: true, value: run };
  } catch (e) {
    if ((e as { code?: string }).code !== 'not_found') throw e;
  }
  return { ok: false, response: unknownStory(id) };
}
