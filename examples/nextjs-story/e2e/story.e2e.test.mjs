// The story app end to end in a real browser (Debian's Chromium driven by
// playwright-core) against `next start`: the form, live pages, a reload in
// the middle of a page with no token lost or doubled, outline approval with
// edits, cancellation, the library and reader, /api/health and the API's 400s.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { apiAs, signUp } from './auth.mjs';
import { screenshotsDir, startBrowser, startServer } from './server.mjs';

let server;
let browser;
let page;

before(async () => {
  mkdirSync(screenshotsDir, { recursive: true });
  server = await startServer({ wordDelayMs: 15 });
  browser = await startBrowser();
  page = await browser.context.newPage();
  // Every story route needs a signed-in user (users.e2e.test.mjs checks that).
  api = apiAs(server.base, await signUp(page, server.base, 'story-writer'));
});

after(async () => {
  await browser?.stop();
  await server?.stop();
});

const url = (p) => `${server.base}${p}`;
const shot = (name) => page.screenshot({ path: path.join(screenshotsDir, `${name}.png`), fullPage: true });

/** api(method, path, body, raw): the signed-in user's API call. */
let api;

async function statusOf(id) {
  const r = await api('GET', `/api/story/${id}/status`);
  assert.equal(r.status, 200, r.text);
  return r.json;
}

