// GET /api/story/[sessionId]/status: the run, its progress, outline and finished pages.
import { progressOf, type StoryInput } from '@/lib/story';
import { getEngine } from '@/lib/server/engine';
import { errorResponse, json, unknownSession } from '@/lib/server/http';
import { isStory } from '@/lib/server/stories';

export const dynamic = 'force-dynamic';

export async function GET(_request: Request, { params }: { params: Promise<{ sessionId: string }> }): Promise<Response> {
  const { sessionId } = await params;
  try {
    const engine = await getEngine();
    const snap = await engine.snapshot(sessionId);
    if (!isStory(snap.run)) return unknownSession(sessionId);
    const input = snap.run.input as StoryInput;
    const artifacts = Object.fromEntries(snap.artifacts.map((a) => [a.key, a.value]));
    const pages = Object.keys(artifacts)
      .filter((k) => k.startsWith('page/'))
      .map((k) => ({ page: Number(k.slice(5)), ...(artifacts[k] as object) }))
      .sort((a, b) => a.page - b.page);
    return json({
      sessionId,
      status: snap.run.status,
      input,
      progress: progressOf(snap.run.status, snap.run.progress, input.pages),
      outline: artifacts.outline ?? null,
      pages,
      story: artifacts.story ?? null,
      error: snap.run.error,
      lastEventId: snap.lastEventId,
      createdAtMs: snap.run.createdAtMs,
      finishedAtMs: snap.run.finishedAtMs,
    });
  } catch (e) {
    if ((e as { code?: string }).code === 'not_found') return unknownSession(sessionId);
    return errorResponse(e);
  }
}
