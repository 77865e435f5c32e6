// GET /api/story/[sessionId]/picture/[page]?v=VERSION: page N's picture
// (image/png, image/jpeg or image/webp), the latest without ?v. ETag is the
// picture's sha256; If-None-Match with it gets 304. Cache-Control: private,
// for a year with ?v, revalidated without (picture-response.ts).
// 400 a malformed page or version; 401 signed out; 404 unknown or another
// user's story, or no such picture.
import { getEngine } from '@/lib/server/engine';
import { errorResponse, json, unknownSession } from '@/lib/server/http';
import { ownedRun, requireUser } from '@/lib/server/auth/guard';
import { pictureResponse, positiveInt } from '@/lib/server/picture-response';

export const dynamic = 'force-dynamic';

export async function GET(request: Request, { params }: { params: Promise<{ sessionId: string; page: string }> }): Promise<Response> {
  const { sessionId, page: rawPage } = await params;
  const user = await requireUser(request);
  if (!user.ok) return user.response;
  const page = positiveInt(rawPage);
  if (page === null) return json({ error: `the page must be a whole number from 1, got '${rawPage}'` }, 400);
  const rawVersion = new URL(request.url).searchParams.get('v');
  const version = rawVersion === null ? null : positiveInt(rawVersion);
  if (rawVersion !== null && version === null) return json({ error: `v (the picture's version) must be a whole number from 1, got '${rawVersion}'` }, 400);
  try {
    const engine = await getEngine();
    const owned = await ownedRun(engine, sessionId, user.value);
    if (!owned.ok) return owned.response;
    return await pictureResponse(engine, request, sessionId, page, version);
  } catch (e) {
    if ((e as { code?: string }).code === 'not_found') return unknownSession(sessionId);
    return errorResponse(e);
  }
}
