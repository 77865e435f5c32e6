// Create an account (and sign in with it).
import Link from 'next/link';
import { AuthForm } from '@/components/AuthForm';

export const dynamic = 'force-dynamic';

export default async function SignUpPage({ searchParams }: { searchParams: Promise<{ next?: string }> }) {
  const { next = '/' } = await searchParams;
  return (
    <>
      <h1>Create an account</h1>
      <AuthForm mode="signup" next={next} />
      <p>
        Have one? <Link href={`/signin?next=${encodeURIComponent(next)}`}>Sign in</Link>.
      </p>
    </>
  );
}
