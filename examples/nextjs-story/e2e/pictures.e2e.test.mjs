// Pictures end to end: the app draws each page's picture through the engine's
// image step against the project's fake images server (tests/support,
// FAKE_LLM_SERVER.md "Images"), in Debian's Chromium against `next start`.
// - Pictures land in the open live view while the story is still being
//   written (each fake picture takes 3 s, room for a loaded machine), the reader and the library show
//   them, "Download EPUB" / "Download PDF" give a real EPUB and PDF.
// - The picture routes: content type, ETag (the sha256) and Cache-Control,
//   304 on If-None-Match, 400s, 404 for another user's story, 401 signed out.
// - A picture the fake server fails (three 500s: the step's attempts) leaves
//   "no picture" and a finished story; the page's retry button redraws that
//   picture alone, and no page text is written again.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Engine } from 'storyloom';
import { apiAs, signUp } from './auth.mjs';
import { startFakeServer } from '../../../node/test-support/fake-llm-server.mjs';
import { screenshotsDir, startBrowser, startServer } from './server.mjs';

const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const cleanups = [];
let fake;
let browser;

before(async () => {
  mkdirSync(screenshotsDir, { recursive: true });
  fake = await startFakeServer({ after: (fn) => cleanups.push(fn) });
  browser = await startBrowser();
});

after(async () => {
  await browser?.stop();
  for (const fn of cleanups.reverse()) await fn();
});

