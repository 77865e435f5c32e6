// POST /api/hooks/story/[sessionId]/approve: approves a story's outline from
// a signed webhook (Standard Webhooks), body as /api/story/[id]/approve
// ({} approves as is).
// The signal is sent once per webhook id (engine.receiveWebhook): a
// re-delivery sends nothing. 200 {sessionId, duplicate}; 401 bad signature;
// 400 stale timestamp or bad body; 404 unknown story (or one that is not the
// STORYLOOM_INBOUND_WEBHOOK_USER account's) or inbound webhooks off.
import { type StoryInput } from '@/lib/story';
import { getEngine } from '@/lib/server/engine';
import { errorResponse, json, unknownSession } from '@/lib/server/http';
import { isStory } from '@/lib/server/stories';
import { checkApproval } from '@/lib/server/validate';
import { inboundSecret, verifiedBody, webhookUser } from '@/lib/server/webhooks';

export const dynamic = 'force-dynamic';

export async function POST(request: Request, { params }: { params: Promise<{ sessionId: string }> }): Promise<Response> {
  const { sessionId } = await params;
  const secret = inboundSecret();
  if (!secret.ok) return secret.response;
  const user = webhookUser();
  if (!user.ok) return user.response;
  const headers = request.headers;
  const verified = await verifiedBody(request, secret.secret);
  if (!verified.ok) return verified.response;
  try {
    const engine = await getEngine();
    const run = await engine.get(sessionId);
    // Only the webhook user's own stories: another user's story is no story.
    if (!isStory(run) || run.owner !== user.user.id) return unknownSession(sessionId);
    let body: unknown;
    try {
      body = JSON.parse(verified.body);
    } catch (e) {
      return json({ error: `the webhook body is not valid JSON: ${(e as Error).message}` }, 400);
    }
    const checked = checkApproval(body, (run.input as StoryInput).pages);
    if (!checked.ok) return json({ errors: checked.errors }, 400);
    const result = await engine.receiveWebhook(
      { secret: secret.secret, signalRunId: sessionId, signalName: 'approve' },
      headers,
      verified.body,
    );
    if (result.status !== 200) return json({ error: result.message }, result.status);
    return json({ sessionId, duplicate: result.duplicate });
  } catch (e) {
    if ((e as { code?: string }).code === 'not_found') return unknownSession(sessionId);
    return errorResponse(e);
  }
}
