// POST /api/story/[sessionId]/picture/[page]/retry: draws again the picture of
// page N of a finished story that has "no picture": the run is rewound to that
// page's image step (page/N/picture). Every page's text comes before the
// pictures, so no text is written again, and a picture already drawn is kept
// (story-pictures.ts). 202 {sessionId, page, status}; the live view follows it.
// 400 a malformed page; 401 signed out; 403 another origin; 404 unknown or
// another user's story, or no such page; 409 not finished, or the page has its picture.
import type { StoryArtifact } from '@/lib/story';
import { getEngine } from '@/lib/server/engine';
import { errorResponse, json, unknownSession } from '@/lib/server/http';
import { ownedRun, requireUser } from '@/lib/server/auth/guard';
import { positiveInt } from '@/lib/server/picture-response';
import { pictureKey } from '@/lib/server/story-pictures';

export const dynamic = 'force-dynamic';

export async function POST(request: Request, { params }: { params: Promise<{ sessionId: string; page: string }> }): Promise<Response> {
  const { sessionId, page: rawPage } = await params;
  const user = await requireUser(request);
  if (!user.ok) return user.response;
  const page = positiveInt(rawPage);
  if (page === null) return json({ error: `the page must be a whole number from 1, got '${rawPage}'` }, 400);
  try {
    const engine = await getEngine();
    const owned = await ownedRun(engine, sessionId, user.value);
    if (!owned.ok) return owned.response;
    if (owned.value.status !== 'completed') {
      return json({ error: `story '${sessionId}' is ${owned.value.status}: a picture is retried once the story has finished` }, 409);
    }
    const snap = await engine.snapshot(sessionId);
    const story = snap.artifacts.find((a) => a.key === 'story' && a.contentType === undefined)?.value as StoryArtifact | undefined;
    const told = story?.pages.find((p) => p.page === page);
    if (!told) return json({ error: `story '${sessionId}' has no page ${page}` }, 404);
    if (told.picture !== null) return json({ error: `page ${page} of story '${sessionId}' already has its picture` }, 409);
    await engine.rewind(sessionId, pictureKey(page));
    return json({ sessionId, page, status: (await engine.get(sessionId)).status }, 202);
  } catch (e) {
    if ((e as { code?: string }).code === 'not_found') return unknownSession(sessionId);
    return errorResponse(e);
  }
}
