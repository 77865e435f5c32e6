// GET /api/events/[sessionId]: the story's events as server-sent events.
// Resumes after the Last-Event-ID header (a browser reconnecting) or the
// `after` query parameter (the live view's first connection, after its
// snapshot); closes when the client goes away, the run has finished or the
// server stops (lib/server/shutdown.ts).
// Only the signed-in owner's stories: 401 signed out, 404 for another user's.
import { getEngine } from '@/lib/server/engine';
import { errorResponse, json, unknownSession } from '@/lib/server/http';
import { ownsStory, requireUser } from '@/lib/server/auth/guard';
import { shutdownSignal } from '@/lib/server/shutdown';

export const dynamic = 'force-dynamic';

export async function GET(request: Request, { params }: { params: Promise<{ sessionId: string }> }): Promise<Response> {
  const { sessionId } = await params;
  const user = await requireUser(request);
  if (!user.ok) return user.response;
  const raw = request.headers.get('last-event-id') || new URL(request.url).searchParams.get('after') || '0';
  if (!/^\d+$/.test(raw)) return json({ error: `the event id to resume after must be a whole number, got '${raw}'` }, 400);
  try {
    const engine = await getEngine();
    const run = await engine.get(sessionId);
    if (!ownsStory(run, user.value)) return unknownSession(sessionId);
    const signal = AbortSignal.any([request.signal, shutdownSignal()]);
    return engine.sseResponse(sessionId, { lastEventId: raw, signal, retryMs: 1000 });
  } catch (e) {
    if ((e as { code?: string }).code === 'not_found') return unknownSession(sessionId);
    return errorResponse(e);
  }
}
