// Accounts of the story app, kept by the app (not in the engine's store): a
// SQLite file through better-sqlite3, STORY_ACCOUNTS_DB (default
// ./accounts.db, beside where the server starts). Passwords are stored only
// as argon2id hashes (@node-rs/argon2, its recommended parameters); the engine
// only ever sees a user's id, as the owner of their runs.
import { hash, verify } from '@node-rs/argon2';
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import path from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';

// A native addon: loaded with Node's require at run time, never bundled (see ../storyloom.ts).
const requireFromApp = createRequire(path.join(process.cwd(), 'package.json'));
const Database = requireFromApp('better-sqlite3') as typeof BetterSqlite3;

export interface User {
  /** A random id: the owner of the user's runs in the engine. */
  id: string;
  username: string;
}

export type AccountResult = { ok: true; user: User } | { ok: false; status: number; errors: Record<string, string> };

const USERNAME = /^[a-z0-9][a-z0-9_.-]{2,31}$/;
export const MIN_PASSWORD = 8;
const MAX_PASSWORD = 200;

export function accountsPath(): string {
  return process.env.STORY_ACCOUNTS_DB || './accounts.db';
}

const holder = globalThis as typeof globalThis & { __storyAccounts?: BetterSqlite3.Database };

function db(): BetterSqlite3.Database {
  if (!holder.__storyAccounts) {
    const d = new Database(accountsPath());
    d.pragma('journal_mode = WAL');
    d.exec(`CREATE TABLE IF NOT EXISTS users (
      id TEXT PRIMARY KEY,
      username TEXT NOT NULL UNIQUE,
      password_hash TEXT NOT NULL,
      created_at INTEGER NOT NULL
    )`);
    holder.__storyAccounts = d;
  }
  return holder.__storyAccounts;
}

/** Field errors for a sign-up or sign-in body; the password is never echoed. */
export function checkCredentials(body: unknown): { ok: true; username: string; password: string } | { ok: false; errors: Record<string, string> } {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return { ok: false, errors: { body: 'must be a JSON object {username, password}' } };
  const o = body as Record<string, unknown>;
  const errors: Record<string, string> = {};
  for (const key of Object.keys(o)) if (key !== 'username' && key !== 'password') errors[key] = 'unknown field (expected username, password)';
  const username = typeof o.username === 'string' ? o.username.trim().toLowerCase() : '';
  if (typeof o.username !== 'string' || username === '') errors.username = 'is empty: choose a user name';
  else if (!USERNAME.test(username)) errors.username = 'must be 3 to 32 letters, digits, dots, dashes or underscores, starting with a letter or digit';
  const password = typeof o.password === 'string' ? o.password : '';
  if (typeof o.password !== 'string' || password === '') errors.password = 'is empty';
  else if (password.length < MIN_PASSWORD) errors.password = `must be at least ${MIN_PASSWORD} characters`;
  else if (password.length > MAX_PASSWORD) errors.password = `must be at most ${MAX_PASSWORD} characters`;
  if (Object.keys(errors).length > 0) return { ok: false, errors };
  return { ok: true, username, password };
}

export async function createAccount(username: string, password: string): Promise<AccountResult> {
  const passwordHash = await hash(password); // argon2id
  const id = randomUUID();
  try {
    db().prepare('INSERT INTO users (id, username, password_hash, created_at) VALUES (?, ?, ?, ?)').run(id, username, passwordHash, Date.now());
  } catch (e) {
    if ((e as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') {
      return { ok: false, status: 409, errors: { username: `'${username}' is taken: choose another` } };
    }
    throw e;
  }
  return { ok: true, user: { id, username } };
}

// Verified when the user name is unknown, so that the answer takes as long
// either way and does not tell which names exist.
let decoy: Promise<string> | undefined;

export async function checkPassword(username: string, password: string): Promise<User | null> {
  const row = db().prepare('SELECT id, username, password_hash FROM users WHERE username = ?').get(username) as
    | { id: string; username: string; password_hash: string }
    | undefined;
  if (!row) {
    decoy ??= hash(randomUUID());
    await verify(await decoy, password).catch(() => false);
    return null;
  }
  return (await verify(row.password_hash, password)) ? { id: row.id, username: row.username } : null;
}

/** The user of a session's id, or null when the account is gone. */
export function userById(id: string): User | null {
  const row = db().prepare('SELECT id, username FROM users WHERE id = ?').get(id) as User | undefined;
  return row ?? null;
}
