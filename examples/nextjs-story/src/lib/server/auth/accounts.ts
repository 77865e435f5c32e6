// Accounts of the story app, kept by the app (not in the engine's store): a
// JSON file, STORY_ACCOUNTS_FILE (default ./accounts.json, beside where the
// server starts), mode 0600, rewritten whole and renamed into place on each
// sign-up, so a crash leaves the old or the new file, never half of one.
// Passwords are stored only as argon2id hashes (@node-rs/argon2, its
// recommended parameters, prebuilt: nothing to compile). The engine only
// ever sees a user's id, as the owner of their runs.
//
// One server process owns the file (the app runs one); several processes
// sharing accounts would need a database (SQLite, PostgreSQL) instead.
import { hash, verify } from '@node-rs/argon2';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';

export interface User {
  /** A random id: the owner of the user's runs in the engine. */
  id: string;
  username: string;
}

interface Account extends User {
  passwordHash: string;
  createdAtMs: number;
}

export type AccountResult = { ok: true; user: User } | { ok: false; status: number; errors: Record<string, string> };

const USERNAME = /^[a-z0-9][a-z0-9_.-]{2,31}$/;
export const MIN_PASSWORD = 8;
const MAX_PASSWORD = 200;

export function accountsPath(): string {
  return process.env.STORY_ACCOUNTS_FILE || './accounts.json';
}

interface Store {
  byName: Map<string, Account>;
  byId: Map<string, Account>;
  /** Writes one after another: each waits for the one before. */
  writing: Promise<void>;
}

const holder = globalThis as typeof globalThis & { __storyAccounts?: Store };

function store(): Store {
  if (!holder.__storyAccounts) {
    const file = accountsPath();
    const accounts: Account[] = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')).accounts ?? []) : [];
    holder.__storyAccounts = {
      byName: new Map(accounts.map((a) => [a.username, a])),
      byId: new Map(accounts.map((a) => [a.id, a])),
      writing: Promise.resolve(),
    };
  }
  return holder.__storyAccounts;
}

async function save(s: Store): Promise<void> {
  const file = accountsPath();
  const text = JSON.stringify({ accounts: [...s.byId.values()] });
  const write = s.writing.then(async () => {
    const temporary = `${file}.${process.pid}.tmp`;
    await writeFile(temporary, text, { mode: 0o600 });
    await rename(temporary, file);
  });
  s.writing = write.catch(() => undefined);
  await write;
}

/** Field errors for a sign-up body; the password is never echoed. */
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
  const s = store();
  // Checked after the (slow) hash, with no await before the insert: two sign-ups of one name cannot both pass.
  if (s.byName.has(username)) return { ok: false, status: 409, errors: { username: `'${username}' is taken: choose another` } };
  const account: Account = { id: randomUUID(), username, passwordHash, createdAtMs: Date.now() };
  s.byName.set(username, account);
  s.byId.set(account.id, account);
  try {
    await save(s);
  } catch (e) {
    s.byName.delete(username);
    s.byId.delete(account.id);
    throw e;
  }
  return { ok: true, user: { id: account.id, username } };
}

// Verified when the user name is unknown, so that the answer takes as long
// either way and does not tell which names exist.
let decoy: Promise<string> | undefined;

export async function checkPassword(username: string, password: string): Promise<User | null> {
  const account = store().byName.get(username);
  if (!account) {
    decoy ??= hash(randomUUID());
    await verify(await decoy, password).catch(() => false);
    return null;
  }
  return (await verify(account.passwordHash, password)) ? { id: account.id, username: account.username } : null;
}

/** The user named `username`, or null when there is no such account. */
export function userByName(username: string): User | null {
  const account = store().byName.get(username);
  return account ? { id: account.id, username: account.username } : null;
}

/** The user of a session's id, or null when the account is gone. */
export function userById(id: string): User | null {
  const account = store().byId.get(id);
  return account ? { id: account.id, username: account.username } : null;
}
