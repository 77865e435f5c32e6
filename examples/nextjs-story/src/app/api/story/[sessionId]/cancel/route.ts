// DELETE /api/story/[sessionId]/cancel: cancels an unfinished story (409 when finished).
import { RUN_FINISHED } from '@/lib/story';
import { getEngine } from '@/lib/server/engine';
import { errorResponse, json, unknownSession } from '@/lib/server/http';
import { isStory } from '@/lib/server/stories';

export const dynamic = 'force-dynamic';

export async function DELETE(_request: Request, { params }: { params: Promise<{ sessionId: string }> }): Promise<Response> {
  const { sessionId } = await params;
  try {
    const engine = await getEngine();
    const run = await engine.get(sessionId);
    if (!isStory(run)) return unknownSession(sessionId);
    if (RUN_FINISHED.includes(run.status)) {
      return json({ error: `story '${sessionId}' has already ${run.status === 'cancelled' ? 'been cancelled' : run.status}` }, 409);
    }
    await engine.cancel(sessionId);
    return json({ sessionId, status: (await engine.get(sessionId)).status });
  } catch (e) {
    if ((e as { code?: string }).code === 'not_found') return unknownSession(sessionId);
    return errorResponse(e);
  }
}
