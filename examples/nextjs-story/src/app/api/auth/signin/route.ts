// POST /api/auth/signin {username, password}: 200 {user} and a session
// cookie; 401 when the name or the password is wrong (not saying which).
import { checkPassword } from '@/lib/server/auth/accounts';
import { sameOrigin } from '@/lib/server/auth/guard';
import { session } from '@/lib/server/auth/session';
import { json } from '@/lib/server/http';
import { readJsonLimited } from '@/lib/server/request-body';

export const dynamic = 'force-dynamic';

export async function POST(request: Request): Promise<Response> {
  const refused = sameOrigin(request);
  if (refused) return refused;
  const body = await readJsonLimited(request);
  if (!body.ok) return body.response;
  const o = (typeof body.value === 'object' && body.value !== null ? body.value : {}) as Record<string, unknown>;
  const errors: Record<string, string> = {};
  if (typeof o.username !== 'string' || o.username.trim() === '') errors.username = 'is empty';
  if (typeof o.password !== 'string' || o.password === '') errors.password = 'is empty';
  if (Object.keys(errors).length > 0) return json({ errors }, 400);
  const user = await checkPassword((o.username as string).trim().toLowerCase(), o.password as string);
  if (!user) return json({ error: 'wrong user name or password' }, 401);
  const s = await session();
  s.userId = user.id;
  await s.save();
  return json({ user: { username: user.username } });
}
