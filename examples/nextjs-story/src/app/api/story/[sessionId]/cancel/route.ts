// DELETE /api/story/[sessionId]/cancel: cancels an unfinished story of the signed-in
// user (409 when finished; 401 signed out; 404 unknown or another user's).
import { RUN_FINISHED } from '@/lib/story';
import { getEngine } from '@/lib/server/engine';
import { errorResponse, json, unknownSession } from '@/lib/server/http';
import { ownsStory, requireUser } from '@/lib/server/auth/guard';

export const dynamic = 'force-dynamic';

export async function DELETE(request: Request, { params }: { params: Promise<{ sessionId: string }> }): Promise<Response> {
  const { sessionId } = await params;
  const user = await requireUser(request);
  if (!user.ok) return user.response;
  try {
    const engine = await getEngine();
    const run = await engine.get(sessionId);
    if (!ownsStory(run, user.value)) return unknownSession(sessionId);
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
