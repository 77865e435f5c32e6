// The app on PostgreSQL: two `next start` servers with one STORYLOOM_STORE
// URL (and one accounts file, so one user is signed in on both). A story
// started on the first runs to completion, executed by whichever server's
// engine claims it, while the second server streams it: its event stream
// ends with run.completed, in id order, with exactly the events the first
// server's stream shows, and its status route shows every page.
// The database: STORYLOOM_TEST_PG_URL (scripts/test.sh starts a throwaway
// cluster; a fresh schema is made with psql), else a throwaway cluster of
// this test's own (scripts/pg_test_cluster.sh), stopped at the end.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { apiAs } from './auth.mjs';
import { appDir, startServer, storeDir } from './server.mjs';

const clusterScript = path.join(appDir, '..', '..', 'scripts', 'pg_test_cluster.sh');
const dir = storeDir(); // the accounts file both servers share
let clusterDir;
let store;
const servers = [];

before(async () => {
  const shared = process.env.STORYLOOM_TEST_PG_URL;
  if (shared) {
    const schema = `nextjs_${process.pid}_${Date.now()}`;
    execFileSync('psql', [shared, '-qc', `CREATE SCHEMA ${schema}`]);
    store = `${shared}${shared.includes('?') ? '&' : '?'}options=-csearch_path%3D${schema}`;
  } else {
    clusterDir = mkdtempSync(path.join(tmpdir(), 'nextjs-story-pg-'));
    store = execFileSync(clusterScript, ['start', clusterDir], { encoding: 'utf8' }).trim();
  }
});

after(async () => {
  for (const s of servers) await s.stop();
  rmSync(dir, { recursive: true, force: true });
  if (clusterDir) execFileSync(clusterScript, ['stop', clusterDir]);
});

async function signUp(base, username) {
  const response = await fetch(`${base}/api/auth/signup`, {
    method: 'POST',
    headers: { origin: base, 'content-type': 'application/json' },
    body: JSON.stringify({ username, password: 'correct horse battery staple' }),
  });
  assert.equal(response.status, 201, await response.text());
  return response.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
}

/**
 * The events of a server-sent stream until it closes: [{id, event, data}].
 * Live token chunks come without an id; the stored chunk event that follows
 * them comes as an id alone (a cursor), its text already delivered.
 */
async function readEvents(base, cookie, id, timeoutMs) {
  const response = await fetch(`${base}/api/events/${id}?after=0`, {
    headers: { cookie },
    signal: AbortSignal.timeout(timeoutMs),
  });
  assert.equal(response.status, 200);
  const events = [];
  let buffer = '';
  const decoder = new TextDecoder();
  for await (const bytes of response.body) {
    buffer += decoder.decode(bytes, { stream: true });
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const e = {};
      for (const line of block.split('\n')) {
        const colon = line.indexOf(':');
        if (colon <= 0) continue; // a comment (heartbeat) or an empty line
        const field = line.slice(0, colon);
        const value = line.slice(colon + 1).replace(/^ /, '');
        if (field === 'data') e.data = e.data === undefined ? value : `${e.data}\n${value}`;
        else e[field] = value;
      }
      if (e.id !== undefined || e.event !== undefined) events.push(e);
    }
  }
  return events;
}

/** The store URL with a password in it (the test cluster trusts 127.0.0.1, so it is not checked). */
function withPassword(url, password) {
  const u = new URL(url);
  if (!u.username) u.username = 'storyloom';
  u.password = password;
  return u.toString();
}

test('two app servers on one PostgreSQL database: a story started on one is followed live from the other', async () => {
  // The first server's URL carries a password: its log line must not print it.
  const password = 'pw-never-in-logs-7f3a';
  servers.push(await startServer({ dir, env: { STORYLOOM_STORE: withPassword(store, password) } }));
  const cookie = await signUp(servers[0].base, 'pg-writer');
  // Started after the sign-up: a server reads the accounts file once.
  servers.push(await startServer({ dir, env: { STORYLOOM_STORE: store } }));
  const [first, second] = servers;
  assert.match(first.output(), /engine launched on postgresql:\/\/storyloom:\*\*\*@/);
  assert.doesNotMatch(first.output(), new RegExp(password));
  assert.match(second.output(), /engine launched on postgresql:\/\//);

  const started = await apiAs(first.base, cookie)('POST', '/api/story/generate', { topic: 'a lighthouse keeper', pages: 2, quality: 0 });
  assert.equal(started.status, 201, started.text);
  const id = started.json.sessionId;

  // The second server follows from the first event while the story is written.
  const live = await readEvents(second.base, cookie, id, 120000);
  assert.ok(live.some((e) => e.event === 'chunk'), `the page text streamed to the second server: ${live.map((e) => e.event).join(' ')}`);
  const numbered = live.filter((e) => e.id !== undefined);
  const ids = numbered.map((e) => BigInt(e.id));
  for (let i = 1; i < ids.length; ++i) assert.ok(ids[i] > ids[i - 1], `event ${ids[i]} came after ${ids[i - 1]}`);
  assert.equal(numbered[0].event, 'run.created');
  assert.equal(numbered.at(-1).event, 'run.completed');

  // Everything stored, as the first server tells it, is what the second saw
  // live (a cursor stands for a stored chunk).
  const stored = await readEvents(first.base, cookie, id, 30000);
  assert.deepEqual(stored.map((e) => [e.id, e.event]), numbered.map((e) => [e.id, e.event ?? 'chunk']));

  const status = await apiAs(second.base, cookie)('GET', `/api/story/${id}/status`);
  assert.equal(status.status, 200, status.text);
  assert.equal(status.json.status, 'completed');
  assert.equal(status.json.pages.length, 2);
  assert.equal(status.json.story.pages.length, 2);
  assert.equal(String(status.json.lastEventId), numbered.at(-1).id);
});
