// POST /api/story/[sessionId]/approve: approves the outline of a story
// waiting for it, optionally with edits: {outline: {title?, plans?: string[]}}.
// 409 when the story is not waiting for approval.
import { type StoryInput, type StoryProgress } from '@/lib/story';
import { getEngine } from '@/lib/server/engine';
import { errorResponse, json, readJson, unknownSession } from '@/lib/server/http';
import { isStory } from '@/lib/server/stories';
import { checkApproval } from '@/lib/server/validate';

export const dynamic = 'force-dynamic';

export async function POST(request: Request, { params }: { params: Promise<{ sessionId: string }> }): Promise<Response> {
  const { sessionId } = await params;
  const body = await readJson(request);
  if (!body.ok) return body.response;
  try {
    const engine = await getEngine();
    const run = await engine.get(sessionId);
    if (!isStory(run)) return unknownSession(sessionId);
    const input = run.input as StoryInput;
    const checked = checkApproval(body.value, input.pages);
    if (!checked.ok) return json({ errors: checked.errors }, 400);
    const stage = (run.progress as StoryProgress | null)?.stage;
    if (!input.approve_outline || run.status !== 'waiting' || stage !== 'awaiting_approval') {
      return json({ error: `story '${sessionId}' is not waiting for outline approval (it is ${run.status})` }, 409);
    }
    await engine.signal(sessionId, 'approve', checked.value);
    return json({ sessionId, approved: true, edited: checked.value.outline !== undefined });
  } catch (e) {
    if ((e as { code?: string }).code === 'not_found') return unknownSession(sessionId);
    return errorResponse(e);
  }
}
