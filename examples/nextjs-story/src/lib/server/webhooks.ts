// Webhooks of the app (docs/webhooks.md in the storyloom repository).
//
// Outbound: with STORYLOOM_WEBHOOK_URL and STORYLOOM_WEBHOOK_SECRET set, the
// engine posts a signed message when a story completes, fails, is cancelled or
// waits for outline approval (subscription "app"); deliveries are retried
// durably and logged (`storyloom --db FILE webhooks app`).
//
// Inbound: with STORYLOOM_INBOUND_WEBHOOK_SECRET set, /api/hooks/stories
// starts a story and /api/hooks/story/[sessionId]/approve approves one, for
// requests signed per Standard Webhooks; without it both answer 404.
import { STORY_WORKFLOW } from '../story';
import { type User, userByName } from './auth/accounts';
import { json } from './http';
import { type Engine, verifyWebhook } from './storyloom';

export async function configureOutboundWebhooks(engine: Engine): Promise<void> {
  const url = process.env.STORYLOOM_WEBHOOK_URL;
  const secret = process.env.STORYLOOM_WEBHOOK_SECRET;
  if (!url) return;
  if (!secret) throw new Error('STORYLOOM_WEBHOOK_URL is set but STORYLOOM_WEBHOOK_SECRET is not');
  await engine.configureWebhooks({
    subscriptions: [
      {
        id: 'app',
        url,
        secret,
        workflows: [STORY_WORKFLOW],
        events: ['run.completed', 'run.failed', 'run.cancelled', 'run.waiting'],
      },
    ],
  });
}

/** The inbound secret, or a 404 response when inbound webhooks are off. */
export function inboundSecret(): { ok: true; secret: string } | { ok: false; response: Response } {
  const secret = process.env.STORYLOOM_INBOUND_WEBHOOK_SECRET;
  if (!secret) return { ok: false, response: json({ error: 'inbound webhooks are not configured' }, 404) };
  return { ok: true, secret };
}

/**
 * The account whose stories inbound webhooks start and approve: every story
 * has an owner, so an integration acts as one user of the app, named by
 * STORYLOOM_INBOUND_WEBHOOK_USER (an existing account). 404 when unset or
 * when no such account exists (the message says which).
 */
export function webhookUser(): { ok: true; user: User } | { ok: false; response: Response } {
  const name = process.env.STORYLOOM_INBOUND_WEBHOOK_USER;
  if (!name) {
    return { ok: false, response: json({ error: 'inbound webhooks need STORYLOOM_INBOUND_WEBHOOK_USER, the account they act as' }, 404) };
  }
  const user = userByName(name);
  if (!user) {
    return { ok: false, response: json({ error: `STORYLOOM_INBOUND_WEBHOOK_USER names '${name}', which has no account` }, 404) };
  }
  return { ok: true, user };
}

/**
 * The raw body of an authentic, fresh webhook request, or the response that
 * refuses it: 401 (no signature matches), 400 (a header missing or the
 * timestamp outside the five-minute window).
 */
export async function verifiedBody(
  request: Request,
  secret: string,
): Promise<{ ok: true; body: string; webhookId: string } | { ok: false; response: Response }> {
  const body = await request.text();
  const verdict = verifyWebhook(secret, request.headers, body);
  if (verdict.status !== 200) return { ok: false, response: json({ error: verdict.message }, verdict.status) };
  return { ok: true, body, webhookId: request.headers.get('webhook-id') ?? '' };
}
