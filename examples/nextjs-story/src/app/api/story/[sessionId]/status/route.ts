// GET /api/story/[sessionId]/status: the run, its progress, outline, finished pages and pictures.
// 401 signed out; 404 unknown or another user's story.
import { pageNumberOf, pictureNumberOf, pictureUrl, progressOf, type StoryInput } from '@/lib/story';
import { getEngine } from '@/lib/server/engine';
import { errorResponse, json, unknownSession } from '@/lib/server/http';
import { ownsStory, requireUser } from '@/lib/server/auth/guard';

export const dynamic = 'force-dynamic';

export async function GET(request: Request, { params }: { params: Promise<{ sessionId: string }> }): Promise<Response> {
  const { sessionId } = await params;
  const user = await requireUser(request);
  if (!user.ok) return user.response;
  try {
    const engine = await getEngine();
    const snap = await engine.snapshot(sessionId);
    if (!ownsStory(snap.run, user.value)) return unknownSession(sessionId);
    const input = snap.run.input as StoryInput;
    const artifacts = Object.fromEntries(snap.artifacts.map((a) => [a.key, a.value]));
    const pages = Object.keys(artifacts)
      .filter((k) => pageNumberOf(k) !== null)
      .map((k) => ({ page: pageNumberOf(k)!, ...(artifacts[k] as object) }))
      .sort((a, b) => a.page - b.page);
    // The pictures drawn so far (binary artifacts page/N/picture): where to get each.
    const pictures = snap.artifacts
      .filter((a) => a.contentType !== undefined && pictureNumberOf(a.key) !== null)
      .map((a) => {
        const page = pictureNumberOf(a.key)!;
        const { size, sha256 } = a.value as { size: number; sha256: string };
        return { page, version: a.version, contentType: a.contentType, size, sha256, url: pictureUrl(sessionId, page, a.version) };
      })
      .sort((a, b) => a.page - b.page);
    return json({
      sessionId,
      status: snap.run.status,
      input,
      progress: progressOf(snap.run.status, snap.run.progress, input.pages),
      outline: artifacts.outline ?? null,
      pages,
      pictures,
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
