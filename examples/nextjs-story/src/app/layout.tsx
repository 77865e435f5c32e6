import type { Metadata } from 'next';
import Link from 'next/link';
import './globals.css';

export const metadata: Metadata = {
  title: 'storyloom stories',
  description: 'Multi-page stories written page by page, live, on a durable storyloom engine',
};

export default function RootLayout({ children }: { children: React.ReactNode }) {
  return (
    <html lang="en">
      <body>
        <header className="top">
          <Link href="/" className="brand">storyloom stories</Link>
          <nav>
            <Link href="/">New story</Link>
            <Link href="/stories">Library</Link>
            <a href="/api/health">Health</a>
          </nav>
        </header>
        <main>{children}</main>
      </body>
    </html>
  );
}
