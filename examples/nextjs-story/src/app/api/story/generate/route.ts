// POST /api/story/generate: starts a story of the signed-in user.
// 201 {sessionId, status, links}; 400 {errors: {field: message}} or {error};
// 401 signed out; 403 cross-origin; 413 body too large; 429 over the user's
// limits (Retry-After, {error, retryAfterSeconds, retryAt}).
import { STORY_WORKFLOW } from '@/lib/story';
import { requireUser } from '@/lib/server/auth/guard';
import { getEngine } from '@/lib/server/engine';
import { errorResponse, json, readJson } from '@/lib/server/http';
import { storyBudget } from '@/lib/server/story-budget';
import { checkUserLimits, oneAtATime, tooManyStories, userLimits } from '@/lib/server/user-limits';
import { checkStoryInput } from '@/lib/server/validate';

export const dynamic = 'force-dynamic';

export async function POST(request: Request): Promise<Response> {
  const user = await requireUser(request);
  if (!user.ok) return user.response;
  const body = await readJson(request);
  if (!body.ok) return body.response;
  const checked = checkStoryInput(body.value);
  if (!checked.ok) return json({ errors: checked.errors }, 400);
  try {
    const engine = await getEngine();
    return await oneAtATime(user.value.id, async () => {
      const refusal = await checkUserLimits(engine, user.value, userLimits());
      if (refusal) return tooManyStories(refusal);
      // The owner is in the input too: the engine's per-user limits key on it.
      const input = { ...checked.value, owner: user.value.id };
      const run = await engine.start(STORY_WORKFLOW, input, { owner: user.value.id, budget: storyBudget(input) });
      return json(
        {
          sessionId: run.id,
          status: run.status,
          links: { view: `/story/${run.id}`, status: `/api/story/${run.id}/status`, events: `/api/events/${run.id}` },
        },
        201,
      );
    });
  } catch (e) {
    return errorResponse(e);
  }
}
