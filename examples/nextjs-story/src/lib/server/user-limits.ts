// Per-user limits on starting stories. The engine holds them: the story
// workflow is registered with a throttle (STORY_LIMIT_PER_HOUR starts per
// hour, default 10) and a concurrency limit (STORY_LIMIT_RUNNING stories
// running at once, default 2), both keyed on the input's `owner` (the user's
// id), so they hold across processes sharing the store.
//
// The engine queues a run over a limit rather than refusing it, so a route
// that must answer 429 at start time asks first: admitStory() counts the
// user's stories in the engine's store (created in the last hour; queued or
// running now) under a per-user lock in this process, so 20 parallel requests
// of one user are counted one after another. Across several processes two
// requests may both pass the count; the engine's keys still hold (the extra
// story queues until the limit allows it).
import type { Engine, Run } from 'storyloom';
import { STORY_WORKFLOW } from '../story';
import type { User } from './auth/accounts';

export const HOUR_MS = 3600_000;

export interface UserLimits {
  storiesPerHour: number;
  runningAtOnce: number;
}

function positive(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a whole number >= 1, got '${raw}'`);
  return n;
}

export function userLimits(): UserLimits {
  return { storiesPerHour: positive('STORY_LIMIT_PER_HOUR', 10), runningAtOnce: positive('STORY_LIMIT_RUNNING', 2) };
}

/** Why a user may not start a story now, and when to try again. */
export interface Refusal {
  message: string;
  retryAfterSeconds: number;
  /** When the user can start again (epoch ms), for the page to show. */
  retryAtMs: number;
}

async function storiesOf(engine: Engine, user: User): Promise<Run[]> {
  const runs: Run[] = [];
  let after = '';
  do {
    const page = await engine.list({ workflow: STORY_WORKFLOW, owner: user.id, limit: 1000, after });
    runs.push(...page.runs);
    after = page.nextCursor;
  } while (after !== '');
  return runs;
}

/** null when the user may start a story now, else the refusal. */
export async function checkUserLimits(engine: Engine, user: User, limits: UserLimits, nowMs = Date.now()): Promise<Refusal | null> {
  const runs = await storiesOf(engine, user);
  const recent = runs.filter((r) => r.createdAtMs > nowMs - HOUR_MS).sort((a, b) => a.createdAtMs - b.createdAtMs);
  if (recent.length >= limits.storiesPerHour) {
    // A slot frees when the oldest start of the window leaves it.
    const retryAtMs = recent[recent.length - limits.storiesPerHour].createdAtMs + HOUR_MS;
    return {
      message: `you have started ${recent.length} stories in the last hour (the limit is ${limits.storiesPerHour} an hour)`,
      retryAfterSeconds: Math.max(1, Math.ceil((retryAtMs - nowMs) / 1000)),
      retryAtMs,
    };
  }
  const active = runs.filter((r) => r.status === 'running' || r.status === 'queued').length;
  if (active >= limits.runningAtOnce) {
    // When a story ends is not known: ask again in a while.
    const retryAfterSeconds = 30;
    return {
      message: `you have ${active} stories being written (the limit is ${limits.runningAtOnce} at once): start another when one finishes`,
      retryAfterSeconds,
      retryAtMs: nowMs + retryAfterSeconds * 1000,
    };
  }
  return null;
}

const queues = new Map<string, Promise<unknown>>();

/** Runs `fn` after every earlier call for the same user in this process has finished. */
export async function oneAtATime<T>(userId: string, fn: () => Promise<T>): Promise<T> {
  const before = queues.get(userId) ?? Promise.resolve();
  const mine = before.then(fn, fn);
  const settled = mine.catch(() => undefined);
  queues.set(userId, settled);
  try {
    return await mine;
  } finally {
    if (queues.get(userId) === settled) queues.delete(userId);
  }
}

/** The 429 for a refusal: Retry-After in seconds, the message and when to come back. */
export function tooManyStories(refusal: Refusal): Response {
  return Response.json(
    { error: refusal.message, retryAfterSeconds: refusal.retryAfterSeconds, retryAt: new Date(refusal.retryAtMs).toISOString() },
    { status: 429, headers: { 'retry-after': String(refusal.retryAfterSeconds), 'cache-control': 'no-store' } },
  );
}
