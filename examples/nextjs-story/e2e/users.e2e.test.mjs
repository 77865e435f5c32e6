// Two signed-in users on one app, in two browsers (Debian's Chromium through
// playwright-core) against `next start`: each sees only their own stories;
// the other's story is a 404 on every route, by id; signed-out and
// cross-origin requests are refused; a third user's 20 parallel starts hit
// the per-user limit (429 with Retry-After), counted in the store afterwards;
// bodies over the size limit are 413s that leave the server's memory flat.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Engine } from 'storyloom';
import { apiAs, signUp } from './auth.mjs';
import { screenshotsDir, startBrowser, startServer } from './server.mjs';

const PER_HOUR = 3;
let server;
let browserA;
let browserB;
let pageA;
let pageB;
let apiA;
let apiB;
let anonymous;
let storyOfA;

before(async () => {
  mkdirSync(screenshotsDir, { recursive: true });
  server = await startServer({ wordDelayMs: 5, env: { STORY_LIMIT_PER_HOUR: String(PER_HOUR), STORY_LIMIT_RUNNING: '10' } });
  [browserA, browserB] = [await startBrowser(), await startBrowser()];
  [pageA, pageB] = [await browserA.context.newPage(), await browserB.context.newPage()];
  apiA = apiAs(server.base, await signUp(pageA, server.base, 'ada'));
  apiB = apiAs(server.base, await signUp(pageB, server.base, 'bob'));
  anonymous = apiAs(server.base, '');
  // A's story waits for its outline approval: it stays unfinished throughout.
  const r = await apiA('POST', '/api/story/generate', { topic: 'a heron who counts stars', pages: 1, quality: 0, approve_outline: true });
  assert.equal(r.status, 201, r.text);
  storyOfA = r.json.sessionId;
});

after(async () => {
  await browserA?.stop();
  await browserB?.stop();
  await server?.stop();
});

const shot = (page, name) => page.screenshot({ path: path.join(screenshotsDir, `${name}.png`), fullPage: true });

test('signed-out requests are refused and pages send to the sign-in page', async () => {
  for (const [method, p] of [
    ['GET', '/api/stories'],
    ['POST', '/api/story/generate'],
    ['GET', `/api/story/${storyOfA}/status`],
    ['GET', `/api/events/${storyOfA}`],
    ['POST', `/api/story/${storyOfA}/approve`],
    ['DELETE', `/api/story/${storyOfA}/cancel`],
  ]) {
    const r = await anonymous(method, p);
    assert.equal(r.status, 401, `${method} ${p}: ${r.text}`);
    assert.equal(r.json.error, 'sign in first: this needs a signed-in user');
  }
  const fresh = await startBrowser();
  try {
    const page = await fresh.context.newPage();
    await page.goto(`${server.base}/story/${storyOfA}`);
    assert.equal(new URL(page.url()).pathname, '/signin');
    assert.equal(new URL(page.url()).searchParams.get('next'), `/story/${storyOfA}`);
    await page.goto(`${server.base}/stories`);
    assert.equal(new URL(page.url()).pathname, '/signin');
  } finally {
    await fresh.stop();
  }
});

test("user B gets 404 for A's story on every route, by id, and lists only their own", async () => {
  for (const [method, p] of [
    ['GET', `/api/story/${storyOfA}/status`],
    ['GET', `/api/events/${storyOfA}`],
    ['POST', `/api/story/${storyOfA}/approve`],
    ['DELETE', `/api/story/${storyOfA}/cancel`],
  ]) {
    const r = await apiB(method, p);
    assert.equal(r.status, 404, `${method} ${p}: ${r.text}`);
    // The same answer as for a story that does not exist.
    assert.deepEqual(r.json, { error: `no story session '${storyOfA}'` });
  }
  const response = await pageB.goto(`${server.base}/story/${storyOfA}`);
  assert.equal(response.status(), 404);
  assert.equal((await pageB.goto(`${server.base}/story/${storyOfA}/read`)).status(), 404);
  await shot(pageB, 'users-b-sees-404');

  // B's approval and cancel changed nothing: A's story still waits.
  const a = await apiA('GET', `/api/story/${storyOfA}/status`);
  assert.equal(a.status, 200, a.text);
  assert.equal(a.json.progress.stage, 'awaiting_approval');

  const mine = await apiB('POST', '/api/story/generate', { topic: 'a badger who bakes', pages: 1, quality: 0 });
  assert.equal(mine.status, 201, mine.text);
  assert.deepEqual((await apiB('GET', '/api/stories')).json.stories.map((s) => s.id), [mine.json.sessionId]);
  assert.deepEqual((await apiA('GET', '/api/stories')).json.stories.map((s) => s.id), [storyOfA]);
  await pageB.goto(`${server.base}/stories`);
  await pageB.waitForSelector('[data-testid=library]');
  assert.deepEqual(await pageB.$$eval('tr[data-story-id]', (rows) => rows.map((r) => r.dataset.storyId)), [mine.json.sessionId]);
  // A's own page shows the story.
  assert.equal((await pageA.goto(`${server.base}/story/${storyOfA}`)).status(), 200);
  await pageA.waitForSelector('[data-testid=live-story]');
});

