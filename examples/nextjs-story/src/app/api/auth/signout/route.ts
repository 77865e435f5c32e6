// POST /api/auth/signout: ends the session (the cookie is cleared).
import { sameOrigin } from '@/lib/server/auth/guard';
import { session } from '@/lib/server/auth/session';
import { json } from '@/lib/server/http';

export const dynamic = 'force-dynamic';

export async function POST(request: Request): Promise<Response> {
  const refused = sameOrigin(request);
  if (refused) return refused;
  (await session()).destroy();
  return json({ signedOut: true });
}