async function until(what, predicate, server, timeoutMs = 60000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await predicate();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\nserver log:\n${server.output().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The image requests the fake server got under `scenario`: their prompts. */
async function imagePrompts(scenario) {
  return (await fake.requests())
    .filter((r) => r.path === `/s/${scenario}/v1/images/generations`)
    .map((r) => JSON.parse(r.body).prompt);
}

/** A server drawing its pictures with the fake images server's `scenario`. */
async function pictureServer(t, scenario) {
  const server = await startServer({ wordDelayMs: 10, env: { STORY_IMAGES_BASE_URL: fake.url(scenario), STORY_IMAGES_API_KEY: 'sk-e2e-never-stored' } });
  t.after(() => server.stop());
  return server;
}

/** Is the <img> loaded, with pixels? */
const loaded = (page, selector) => page.$eval(selector, (img) => img.complete && img.naturalWidth > 0).catch(() => false);

async function startStory(api, body) {
  const r = await api('POST', '/api/story/generate', body);
  assert.equal(r.status, 201, r.text);
  return r.json.sessionId;
}

test('pictures land live, the reader and the library show them, EPUB and PDF download, the routes cache', async (t) => {
  const scenario = 'stall~live;stall_ms=3000';
  const server = await pictureServer(t, scenario);
  const page = await browser.context.newPage();
  t.after(() => page.close());
  const api = apiAs(server.base, await signUp(page, server.base, 'picture-reader'));
  const id = await startStory(api, { topic: 'a lighthouse cat', author_style: 'gentle', pages: 2, quality: 0 });

  await page.goto(`${server.base}/story/${id}`);
  await page.evaluate(() => (window.__samePage = true)); // gone if the page reloaded
  assert.equal(await page.$('[data-testid^=picture-]:not([data-testid^=picture-pending])'), null, 'no picture yet when the page opened');
  await until('the first picture in the open page', () => loaded(page, '[data-testid=picture-1]'), server);
  assert.equal(await page.evaluate(() => window.__samePage), true, 'the picture came through the event stream, not a reload');
  assert.equal(await page.getAttribute('[data-testid=live-story]', 'data-status'), 'running', 'the story was still being written');
  await until('the picture count', async () => (await page.textContent('[data-testid=illustrations-done]')) === '1 of 2 pictures done', server);
  await page.screenshot({ path: path.join(screenshotsDir, 'pictures-live.png'), fullPage: true });
  await until('the story to finish', async () => (await page.getAttribute('[data-testid=live-story]', 'data-status')) === 'completed', server);
  await until('the second picture', () => loaded(page, '[data-testid=picture-2]'), server);
  assert.equal(await page.textContent('[data-testid=illustrations-done]'), '2 of 2 pictures done');
  assert.equal(await page.textContent('[data-testid=illustrations-failed]'), '0 failed');

  // Every prompt carries the outline's visual style, title and characters.
  const status = (await api('GET', `/api/story/${id}/status`)).json;
  const { outline, story } = status;
  assert.ok(outline.characters.length > 0, 'the outline has characters');
  const head = `Style: ${outline.style}. A picture for the story "${outline.title}". Characters: ${outline.characters}. `;
  const prompts = await imagePrompts(scenario);
  assert.equal(prompts.length, 2, JSON.stringify(prompts));
  assert.deepEqual(prompts, story.pages.map((p) => head + p.illustration));
  assert.deepEqual(story.pages.map((p) => p.picture?.artifact), ['page/1/picture', 'page/2/picture']);
  assert.deepEqual(status.progress, { ...status.progress, illustrationsTotal: 2, illustrationsDone: 2, illustrationsFailed: 0, illustrationsInProgress: 0 });
  assert.deepEqual(status.pictures.map((p) => [p.page, p.version, p.contentType, p.url]), [
    [1, 1, 'image/png', `/api/story/${id}/picture/1?v=1`],
    [2, 1, 'image/png', `/api/story/${id}/picture/2?v=1`],
  ]);

  // The reader, the library's cover.
  await page.goto(`${server.base}/story/${id}/read`);
  for (const n of [1, 2]) await until(`the reader's picture ${n}`, () => loaded(page, `[data-testid=reader-page-${n}] [data-testid=picture-${n}]`), server);
  await page.screenshot({ path: path.join(screenshotsDir, 'pictures-reader.png'), fullPage: true });
  await page.goto(`${server.base}/stories`);
  await until('the cover thumbnail', () => loaded(page, `tr[data-story-id="${id}"] img[data-testid=cover]`), server);
  assert.equal(await page.getAttribute(`tr[data-story-id="${id}"] img[data-testid=cover]`, 'src'), `/api/story/${id}/picture/1?v=1`);

  // Downloads, through the reader's buttons.
  await page.goto(`${server.base}/story/${id}/read`);
  const download = async (testid) => {
    const [d] = await Promise.all([page.waitForEvent('download'), page.click(`[data-testid=${testid}]`)]);
    const file = path.join(screenshotsDir, `${id}-${d.suggestedFilename()}`);
    await d.saveAs(file);
    return { name: d.suggestedFilename(), bytes: readFileSync(file), file };
  };
  const epub = await download('download-epub');
  assert.match(epub.name, /\.epub$/);
  assert.deepEqual(epub.bytes.subarray(0, 4), Buffer.from('PK\x03\x04', 'binary'));
  assert.equal(epub.bytes.subarray(30, 38).toString(), 'mimetype', 'the first zip entry is mimetype');
  assert.equal(epub.bytes.subarray(38, 58).toString(), 'application/epub+zip');
  const entries = execFileSync('unzip', ['-Z1', epub.file], { encoding: 'utf8' }).split('\n');
  assert.equal(entries.filter((e) => /\.png$/.test(e)).length, 2, `two pictures in the EPUB: ${entries.join(' ')}`);
  const pdf = await download('download-pdf');
  assert.match(pdf.name, /\.pdf$/);
  assert.equal(pdf.bytes.subarray(0, 5).toString(), '%PDF-');
  if (existsSync('/usr/bin/pdfinfo')) {
    const info = execFileSync('pdfinfo', [pdf.file], { encoding: 'utf8' });
    assert.match(info, /^Pages:\s+3$/m, `a cover and two pages:\n${info}`);
  }

  // The picture route: bytes, media type, ETag and caching, 304.
  let r = await fetch(`${server.base}/api/story/${id}/picture/1`, { headers: { cookie: api.cookie } });
  assert.equal(r.status, 200);
  const bytes = Buffer.from(await r.arrayBuffer());
  assert.deepEqual(bytes.subarray(0, 8), PNG);
  assert.equal(r.headers.get('content-type'), 'image/png');
  const etag = `"${createHash('sha256').update(bytes).digest('hex')}"`;
  assert.equal(r.headers.get('etag'), etag);
  assert.equal(r.headers.get('cache-control'), 'private, no-cache');
  assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
  r = await fetch(`${server.base}/api/story/${id}/picture/1?v=1`, { headers: { cookie: api.cookie } });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('cache-control'), 'private, max-age=31536000, immutable');
  assert.deepEqual(Buffer.from(await r.arrayBuffer()), bytes);
  for (const inm of [etag, `W/${etag}`, `"other", ${etag}`, '*']) {
    r = await fetch(`${server.base}/api/story/${id}/picture/1?v=1`, { headers: { cookie: api.cookie, 'if-none-match': inm } });
    assert.equal(r.status, 304, `If-None-Match: ${inm}`);
    assert.equal((await r.arrayBuffer()).byteLength, 0);
    assert.equal(r.headers.get('etag'), etag);
    assert.equal(r.headers.get('cache-control'), 'private, max-age=31536000, immutable');
  }
  r = await fetch(`${server.base}/api/story/${id}/picture/2`, { headers: { cookie: api.cookie, 'if-none-match': etag } });
  assert.equal(r.status, 200, "page 1's ETag is not page 2's");

  // Bad requests say what is wrong; another user's story is no story; signed out is 401.
  let j = await api('GET', `/api/story/${id}/picture/first`);
  assert.equal(j.status, 400);
  assert.equal(j.json.error, "the page must be a whole number from 1, got 'first'");
  j = await api('GET', `/api/story/${id}/picture/1?v=0`);
  assert.equal(j.status, 400);
  assert.equal(j.json.error, "v (the picture's version) must be a whole number from 1, got '0'");
  j = await api('GET', `/api/story/${id}/picture/3`);
  assert.equal(j.status, 404);
  assert.equal(j.json.error, `story '${id}' has no picture for page 3`);
  j = await api('GET', `/api/story/${id}/picture/1?v=7`);
  assert.equal(j.status, 404);
  assert.equal(j.json.error, `story '${id}' has no picture version 7 for page 1`);
  j = await api('GET', `/api/story/${id}/book?format=docx`);
  assert.equal(j.status, 400);
  assert.equal(j.json.error, "format must be epub or pdf, got 'docx'");
  j = await api('POST', `/api/story/${id}/picture/1/retry`);
  assert.equal(j.status, 409);
  assert.equal(j.json.error, `page 1 of story '${id}' already has its picture`);
  j = await api('POST', `/api/story/${id}/picture/5/retry`);
  assert.equal(j.status, 404);
  assert.equal(j.json.error, `story '${id}' has no page 5`);

  const signup = await fetch(`${server.base}/api/auth/signup`, {
    method: 'POST',
    headers: { origin: server.base, 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'picture-stranger', password: 'another long password' }),
  });
  assert.equal(signup.status, 201);
  const stranger = apiAs(server.base, signup.headers.getSetCookie().map((c) => c.split(';')[0]).join('; '));
  const anonymous = apiAs(server.base, '');
  for (const [method, p] of [
    ['GET', `/api/story/${id}/picture/1`],
    ['GET', `/api/story/${id}/picture/1?v=1`],
    ['GET', `/api/story/${id}/book?format=epub`],
    ['GET', `/api/story/${id}/book?format=pdf`],
    ['POST', `/api/story/${id}/picture/1/retry`],
  ]) {
    j = await stranger(method, p, undefined, undefined, { 'if-none-match': etag });
    assert.equal(j.status, 404, `${method} ${p} as another user`);
    assert.equal(j.json.error, `no story session '${id}'`);
    assert.equal(j.headers.get('etag'), null);
    j = await anonymous(method, p);
    assert.equal(j.status, 401, `${method} ${p} signed out`);
  }
  j = await stranger('POST', `/api/story/${id}/picture/1/retry`, undefined, undefined, { origin: 'http://elsewhere.example' });
  assert.equal(j.status, 403);

  // The key reached the images server as a header, and never the store.
  for (const file of [server.dbPath, `${server.dbPath}-wal`].filter((f) => existsSync(f))) {
    assert.ok(!readFileSync(file).includes('sk-e2e-never-stored'), `the images key is not in ${file}`);
  }
});

