// GET /api/auth/me: {user: {username}} when signed in, else 401.
import { signedInUser } from '@/lib/server/auth/session';
import { json } from '@/lib/server/http';

export const dynamic = 'force-dynamic';

export async function GET(): Promise<Response> {
  const user = await signedInUser();
  if (!user) return json({ error: 'not signed in' }, 401);
  return json({ user: { username: user.username } });
}