test('a write from another site is refused even with the session cookie', async () => {
  const r = await apiA('POST', '/api/story/generate', { topic: 'x', pages: 1 }, undefined, { origin: 'http://evil.example' });
  assert.equal(r.status, 403, r.text);
  assert.match(r.json.error, /^cross-origin request refused/);
  const noOrigin = await fetch(`${server.base}/api/auth/signout`, { method: 'POST' });
  assert.equal(noOrigin.status, 403);
});

test('sign-in: a wrong password is a 401 that does not say which part was wrong; sign-out ends the session', async () => {
  const wrong = await anonymous('POST', '/api/auth/signin', { username: 'ada', password: 'not the password' });
  assert.equal(wrong.status, 401);
  assert.deepEqual(wrong.json, { error: 'wrong user name or password' });
  const unknown = await anonymous('POST', '/api/auth/signin', { username: 'nobody-here', password: 'whatever123' });
  assert.deepEqual(unknown.json, wrong.json);
  const taken = await anonymous('POST', '/api/auth/signup', { username: 'ada', password: 'another password' });
  assert.equal(taken.status, 409);
  const empty = await anonymous('POST', '/api/auth/signup', { username: '', password: '' });
  assert.equal(empty.status, 400);
  assert.deepEqual(empty.json.errors, { username: 'is empty: choose a user name', password: 'is empty' });

  const fresh = await startBrowser();
  try {
    const page = await fresh.context.newPage();
    await page.goto(`${server.base}/signin`);
    await page.fill('[data-testid=signin-form] input[name=username]', 'ada');
    await page.fill('[data-testid=signin-form] input[name=password]', 'correct horse battery staple');
    await page.click('[data-testid=signin-form] button[type=submit]');
    await page.waitForSelector('[data-testid=user]');
    const cookies = await fresh.context.cookies(server.base);
    const session = cookies.find((c) => c.name === 'story_session');
    assert.ok(session, 'a session cookie');
    assert.equal(session.httpOnly, true);
    assert.equal(session.sameSite, 'Lax');
    const asAda = apiAs(server.base, cookies.map((c) => `${c.name}=${c.value}`).join('; '));
    assert.equal((await asAda('GET', '/api/stories')).status, 200);
    await page.click('[data-testid=signout]');
    await page.waitForURL(/\/signin$/);
    const after = await fresh.context.cookies(server.base);
    assert.equal(after.find((c) => c.name === 'story_session'), undefined);
  } finally {
    await fresh.stop();
  }
});

test('20 parallel starts of one user: the throttle admits exactly its limit, the rest get 429 with Retry-After', async () => {
  const browser = await startBrowser();
  let cid;
  try {
    const page = await browser.context.newPage();
    const apiC = apiAs(server.base, await signUp(page, server.base, 'cyd'));
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => apiC('POST', '/api/story/generate', { topic: `parallel story ${i}`, pages: 1, quality: 0 })),
    );
    const created = answers.filter((r) => r.status === 201);
    const refused = answers.filter((r) => r.status === 429);
    assert.equal(created.length, PER_HOUR, answers.map((r) => `${r.status} ${r.text}`).join('\n'));
    assert.equal(refused.length, 20 - PER_HOUR);
    for (const r of refused) {
      const retryAfter = Number(r.headers.get('retry-after'));
      assert.ok(retryAfter > 3500 && retryAfter <= 3600, `Retry-After ${retryAfter}`);
      assert.equal(r.json.error, `you have started ${PER_HOUR} stories in the last hour (the limit is ${PER_HOUR} an hour)`);
      assert.ok(Date.parse(r.json.retryAt) > Date.now());
    }
    cid = created[0].json.sessionId;

    // The form says when the user can start again.
    await page.goto(`${server.base}/`);
    await page.fill('input[name=topic]', 'one more');
    await page.fill('input[name=pages]', '1');
    await page.click('button[type=submit]');
    await page.waitForSelector('[data-error-for=form]');
    assert.match(await page.textContent('[data-error-for=form]'), /limit is 3 an hour.*You can start again at \d\d:\d\d/);
    await shot(page, 'users-limit');
  } finally {
    await browser.stop();
  }
  // Counted from the store: exactly PER_HOUR stories of that user exist.
  const reader = await Engine.open({ store: `sqlite:${server.dbPath}` });
  try {
    const owner = (await reader.get(cid)).owner;
    const runs = (await reader.list({ workflow: 'story', owner, limit: 1000 })).runs;
    assert.equal(runs.length, PER_HOUR);
  } finally {
    await reader.close();
  }
});

