// A page resumed three times mid-page: reloaded, then its connection dropped
// (the browser offline for a moment), then the server dies: `next start` is
// SIGKILLed while a page streams into the open tab, then started again on the
// same store and port with no request. The engine, opened and launched by src/instrumentation.ts at
// server start, resumes the story by itself; the tab, once it reconnects,
// shows exactly the stored text: the page's llm step executed again after the
// crash starts a new attempt, whose text replaces the first attempt's instead
// of being appended to it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import net from 'node:net';
import { Engine } from 'storyloom';
import { screenshotsDir, startBrowser, startServer, storeDir } from './server.mjs';
import { signUp } from './auth.mjs';

const dir = storeDir();
let server;
let browser;
let page;
let reader;
let proxy;
let cookie; // the signed-in user's session, for API calls

before(async () => {
  mkdirSync(screenshotsDir, { recursive: true });
  server = await startServer({ wordDelayMs: 40, dir });
  browser = await startBrowser();
  page = await browser.context.newPage();
  cookie = await signUp(page, server.base, 'restart-writer');
});

after(async () => {
  await reader?.close();
  proxy?.close();
  await browser?.stop();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** A TCP proxy to the server's port whose drop() cuts every open connection, as a network would. */
async function startProxy(port) {
  const sockets = new Set();
  const proxyServer = net.createServer((client) => {
    const upstream = net.connect(port, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {});
    }
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise((r) => proxyServer.listen(0, '127.0.0.1', r));
  return {
    base: `http://127.0.0.1:${proxyServer.address().port}`,
    drop: () => sockets.forEach((s) => s.destroy()),
    close: () => {
      sockets.forEach((s) => s.destroy());
      proxyServer.close();
    },
  };
}

const shot = (name) => page.screenshot({ path: path.join(screenshotsDir, `${name}.png`), fullPage: true });

async function until(what, predicate, timeoutMs = 60000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await predicate();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\nserver log:\n${server.output().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Every generation stream the live view shows: {name: {text, attemptStart}}. */
async function streamsShown() {
  return page.$$eval('pre[data-stream]', (els) =>
    Object.fromEntries(els.map((e) => [e.dataset.stream, { text: e.textContent, attemptStart: Number(e.dataset.attemptStart) }])),
  );
}

test('a page resumed three times mid-page (reload, network drop, server kill; the server resumes the story with no request) shows the stored text, nothing appended or doubled', async () => {
  const started = await fetch(`${server.base}/api/story/generate`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: server.base, cookie },
    body: JSON.stringify({ topic: 'a fox who keeps the old bridge', pages: 5, quality: 0 }),
  });
  assert.equal(started.status, 201, await started.clone().text());
  const id = (await started.json()).sessionId;
  proxy = await startProxy(server.port);
  await page.goto(`${proxy.base}/story/${id}`);
  // Reads the store directly (an engine that is never launched executes nothing).
  reader = await Engine.open({ store: `sqlite:${server.dbPath}` });

  // Two more resumes of the open page before the kill: a reload, then a
  // network drop (the proxy between the browser and the server cuts every
  // connection: the EventSource of storyloom/client's RunReader reconnects
  // with Last-Event-ID).
  await until('the first page to stream', () => page.$('[data-testid=now-writing]'));
  await page.reload();
  await until('the reloaded page to stream again', () => page.$('[data-testid=now-writing]'));
  const lastEventId = async () => Number(await page.getAttribute('[data-testid=live-story]', 'data-last-event-id'));
  const droppedAt = await lastEventId();
  proxy.drop();
  await until('the page to resume after the drop', async () => (await lastEventId()) > droppedAt);
  assert.equal(await page.getAttribute('[data-testid=live-story]', 'data-status'), 'running', 'the story ended before the drop: make it longer');

  // Mid-page: a page after the first is half streamed into the tab, and part
  // of it is stored already (chunks are stored coalesced), so the step
  // executed again after the kill starts its attempt past the stream's start.
  const before = await until('a page to be half streamed', async () => {
    const active = await page.getAttribute('[data-testid=now-writing]', 'data-stream').catch(() => null);
    if (!active || !/^page\/[2-5]\/write$/.test(active)) return null;
    const text = (await page.textContent('[data-testid=now-writing] .writing')).replace(/\u00a0$/, '');
    if (text.length <= 40) return null;
    const stored = (await reader.snapshot(id)).streams[active];
    return stored && stored.end > 0 ? { active, text } : null;
  });
  await shot('restart-before-kill');

  // The tab's reconnects fail while the server is down and until the story
  // has finished, so nothing but the server's own start can resume it.
  await page.route('**/api/events/**', (route) => route.abort('connectionrefused'));
  await server.kill();
  const port = server.port;
  server = await startServer({ wordDelayMs: 25, dir, port, readyLog: /storyloom: engine launched on .*; (no story to resume|resuming .*)/ });
  assert.match(server.ready[0], new RegExp(`resuming 1 story: ${id}$`), `the run is ${JSON.stringify(await reader.get(id))}`);
  const run = await until('the story to finish on the restarted server', async () => {
    const r = await reader.get(id);
    return ['completed', 'failed', 'cancelled'].includes(r.status) ? r : null;
  }, 120000);
  assert.equal(run.status, 'completed', JSON.stringify(run.error));
  const snap = await reader.snapshot(id);
  const stored = Object.fromEntries(snap.steps.filter((s) => s.kind === 'llm' || s.result?.text !== undefined).map((s) => [s.name, s.result.text]));
  assert.equal(typeof stored[before.active], 'string', `no stored text for ${before.active}: ${JSON.stringify(snap.steps.map((s) => s.name))}`);
  const events = await reader.storedEvents(id, { limit: 10000 });
  const attempts = events.filter((e) => e.type === 'llm.attempt' && e.data.stream === before.active);
  assert.ok(attempts.length >= 2, `the killed step was executed again: ${JSON.stringify(attempts.map((e) => e.data))}`);
  assert.ok(attempts.at(-1).data.offset > 0, `the new attempt starts past the first one's stored text: ${JSON.stringify(attempts.map((e) => e.data))}`);
  assert.deepEqual(snap.streams[before.active], { attemptStart: attempts.at(-1).data.offset, end: attempts.at(-1).data.offset + Buffer.byteLength(stored[before.active]) });

  // Let the tab reconnect: it continues after its last event id.
  await page.unroute('**/api/events/**');
  await page.waitForSelector('[data-testid=live-story][data-status=completed]', { timeout: 60000 });
  await shot('restart-finished');

  const story = snap.artifacts.find((a) => a.key === 'story').value;
  const pagesShown = await page.$$eval('[data-testid=page-content]', (els) => els.map((e) => e.textContent));
  assert.deepEqual(pagesShown, story.pages.map((p) => p.content));
  const check = (streams, when) => {
    // Every stream shows exactly its stored text: the killed page's first
    // attempt is replaced, not continued, and nothing is doubled.
    for (const [name, text] of Object.entries(stored)) {
      assert.equal(streams[name]?.text, text, `${when}: stream ${name}`);
    }
    for (const p of story.pages) assert.equal(streams[`page/${p.page}/write`].text, p.content, `${when}: page ${p.page}`);
    assert.equal(streams[before.active].attemptStart, attempts.at(-1).data.offset, `${when}: the attempt shown`);
  };
  check(await streamsShown(), 'the open tab');
  assert.equal(await page.getAttribute('[data-testid=live-story]', 'data-gaps'), '0');

  // A reload renders the same from the stored events alone.
  await page.reload();
  await page.waitForSelector('[data-testid=live-story][data-status=completed]');
  check(await streamsShown(), 'after a reload');
});
