// POST /api/story/generate: validates the input and starts a story run.
// 201 {sessionId, status, links}; 400 {errors: {field: message}} or {error}.
import { STORY_WORKFLOW } from '@/lib/story';
import { getEngine } from '@/lib/server/engine';
import { errorResponse, json, readJson } from '@/lib/server/http';
import { checkStoryInput } from '@/lib/server/validate';

export const dynamic = 'force-dynamic';

export async function POST(request: Request): Promise<Response> {
  const body = await readJson(request);
  if (!body.ok) return body.response;
  const checked = checkStoryInput(body.value);
  if (!checked.ok) return json({ errors: checked.errors }, 400);
  try {
    const engine = await getEngine();
    const run = await engine.start(STORY_WORKFLOW, checked.value);
    return json(
      {
        sessionId: run.id,
        status: run.status,
        links: { view: `/story/${run.id}`, status: `/api/story/${run.id}/status`, events: `/api/events/${run.id}` },
      },
      201,
    );
  } catch (e) {
    return errorResponse(e);
  }
}
