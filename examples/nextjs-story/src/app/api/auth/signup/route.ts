// POST /api/auth/signup {username, password}: creates an account and signs it
// in. 201 {user}; 400 {errors}; 409 {errors: {username}} when the name is taken.
import { checkCredentials, createAccount } from '@/lib/server/auth/accounts';
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
  const checked = checkCredentials(body.value);
  if (!checked.ok) return json({ errors: checked.errors }, 400);
  const created = await createAccount(checked.username, checked.password);
  if (!created.ok) return json({ errors: created.errors }, created.status);
  const s = await session();
  s.userId = created.user.id;
  await s.save();
  return json({ user: { username: created.user.username } }, 201);
}
