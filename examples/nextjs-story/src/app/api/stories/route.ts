// GET /api/stories: the library, newest first.
import { getEngine } from '@/lib/server/engine';
import { errorResponse, json } from '@/lib/server/http';
import { listStories } from '@/lib/server/stories';

export const dynamic = 'force-dynamic';

export async function GET(): Promise<Response> {
  try {
    return json({ stories: await listStories(await getEngine()) });
  } catch (e) {
    return errorResponse(e);
  }
}
