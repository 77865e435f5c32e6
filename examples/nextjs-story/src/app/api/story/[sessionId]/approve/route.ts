// POST /api/story/[sessionId]/approve: approves the outline of the signed-in
// user's story waiting for it, optionally with edits: {outline: {title?,
// plans?: string[]}}. First wins: the approval is a signal sent once
// (engine.signalOnce), so of two approvals racing exactly one is delivered;
// the other gets 409 {error, approved} with what was approved. 409 too when
// the story is not waiting for approval; 404 for another user's story.
import { RUN_FINISHED, type ApprovalPayload, type StoryInput, type StoryProgress } from '@/lib/story';
import { ownsStory, requireUser } from '@/lib/server/auth/guard';
import { getEngine } from '@/lib/server/engine';
import { errorResponse, json, readJson, unknownSession } from '@/lib/server/http';
import { firstApproval } from '@/lib/server/stories';
import { checkApproval } from '@/lib/server/validate';

export const dynamic = 'force-dynamic';

export async function POST(request: Request, { params }: { params: Promise<{ sessionId: string }> }): Promise<Response> {
  const { sessionId } = await params;
  const user = await requireUser(request);
  if (!user.ok) return user.response;
  const body = await readJson(request);
  if (!body.ok) return body.response;
  try {
    const engine = await getEngine();
    const run = await engine.get(sessionId);
    if (!ownsStory(run, user.value)) return unknownSession(sessionId);
    const input = run.input as StoryInput;
    const checked = checkApproval(body.value, input.pages);
    if (!checked.ok) return json({ errors: checked.errors }, 400);
    const stage = (run.progress as StoryProgress | null)?.stage;
    if (!input.approve_outline || run.status !== 'waiting' || stage !== 'awaiting_approval') {
      // Approved already (by an approval that won a race, or long ago): say with what.
      const earlier = input.approve_outline ? await firstApproval(engine, sessionId) : null;
      if (earlier && !RUN_FINISHED.includes(run.status)) return alreadyApproved(sessionId, earlier);
      const error = `story '${sessionId}' is not waiting for outline approval (it is ${run.status})`;
      return json(earlier ? { error, approved: earlier } : { error }, 409);
    }
    try {
      await engine.signalOnce(sessionId, 'approve', checked.value);
    } catch (e) {
      // Another approval got there first (decided in the engine's commit).
      const first = (e as { code?: string }).code === 'invalid_state' ? await firstApproval(engine, sessionId) : null;
      if (first) return alreadyApproved(sessionId, first);
      throw e;
    }
    return json({ sessionId, approved: true, edited: checked.value.outline !== undefined });
  } catch (e) {
    if ((e as { code?: string }).code === 'not_found') return unknownSession(sessionId);
    return errorResponse(e);
  }
}

function alreadyApproved(sessionId: string, approved: ApprovalPayload): Response {
  return json({ error: `story '${sessionId}' was already approved`, approved }, 409);
}
