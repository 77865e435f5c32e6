import type { Metadata } from 'next';
import Link from 'next/link';
import { SignOutButton } from '@/components/SignOutButton';
import { signedInUser } from '@/lib/server/auth/session';
import './globals.css';

export const metadata: Metadata = {
  title: 'storyloom stories',
  description: 'Multi-page stories written page by page, live, on a durable storyloom engine',
};

export default async function RootLayout({ children }: { children: React.ReactNode }) {
  const user = await signedInUser();
  return (
    <html lang="en">
      <body>
        <header className="top">
          <Link href="/" className="brand">storyloom stories</Link>
          <nav>
            <Link href="/">New story</Link>
            <Link href="/stories">Library</Link>
            <a href="/api/health">Health</a>
            {user ? (
              <span className="user" data-testid="user">
                {user.username} <SignOutButton />
              </span>
            ) : (
              <Link href="/signin">Sign in</Link>
            )}
          </nav>
        </header>
        <main>{children}</main>
      </body>
    </html>
  );
}
