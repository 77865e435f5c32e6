// Sign in; `next` is where to go afterwards.
import Link from 'next/link';
import { AuthForm } from '@/components/AuthForm';

export const dynamic = 'force-dynamic';

export default async function SignInPage({ searchParams }: { searchParams: Promise<{ next?: string }> }) {
  const { next = '/' } = await searchParams;
  return (
    <>
      <h1>Sign in</h1>
      <AuthForm mode="signin" next={next} />
      <p>
        No account yet? <Link href={`/signup?next=${encodeURIComponent(next)}`}>Create one</Link>.
      </p>
    </>
  );
}
