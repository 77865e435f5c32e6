// The signed-in user's session: an iron-session cookie (sealed and signed
// with SESSION_SECRET, httpOnly, SameSite=Lax, Secure unless
// STORY_COOKIE_SECURE=0, 14 days). Without SESSION_SECRET a random secret is
// made once and kept in a file beside the accounts database (mode 0600), so
// sessions survive a restart; production sets SESSION_SECRET (32+ characters).
import { getIronSession, type SessionOptions } from 'iron-session';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cookies } from 'next/headers';
import { accountsPath, userById, type User } from './accounts';

export interface SessionData {
  userId?: string;
}

export const SESSION_COOKIE = 'story_session';

function secret(): string {
  const configured = process.env.SESSION_SECRET;
  if (configured) {
    if (configured.length < 32) throw new Error('SESSION_SECRET must be at least 32 characters');
    return configured;
  }
  const file = `${accountsPath()}.session-secret`;
  if (!existsSync(file)) writeFileSync(file, randomBytes(32).toString('hex'), { mode: 0o600, flag: 'wx' });
  return readFileSync(file, 'utf8').trim();
}

let options: SessionOptions | undefined;

function sessionOptions(): SessionOptions {
  options ??= {
    password: secret(),
    cookieName: SESSION_COOKIE,
    ttl: 14 * 24 * 3600,
    cookieOptions: {
      httpOnly: true,
      sameSite: 'lax',
      secure: process.env.STORY_COOKIE_SECURE ? process.env.STORY_COOKIE_SECURE !== '0' : process.env.NODE_ENV === 'production',
      path: '/',
    },
  };
  return options;
}

export async function session() {
  return getIronSession<SessionData>(await cookies(), sessionOptions());
}

/** The signed-in user, or null (no cookie, a bad one, or an account that is gone). */
export async function signedInUser(): Promise<User | null> {
  const s = await session();
  return s.userId ? userById(s.userId) : null;
}
