// GET /api/stories: the signed-in user's library, newest first (401 signed out).
import { requireUser } from '@/lib/server/auth/guard';
import { getEngine } from '@/lib/server/engine';
import { errorResponse, json } from '@/lib/server/http';
import { listStories } from '@/lib/server/stories';

export const dynamic = 'force-dynamic';

export async function GET(request: Request): Promise<Response> {
  const user = await requireUser(request);
  if (!user.ok) return user.response;
  try {
    return json({ stories: await listStories(await getEngine(), user.value.id) });
  } catch (e) {
    return errorResponse(e);
  }
}
