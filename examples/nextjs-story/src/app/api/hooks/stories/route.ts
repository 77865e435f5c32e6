// POST /api/hooks/stories: starts a story from a signed webhook (Standard
// Webhooks). The webhook id is the idempotency key: a re-delivery returns the
// same story and starts no second one. 202 {sessionId, status}; 401 bad
// signature; 400 stale timestamp, missing header or bad input; 404 when
// STORYLOOM_INBOUND_WEBHOOK_SECRET or STORYLOOM_INBOUND_WEBHOOK_USER is not
// set. The story belongs to that user (its limits and budget apply).
import { STORY_WORKFLOW } from '@/lib/story';
import { getEngine } from '@/lib/server/engine';
import { errorResponse, json } from '@/lib/server/http';
import { storyBudget } from '@/lib/server/story-budget';
import { checkStoryInput } from '@/lib/server/validate';
import { inboundSecret, verifiedBody, webhookUser } from '@/lib/server/webhooks';

export const dynamic = 'force-dynamic';

export async function POST(request: Request): Promise<Response> {
  const secret = inboundSecret();
  if (!secret.ok) return secret.response;
  const user = webhookUser();
  if (!user.ok) return user.response;
  const verified = await verifiedBody(request, secret.secret);
  if (!verified.ok) return verified.response;
  let body: unknown;
  try {
    body = JSON.parse(verified.body);
  } catch (e) {
    return json({ error: `the webhook body is not valid JSON: ${(e as Error).message}` }, 400);
  }
  // The story's input is the checked (trimmed, defaulted) body, so the run is
  // started here with the key engine.receiveWebhook would use.
  const checked = checkStoryInput(body);
  if (!checked.ok) return json({ errors: checked.errors }, 400);
  try {
    const engine = await getEngine();
    // As /api/story/generate: the owner in the input too, for the engine's per-user limits.
    const input = { ...checked.value, owner: user.user.id };
    const run = await engine.start(STORY_WORKFLOW, input, {
      idempotencyKey: `webhook:${verified.webhookId}`,
      owner: user.user.id,
      budget: storyBudget(input),
    });
    return json({ sessionId: run.id, status: run.status, links: { view: `/story/${run.id}` } }, 202);
  } catch (e) {
    return errorResponse(e);
  }
}