/** Resident memory (bytes) of every process of the server's process group (next start and its children). */
function serverRss() {
  let total = 0;
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const pgrp = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
      if (pgrp !== server.pid) continue;
      const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (rss) total += Number(rss[1]) * 1024;
    } catch {
      /* the process ended meanwhile */
    }
  }
  return total;
}

/** A 10 MB body sent in 64 KiB pieces with no Content-Length (chunked): the server cannot know its size in advance. */
function tenMegabytesChunked() {
  let sent = 0;
  const piece = new Uint8Array(64 * 1024).fill(0x61);
  return new ReadableStream({
    pull(controller) {
      if (sent >= 10 * 1024 * 1024) return controller.close();
      sent += piece.byteLength;
      controller.enqueue(piece);
    },
  });
}

test('a 10 MB body is a 413 without being held in memory; 1,000-level nesting is a 400', async () => {
  const big = 'x'.repeat(10 * 1024 * 1024);
  const declared = await apiA('POST', '/api/story/generate', undefined, JSON.stringify({ topic: big, pages: 1 }));
  assert.equal(declared.status, 413, declared.text.slice(0, 200));
  assert.equal(declared.json.error, 'the request body is over 65536 bytes (64 KiB): send less');

  const rssBefore = serverRss();
  const streamed = await Promise.all(
    [1, 2, 3].map(() =>
      fetch(`${server.base}/api/story/${storyOfA}/approve`, {
        method: 'POST',
        headers: { origin: server.base, cookie: apiA.cookie, 'content-type': 'application/json' },
        body: tenMegabytesChunked(),
        duplex: 'half',
      }).then(async (r) => ({ status: r.status, text: await r.text() })),
    ),
  );
  const rssAfter = serverRss();
  for (const r of streamed) assert.equal(r.status, 413, r.text.slice(0, 200));
  // 30 MB were sent; the server read at most 64 KiB of each before refusing it.
  const grewMb = (rssAfter - rssBefore) / 1024 / 1024;
  console.log(`server RSS ${Math.round(rssBefore / 1048576)} MB before three 10 MB bodies, ${Math.round(rssAfter / 1048576)} MB after`);
  assert.ok(grewMb < 20, `the server's memory grew by ${grewMb.toFixed(1)} MB`);

  const nested = '['.repeat(1000) + ']'.repeat(1000);
  const deep = await apiA('POST', '/api/story/generate', undefined, nested);
  assert.equal(deep.status, 400);
  assert.equal(deep.json.error, 'the request body nests arrays or objects deeper than 32 levels');
  const deepPages = await apiA('POST', '/api/story/generate', undefined, `{"topic":"t","pages":${nested}}`);
  assert.equal(deepPages.status, 400);
  const malformed = await apiA('POST', `/api/story/${storyOfA}/approve`, undefined, '{"outline": {"title": ');
  assert.equal(malformed.status, 400);
  assert.match(malformed.json.error, /^the request body is not valid JSON: /);
});

test('two parallel approvals: one 200, one 409 with what was approved; the other tab closes its panel', async () => {
  const r = await apiA('POST', '/api/story/generate', { topic: 'a wren who keeps time', pages: 1, quality: 0, approve_outline: true });
  assert.equal(r.status, 201, r.text);
  const id = r.json.sessionId;
  const second = await browserA.context.newPage();
  for (const tab of [pageA, second]) {
    await tab.goto(`${server.base}/story/${id}`);
    await tab.waitForSelector('[data-testid=approval]', { timeout: 30000 });
  }
  const answers = await Promise.all(
    ['First Title', 'Second Title'].map((title) => apiA('POST', `/api/story/${id}/approve`, { outline: { title } })),
  );
  assert.deepEqual(answers.map((a) => a.status).sort(), [200, 409], answers.map((a) => a.text).join('\n'));
  const won = answers.findIndex((a) => a.status === 200);
  const winner = ['First Title', 'Second Title'][won];
  const lost = answers[1 - won];
  assert.equal(lost.json.error, `story '${id}' was already approved`);
  assert.deepEqual(lost.json.approved, { approved: true, outline: { title: winner } });
  // Both open tabs hear of it from their event stream and close the panel.
  for (const tab of [pageA, second]) await tab.waitForSelector('[data-testid=approval]', { state: 'detached', timeout: 30000 });
  await pageA.waitForSelector('[data-testid=live-story][data-status=completed]', { timeout: 60000 });
  assert.equal(await pageA.textContent('h1'), winner);
  const done = await apiA('GET', `/api/story/${id}/status`);
  assert.equal(done.json.story.title, winner);
  await second.close();
});