async function until(what, predicate, timeoutMs = 60000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await predicate();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\nserver log:\n${server.output().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Every generation stream the live view shows, by name. */
async function streamsShown() {
  return page.$$eval('pre[data-stream]', (els) => Object.fromEntries(els.map((e) => [e.dataset.stream, e.textContent])));
}

test('the API answers 400 with the field at fault, 404 for an unknown session', async () => {
  let r = await api('POST', '/api/story/generate', { topic: '  ', pages: 0, quality: 7, approve_outline: 'yes', colour: 'red' });
  assert.equal(r.status, 400, r.text);
  assert.deepEqual(Object.keys(r.json.errors).sort(), ['approve_outline', 'colour', 'pages', 'quality', 'topic']);
  assert.equal(r.json.errors.topic, 'must not be empty');
  assert.equal(r.json.errors.pages, 'must be from 1 to 20, got 0');
  assert.equal(r.json.errors.quality, 'must be from 0 to 3, got 7');
  r = await api('POST', '/api/story/generate', { topic: 'owls' });
  assert.equal(r.status, 400);
  assert.deepEqual(r.json.errors, { pages: 'is required: from 1 to 20' });
  r = await api('POST', '/api/story/generate', undefined, '{"topic": "owls",');
  assert.equal(r.status, 400);
  assert.match(r.json.error, /^the request body is not valid JSON: /);
  r = await api('POST', '/api/story/generate', undefined, '[1, 2]');
  assert.equal(r.status, 400);
  assert.deepEqual(r.json.errors, { body: 'must be a JSON object' });

  for (const [method, p] of [
    ['GET', '/api/story/no-such-story/status'],
    ['DELETE', '/api/story/no-such-story/cancel'],
    ['POST', '/api/story/no-such-story/approve'],
    ['GET', '/api/events/no-such-story'],
  ]) {
    r = await api(method, p);
    assert.equal(r.status, 404, `${method} ${p}: ${r.text}`);
    assert.deepEqual(r.json, { error: "no story session 'no-such-story'" });
  }
  r = await api('GET', '/api/events/no-such-story?after=abc');
  assert.equal(r.status, 400);
  assert.match(r.json.error, /whole number, got 'abc'/);
});

test('/api/health reports the store, live workers and the queue', async () => {
  const r = await api('GET', '/api/health');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.ok, true);
  assert.equal(r.json.store.ok, true);
  assert.match(r.json.store.url, /^sqlite:.*e2e\.db$/);
  assert.equal(r.json.workers.ok, true);
  assert.ok(r.json.workers.probeMs >= 0);
  for (const k of ['queued', 'running', 'waiting', 'sleeping']) assert.equal(typeof r.json.queue[k], 'number', k);
  // The probe run is deleted: it is in no list.
  assert.equal((await api('GET', '/api/stories')).json.stories.some((s) => s.topic === undefined), false);
});

test('the form shows field errors from the API', async () => {
  await page.goto(url('/'));
  // No key in the server's environment: the engine's offline provider writes, and the page says so.
  assert.equal(await page.getAttribute('[data-testid=writer]', 'data-language-model'), 'false');
  assert.match(await page.textContent('[data-testid=writer]'), /^Text comes from the offline generator: offline text, not a language model\./);
  await page.fill('input[name=topic]', '');
  await page.fill('input[name=pages]', '25');
  await page.click('button[type=submit]');
  await page.waitForSelector('[data-error-for=topic]');
  assert.equal(await page.textContent('[data-error-for=topic]'), 'topic must not be empty');
  assert.equal(await page.textContent('[data-error-for=pages]'), 'pages must be from 1 to 20, got 25');
  assert.equal(new URL(page.url()).pathname, '/');
  // An empty field is named as empty, not as "got 0".
  await page.fill('input[name=pages]', '');
  await page.click('button[type=submit]');
  await page.waitForSelector('[data-error-for=pages] >> text=is empty');
  assert.equal(await page.textContent('[data-error-for=pages]'), 'pages is empty: give a whole number from 1 to 20');
  await shot('form-errors');
});

let finishedId;

test('a story from the form streams its pages; a reload mid-page loses and doubles no token', async () => {
  await page.goto(url('/'));
  await page.fill('input[name=topic]', 'a lighthouse keeper who befriends a storm');
  await page.fill('input[name=author_style]', 'gentle, for bedtime');
  await page.fill('input[name=pages]', '4');
  await page.selectOption('select[name=quality]', '1');
  await page.click('button[type=submit]');
  await page.waitForURL(/\/story\/[0-9a-f]+$/);
  const id = page.url().split('/').pop();
  finishedId = id;

  // Token by token: one stream's text is seen at several growing lengths.
  const lengths = new Map();
  await until('the text being written to grow word by word', async () => {
    const seen = await page.evaluate(() => {
      const panel = document.querySelector('[data-testid=now-writing]');
      return panel ? [panel.dataset.stream, panel.querySelector('.writing').textContent.length] : null;
    });
    if (seen) lengths.set(seen[0], new Set([...(lengths.get(seen[0]) ?? []), seen[1]]));
    return [...lengths.values()].some((set) => set.size >= 4);
  }, 20000);

  // Pages appear as they are finished.
  await page.waitForSelector('[data-testid=page-1]', { timeout: 30000 });
  await shot('live-view');

  // Reload while a page of text is half streamed.
  const before = await until('a page to be half streamed', async () => {
    const s = await statusOf(id);
    if (s.status === 'completed') throw new Error('the story finished before the reload; slow the stream down');
    const active = await page.getAttribute('[data-testid=now-writing]', 'data-stream').catch(() => null);
    if (!active || !/^page\/[2-4]\/(write|revise)/.test(active)) return null;
    const text = await page.textContent('[data-testid=now-writing] .writing');
    return text.length > 20 ? { active, text: text.replace(/\u00a0$/, '') } : null;
  });
  assert.equal((await statusOf(id)).status, 'running');
  await page.reload();
  // The reloaded page shows everything streamed before the reload and
  // continues: the server renders the stored events up to its snapshot; words
  // seen live but stored after it (chunks are stored coalesced) arrive over
  // SSE after the snapshot's last event id.
  let afterReload = '';
  await until(`the stream ${before.active} to show all it had before the reload`, async () => {
    afterReload = await page.textContent(`pre[data-stream="${before.active}"]`);
    return afterReload.startsWith(before.text);
  }, 10000).catch((e) => {
    throw new Error(`after the reload the stream ${before.active} lost text:\nbefore: ${before.text}\nafter:  ${afterReload}\n${e.message}`);
  });

  await page.waitForSelector('[data-testid=live-story][data-status=completed]', { timeout: 90000 });
  await shot('finished-live-view');
  // The streams' size is the same after a reload (it once counted live chunks, then stored ones).
  const summaryLive = await page.textContent('[data-testid=streams-summary]');
  await page.reload();
  await page.waitForSelector('[data-testid=live-story][data-status=completed]');
  assert.equal(await page.textContent('[data-testid=streams-summary]'), summaryLive);
  assert.match(summaryLive, /^Generation streams \(\d+, \d+ characters\)$/);
  assert.equal(await page.getAttribute('[data-testid=live-story]', 'data-gaps'), '0');
  assert.equal(await page.textContent('[data-testid=pages-done]'), '4 of 4 pages done');

  const status = await statusOf(id);
  const story = status.story;
  assert.equal(story.pages.length, 4);
  assert.equal(story.generator, 'offline text, not a language model');
  const streams = await streamsShown();
  const pagesShown = await page.$$eval('[data-testid=page-content]', (els) => els.map((e) => e.textContent));
  assert.deepEqual(pagesShown, story.pages.map((p) => p.content));
  for (const p of story.pages) {
    // The streamed text, assembled from chunks by the browser, equals what was stored.
    assert.equal(streams[`page/${p.page}/revise/1`], p.content, `page ${p.page}: streamed revision`);
    // The critique streams as the JSON its schema asks for; the page keeps it as one text.
    const said = JSON.parse(streams[`page/${p.page}/critique/1`]);
    assert.equal(`${said.critique} Most useful change: ${said.change}`, p.critique, `page ${p.page}: streamed critique`);
    assert.equal(streams[`page/${p.page}/illustration`], p.illustration, `page ${p.page}: streamed illustration brief`);
    assert.ok(streams[`page/${p.page}/write`].length > 50, `page ${p.page}: first draft streamed`);
  }
  // The outline streams as the JSON its schema asks for (the offline provider fills it in).
  const outline = JSON.parse(streams.outline);
  assert.equal(outline.title, story.title, streams.outline);
  assert.deepEqual(Object.keys(outline).sort(), ['characters', 'pages', 'title', 'visual_style']);
  assert.equal(outline.pages.length, 4);
  assert.deepEqual(story.pages.map((p) => p.plan), outline.pages);
  // With no images provider configured, every page gets the engine's offline placeholder picture.
  assert.deepEqual(
    story.pages.map((p) => [p.picture?.artifact, p.picture?.provider, p.picture?.contentType]),
    story.pages.map((p) => [`page/${p.page}/picture`, 'offline', 'image/png']),
  );
  assert.equal(await page.textContent('[data-testid=illustrations-done]'), '4 of 4 pictures done');
  assert.deepEqual(story.writtenBy, { provider: 'offline', model: 'offline-placeholder', languageModel: false });
  // The live view says the text is offline placeholder text, not a language model.
  assert.equal(await page.getAttribute('[data-testid=writer]', 'data-language-model'), 'false');
  assert.match(await page.textContent('[data-testid=writer]'), /offline text, not a language model/);
  const log = await page.textContent('[data-testid=event-log]');
  assert.match(log, /llm\.attempt page\/4\/illustration \(attempt 1\) by offline \(offline-placeholder\)/);

  // The reader shows the stored story.
  await page.click('[data-testid=read-link]');
  await page.waitForSelector('[data-testid=reader]');
  const read = await page.$$eval('[data-testid=reader] article .content', (els) => els.map((e) => e.textContent));
  assert.deepEqual(read, story.pages.map((p) => p.content));
  assert.match(await page.textContent('[data-testid=reader] .notice'), /Text by the offline generator: offline text, not a language model\./);
  assert.match(await page.textContent('[data-testid=reader] .notice'), /Pictures are placeholders drawn offline, not by an image model\./);
  await shot('reader');
});

test('a story started with approve_outline waits; the outline is approved with edits', async () => {
  const r = await api('POST', '/api/story/generate', { topic: 'a tortoise who wants to fly', pages: 2, quality: 0, approve_outline: true });
  assert.equal(r.status, 201, r.text);
  const id = r.json.sessionId;
  await page.goto(url(`/story/${id}`));
  await page.waitForSelector('[data-testid=approval]', { timeout: 30000 });
  const s = await statusOf(id);
  assert.equal(s.status, 'waiting');
  assert.equal(s.progress.stage, 'awaiting_approval');
  assert.equal(s.pages.length, 0);

  // Bad approvals are 400s naming the field; the run keeps waiting.
  let bad = await api('POST', `/api/story/${id}/approve`, { outline: { plans: ['only one'] } });
  assert.equal(bad.status, 400);
  assert.deepEqual(bad.json.errors, { 'outline.plans': 'must have one plan per page: 2, got 1' });
  bad = await api('POST', `/api/story/${id}/approve`, undefined, 'not json');
  assert.equal(bad.status, 400);

  await page.fill('[data-testid=outline-title]', 'The Tortoise Who Flew');
  await page.fill('[data-testid=outline-plan-1]', 'The tortoise builds wings out of autumn leaves.');
  await shot('approval');
  await page.click('text=Approve with my edits');
  await page.waitForSelector('[data-testid=live-story][data-status=completed]', { timeout: 60000 });
  assert.equal(await page.textContent('h1'), 'The Tortoise Who Flew');
  const done = await statusOf(id);
  assert.equal(done.story.title, 'The Tortoise Who Flew');
  assert.equal(done.story.pages[0].plan, 'The tortoise builds wings out of autumn leaves.');
  assert.notEqual(done.story.pages[1].plan, '');

  const again = await api('POST', `/api/story/${id}/approve`, {});
  assert.equal(again.status, 409);
  assert.match(again.json.error, /is not waiting for outline approval \(it is completed\)/);
});

test('a story is cancelled from the live view', async () => {
  const r = await api('POST', '/api/story/generate', { topic: 'a very long voyage', pages: 20, quality: 3 });
  assert.equal(r.status, 201, r.text);
  const id = r.json.sessionId;
  await page.goto(url(`/story/${id}`));
  await page.waitForSelector('[data-testid=now-writing]');
  await page.waitForSelector('[data-testid=page-1]', { timeout: 90000 });
  await page.click('[data-testid=cancel]');
  await page.waitForSelector('[data-testid=live-story][data-status=cancelled]', { timeout: 30000 });
  // It says Cancelled (not the stage it was in), and keeps the pages it wrote, also after a reload.
  assert.equal(await page.textContent('[data-testid=stage]'), 'Cancelled');
  const pagesBefore = await page.$$eval('[data-testid=page-content]', (els) => els.map((e) => e.textContent));
  assert.ok(pagesBefore.length >= 1);
  await page.reload();
  await page.waitForSelector('[data-testid=live-story][data-status=cancelled]');
  assert.equal(await page.textContent('[data-testid=stage]'), 'Cancelled');
  assert.deepEqual(await page.$$eval('[data-testid=page-content]', (els) => els.map((e) => e.textContent)), pagesBefore);
  await shot('cancelled');
  const s = await statusOf(id);
  assert.equal(s.status, 'cancelled');
  assert.equal(s.progress.pagesInProgress, 0);
  assert.ok(s.progress.pagesCompleted < 20);
  assert.equal(s.story, null);
  const again = await api('DELETE', `/api/story/${id}/cancel`);
  assert.equal(again.status, 409);
  assert.match(again.json.error, /has already been cancelled/);
});

test('the library lists every story, newest first', async () => {
  await page.goto(url('/stories'));
  await page.waitForSelector('[data-testid=library]');
  const ids = await page.$$eval('tr[data-story-id]', (rows) => rows.map((r) => r.dataset.storyId));
  const listed = (await api('GET', '/api/stories')).json.stories;
  assert.deepEqual(ids, listed.map((s) => s.id));
  assert.equal(listed.length, 3);
  assert.equal(listed[2].id, finishedId);
  assert.deepEqual(listed.map((s) => s.status), ['cancelled', 'completed', 'completed']);
  // One title everywhere: the library shows each story under the title its page shows.
  const titles = await page.$$eval('tr[data-story-id] td:first-child a', (links) => links.map((a) => a.textContent));
  assert.equal(titles[1], 'The Tortoise Who Flew');
  await shot('library');
  for (const [i, s] of listed.entries()) {
    await page.goto(url(`/story/${s.id}`));
    assert.equal(await page.textContent('h1'), titles[i], `story ${s.id}`);
  }
});
