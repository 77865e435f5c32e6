// Pages of signed-in users: the user, or a redirect to the sign-in page that
// comes back to `path` afterwards.
import { redirect } from 'next/navigation';
import type { User } from './accounts';
import { signedInUser } from './session';

export async function pageUser(path: string): Promise<User> {
  const user = await signedInUser();
  if (!user) redirect(`/signin?next=${encodeURIComponent(path)}`);
  return user;
}
