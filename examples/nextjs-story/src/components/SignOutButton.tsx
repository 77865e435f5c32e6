'use client';
// Ends the session and goes to the sign-in page.
import { useRouter } from 'next/navigation';

export function SignOutButton() {
  const router = useRouter();
  async function signOut() {
    await fetch('/api/auth/signout', { method: 'POST' });
    router.push('/signin');
    router.refresh();
  }
  return (
    <button type="button" className="link" onClick={signOut} data-testid="signout">
      Sign out
    </button>
  );
}