test('a picture the images server keeps failing shows "no picture"; its retry redraws it alone, no text rewritten', async (t) => {
  const scenario = 'server_error_then_ok~fail;times=3;status=500';
  const server = await pictureServer(t, scenario);
  const page = await browser.context.newPage();
  t.after(() => page.close());
  const api = apiAs(server.base, await signUp(page, server.base, 'picture-retrier'));
  const id = await startStory(api, { topic: 'a kite that would not fly', author_style: 'brisk', pages: 2, quality: 1 });
  await page.goto(`${server.base}/story/${id}`);
  await until('the story to finish', async () => (await page.getAttribute('[data-testid=live-story]', 'data-status')) === 'completed', server);
  await until('"no picture" on page 1', () => page.$('[data-testid=no-picture-1]'), server);
  await until("page 2's picture", () => loaded(page, '[data-testid=picture-2]'), server);
  assert.match(await page.textContent('[data-testid=no-picture-1]'), /No picture — .*500/);
  assert.equal(await page.textContent('[data-testid=illustrations-failed]'), '1 failed');
  assert.equal(await page.textContent('[data-testid=illustrations-done]'), '1 of 2 pictures done');
  await page.screenshot({ path: path.join(screenshotsDir, 'pictures-no-picture.png'), fullPage: true });

  const before = (await api('GET', `/api/story/${id}/status`)).json;
  assert.equal(before.status, 'completed', 'a missing picture does not fail the story');
  assert.deepEqual(before.story.pages.map((p) => p.picture?.version ?? null), [null, 1]);
  assert.equal((await api('GET', `/api/story/${id}/picture/1`)).status, 404);
  assert.equal((await imagePrompts(scenario)).length, 4, 'three attempts for page 1, one for page 2');
  await page.goto(`${server.base}/story/${id}/read`);
  assert.ok(await page.$('[data-testid=reader-page-1] [data-testid=no-picture-1]'), 'the reader says no picture');

  // The retry: from the reader's button to the live view, which follows the redraw.
  const store = await Engine.open({ store: `sqlite:${server.dbPath}` }); // never launched: only reads
  t.after(() => store.close());
  const eventsBefore = await store.storedEvents(id, { limit: 10000 });
  const textVersions = (await store.artifacts(id)).filter((a) => /^page\/\d+$/.test(a.key)).map((a) => `${a.key}@${a.version}`);
  await page.click('[data-testid=retry-picture-1]');
  await page.waitForURL(`${server.base}/story/${id}`);
  await until('the redrawn picture in the live view', () => loaded(page, '[data-testid=picture-1]'), server);
  await until('the story to finish again', async () => (await page.getAttribute('[data-testid=live-story]', 'data-status')) === 'completed', server);
  assert.equal(await page.$('[data-testid=no-picture-1]'), null);
  assert.equal(await page.textContent('[data-testid=illustrations-done]'), '2 of 2 pictures done');
  await page.screenshot({ path: path.join(screenshotsDir, 'pictures-retried.png'), fullPage: true });

  const afterRetry = (await api('GET', `/api/story/${id}/status`)).json;
  assert.deepEqual(afterRetry.story.pages.map((p) => p.content), before.story.pages.map((p) => p.content), 'the same page texts');
  assert.deepEqual(afterRetry.pages, before.pages, 'the page artifacts unchanged');
  assert.deepEqual(afterRetry.story.pages.map((p) => p.picture?.version ?? null), [1, 1]);
  assert.deepEqual((await store.artifacts(id)).filter((a) => /^page\/\d+$/.test(a.key)).map((a) => `${a.key}@${a.version}`), textVersions);
  // Alone: one more image request (page 1's), no llm call, no text artifact.
  const prompts = await imagePrompts(scenario);
  assert.equal(prompts.length, 5);
  assert.equal(prompts[4], prompts[0], "the retry asks page 1's prompt again");
  const since = (await store.storedEvents(id, { limit: 10000 })).slice(eventsBefore.length);
  assert.ok(since.some((e) => e.type === 'run.rewound'), 'the run was rewound');
  assert.deepEqual(since.filter((e) => e.type === 'image.attempt').map((e) => e.data.name), ['page/1/picture']);
  assert.deepEqual(since.filter((e) => e.type === 'llm.attempt'), []);
  assert.deepEqual(since.filter((e) => e.type === 'artifact').map((e) => e.data.key), ['page/1/picture', 'story']);
  assert.equal(afterRetry.progress.illustrationsFailed, 0);

  await page.goto(`${server.base}/story/${id}/read`);
  for (const n of [1, 2]) await until(`the reader's picture ${n}`, () => loaded(page, `[data-testid=reader-page-${n}] [data-testid=picture-${n}]`), server);
});
