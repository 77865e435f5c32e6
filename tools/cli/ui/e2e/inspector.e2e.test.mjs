// `storyloom ui` end to end in Debian's Chromium (playwright-core): the runs
// list and its filters, a run opened by keyboard and watched live to its end,
// a failed run retried and a running one cancelled from the page, a
// read-only server refusing actions, the Limits page, and the API's 400s. The store is written
// and executed by storyloom_ui_e2e_fixture (fixture.cc) in another process,
// as an app's store would be.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { chromium } from 'playwright-core';

const screenshotsDir = path.join(import.meta.dirname, 'e2e-screenshots');
let dir, fixture, ui, uiReadOnly, browser, context, page;
const ids = {};

function lines(child) {
  const rl = readline.createInterface({ input: child.stdout });
  const queue = [];
  const waiters = [];
  rl.on('line', (l) => (waiters.length ? waiters.shift()(l) : queue.push(l)));
  return () => (queue.length ? Promise.resolve(queue.shift()) : new Promise((r) => waiters.push(r)));
}

async function startFixture(store) {
  const child = spawn(process.env.STORYLOOM_UI_FIXTURE, [store], { stdio: ['pipe', 'pipe', 'inherit'] });
  const next = lines(child);
  assert.equal(await next(), 'ready');
  return {
    async start(workflow, input) {
      child.stdin.write(`${workflow} ${JSON.stringify(input)}\n`);
      const id = await next();
      assert.ok(!id.startsWith('error'), id);
      return id;
    },
    stop: () => new Promise((r) => { child.on('exit', r); child.stdin.end(); }),
  };
}

async function startUi(store, extra) {
  const child = spawn(process.env.STORYLOOM_CLI, ['ui', '--db', store, '--port', '0', ...extra],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  const next = lines(child);
  const first = await next();
  const m = first.match(/at (http:\/\/127\.0\.0\.1:\d+\/)/);
  assert.ok(m, `unexpected first line: ${first}`);
  return {
    base: m[1],
    // Ctrl-C: the server must stop cleanly and say so.
    stop: () => new Promise((resolve) => {
      child.on('exit', (code, signal) => resolve({ code, signal }));
      child.kill('SIGINT');
    }),
    next,
  };
}

async function until(what, predicate, timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await predicate();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function api(base, method, p, body, contentType = 'application/json') {
  const res = await fetch(new URL(p, base), {
    method, headers: body === undefined ? {} : { 'content-type': contentType }, body,
  });
  return { status: res.status, json: await res.json().catch(() => undefined) };
}

const runStatus = async (id) => (await api(ui.base, 'GET', `/api/runs/${id}`)).json.run.status;

before(async () => {
  mkdirSync(screenshotsDir, { recursive: true });
  dir = mkdtempSync(path.join(tmpdir(), 'storyloom-ui-e2e-'));
  const store = path.join(dir, 'story.db');
  fixture = await startFixture(store);
  for (let i = 0; i < 3; i++) ids[`done${i}`] = await fixture.start('story', { pages: 2, delay_ms: 20 });
  ids.flaky = await fixture.start('flaky', {});
  ui = await startUi(store, []);
  uiReadOnly = await startUi(store, ['--read-only']);
  await until('the first runs to end', async () =>
    (await runStatus(ids.flaky)) === 'failed' && (await runStatus(ids.done2)) === 'completed');
  browser = await chromium.launchPersistentContext(path.join(dir, 'profile'), {
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1200, height: 1000 },
  });
  context = browser;
  page = await context.newPage();
});

after(async () => {
  await browser?.close();
  if (ui) assert.deepEqual(await ui.stop(), { code: 0, signal: null });
  if (uiReadOnly) await uiReadOnly.stop();
  await fixture?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const rowIds = () => page.$$eval('[data-testid="runs"] tbody tr[data-run]', (rows) => rows.map((r) => r.dataset.run));
const statusShown = () => page.textContent('dl.meta [data-testid="status"]');

test('the runs list shows every run and filters by workflow and status', async () => {
  await page.goto(ui.base);
  await until('the runs list', async () => (await rowIds()).length >= 4);
  assert.ok((await rowIds()).includes(ids.flaky));
  await page.fill('[data-testid="filter-workflow"]', 'flaky');
  await page.click('[data-testid="apply-filters"]');
  await until('only flaky runs', async () => {
    const rows = await rowIds();
    return rows.length === 1 && rows[0] === ids.flaky;
  });
  await page.fill('[data-testid="filter-workflow"]', '');
  await page.selectOption('[data-testid="filter-status"]', 'completed');
  await page.click('[data-testid="apply-filters"]');
  await until('only completed runs', async () => {
    const rows = await rowIds();
    return rows.length === 3 && !rows.includes(ids.flaky);
  });
  // The dead-letter view lists the failed run with its error class.
  await page.goto(`${ui.base}#/dead-letter?error_class=fatal`);
  await until('the failed run in the dead-letter view', async () => (await rowIds()).join() === ids.flaky);
});

test('a run opened by keyboard is watched live to completion', async () => {
  const id = await fixture.start('story', { pages: 6, delay_ms: 900 });
  await page.goto(ui.base);
  await page.waitForSelector('[data-testid="filter-q"]');
  await page.keyboard.press('/');
  await page.keyboard.type(id);
  await page.keyboard.press('Enter');
  await until('the search result', async () => (await rowIds()).join() === id);
  await page.focus(`tr[data-run="${id}"] a`);
  await page.keyboard.press('Enter');
  await page.waitForSelector('dl.meta');
  assert.notEqual(await statusShown(), 'completed', 'the run ended before the page could watch it');
  await until('the live connection', async () => (await page.textContent('[data-testid="live"]')) === '● live');
  // Progress and the token stream move while the page is open, without a reload.
  await until('page 2 in progress', async () => /"page":[2-6]/.test(await page.textContent('[data-testid="progress"]')));
  await until('completed', async () => (await statusShown()) === 'completed');
  assert.equal(await page.textContent('[data-testid="progress"]'), '{"page":6,"of":6}');
  // Every chunk once, in order, however the live events and snapshots interleaved.
  assert.equal(await page.textContent('pre[data-stream="pages"]'),
    [1, 2, 3, 4, 5, 6].map((i) => `Page ${i} begins. `).join(''));
  assert.equal(await page.$$eval('[data-testid="steps"] tbody tr', (r) => r.length), 6);
  assert.match(await page.textContent('[data-testid="timeline"]'), /run\.completed/);
  assert.match(await page.textContent('[data-testid="output"]'), /"pages": 6/);
  await page.screenshot({ path: path.join(screenshotsDir, 'run-page.png'), fullPage: false });
});

test('a failed run is retried from its page, with confirmation', async () => {
  await page.goto(`${ui.base}#/runs/${ids.flaky}`);
  await until('failed', async () => (await statusShown()) === 'failed');
  assert.match(await page.textContent('[data-testid="run-error"]'), /the image service said no/);
  await page.click('[data-testid="action-retry"]');
  await page.waitForSelector('dialog#confirm[open]');
  // Going back does nothing.
  await page.click('#confirm-no');
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(await runStatus(ids.flaky), 'failed');
  await page.click('[data-testid="action-retry"]');
  await page.click('#confirm-yes');
  await until('completed after the retry', async () => (await statusShown()) === 'completed');
  // The timeline gets the retry's events live.
  await until('the retry in the timeline', async () => {
    const text = await page.textContent('[data-testid="timeline"]');
    return /run\.retried/.test(text) && /run\.completed/.test(text);
  });
});

test('a running run is cancelled from its page', async () => {
  const id = await fixture.start('slow', {});
  await page.goto(`${ui.base}#/runs/${id}`);
  await until('running', async () => (await statusShown()) === 'running');
  await page.click('[data-testid="action-cancel"]');
  await page.waitForSelector('dialog#confirm[open]');
  await page.keyboard.press('Enter');  // the dialog's default button confirms
  await until('cancelled', async () => (await statusShown()) === 'cancelled');
  assert.equal(await runStatus(id), 'cancelled');
});

test('--read-only shows no usable action and the API refuses them', async () => {
  await page.goto(`${uiReadOnly.base}#/runs/${ids.done0}`);
  await page.waitForSelector('dl.meta');
  assert.equal(await page.textContent('#mode'), 'read-only');
  for (const a of ['cancel', 'retry', 'rewind', 'signal', 'priority']) {
    assert.equal(await page.isDisabled(`[data-testid="action-${a}"]`), true, a);
  }
  for (const [action, body] of [['retry', '{}'], ['cancel', '{}'], ['rewind', '{"step":"page-1"}'],
    ['signal', '{"name":"x","payload":1}'], ['priority', '{"priority":3}']]) {
    const r = await api(uiReadOnly.base, 'POST', `/api/runs/${ids.done0}/${action}`, body);
    assert.equal(r.status, 403, action);
    assert.match(r.json.error, new RegExp(`read-only \\(--read-only\\): ${action} is refused`));
  }
  const bulk = await api(uiReadOnly.base, 'POST', '/api/dead-letter/retry', '{}');
  assert.equal(bulk.status, 403);
});

test('the Limits page, opened by keyboard, shows resources and keys live', async () => {
  const ada1 = await fixture.start('busy', { user: 'ada', hold_ms: 60000 });
  const ada2 = await fixture.start('busy', { user: 'ada', hold_ms: 60000 });
  await page.goto(ui.base);
  await page.focus('#nav-limits');
  await page.keyboard.press('Enter');
  await page.waitForSelector('[data-testid="resources"]');
  const cell = (sel) => page.textContent(sel).catch(() => '');
  // One run per user: ada's second run waits, so one request is in flight.
  await until('one request of llm:e2e in flight', async () =>
    (await cell('[data-resource="llm:e2e"] [data-testid="in-flight"]')) === '1 of 2');
  await until('ada\'s key running 1 of limit 1', async () => {
    const rows = await page.$$eval('[data-testid="concurrency-keys"] tbody tr',
      (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
    return rows.some((r) => r[0] === 'busy' && r[1] === '"ada"' && r[2] === '1' && r[4] === '1');
  });
  // Live: another user's run takes the second slot without a reload.
  const bob = await fixture.start('busy', { user: 'bob', hold_ms: 60000 });
  await until('two requests in flight', async () =>
    (await cell('[data-resource="llm:e2e"] [data-testid="in-flight"]')) === '2 of 2');
  assert.equal(await page.getAttribute('#nav-limits', 'aria-current'), 'page');
  for (const id of [ada1, ada2, bob]) {
    assert.equal((await api(ui.base, 'POST', `/api/runs/${id}/cancel`, '{}')).status, 200);
  }
  await until('the slots freed', async () =>
    (await cell('[data-resource="llm:e2e"] [data-testid="in-flight"]')) === '0 of 2');
});

test('bad requests are 4xx answers with a message, and the server keeps serving', async () => {
  const cases = [
    ['GET', '/api/runs?limit=abc', 400, /limit must be a whole number, got 'abc'/],
    ['GET', '/api/runs?limit=0', 400, /limit must be between 1 and 1000, got 0/],
    ['GET', '/api/runs?status=sleepy', 400, /status: .*sleepy/],
    ['GET', '/api/runs?error_class=bad', 400, /error_class must be retryable, fatal, rate_limited or timeout/],
    ['GET', '/api/runs?colour=red', 400, /unknown query parameter 'colour'/],
    ['GET', '/api/runs?q=%zz', 400, /bad percent escape/],
    ['GET', '/api/runs?cursor=nope', 400, /nope/],
    ['GET', '/api/runs/no-such-run', 404, /no run with id 'no-such-run'/],
    ['GET', '/api/runs/no-such-run/stream', 404, /no run with id 'no-such-run'/],
    ['GET', `/api/runs/${ids.done0}/stream?after=-1`, 400, /after must be between 0/],
    ['GET', `/api/runs/${ids.done0}/events?after=x`, 400, /after must be a whole number/],
    ['POST', `/api/runs/${ids.done0}/signal`, 400, /not valid JSON/, '{"name":'],
    ['POST', `/api/runs/${ids.done0}/signal`, 400, /missing field 'name'/, '{}'],
    ['POST', `/api/runs/${ids.done0}/priority`, 400, /must be a whole number/, '{"priority":"high"}'],
    ['POST', `/api/runs/${ids.done0}/priority`, 409, /queued/, '{"priority":2}'],
    ['POST', `/api/runs/${ids.done0}/rewind`, 404, /nope/, '{"step":"nope"}'],
    ['POST', `/api/runs/${ids.done0}/retry`, 409, /./, '{}'],
    ['POST', `/api/runs/${ids.done0}/explode`, 404, /no such API route/, '{}'],
    ['DELETE', `/api/runs/${ids.done0}`, 405, /use GET/],
  ];
  for (const [method, p, status, message, body] of cases) {
    const r = await api(ui.base, method, p, body);
    assert.equal(r.status, status, `${method} ${p}: ${JSON.stringify(r.json)}`);
    assert.match(r.json.error, message, `${method} ${p}`);
  }
  const form = await api(ui.base, 'POST', `/api/runs/${ids.done0}/cancel`, 'a=b', 'application/x-www-form-urlencoded');
  assert.equal(form.status, 415);
  assert.equal((await api(ui.base, 'GET', '/api/info')).json.read_only, false);
});

test('an event stream resumes after Last-Event-ID with no gap and no duplicate', async () => {
  const all = (await api(ui.base, 'GET', `/api/runs/${ids.done1}/events`)).json.events;
  assert.ok(all.length > 4);
  const from = all[1].id;
  const res = await fetch(new URL(`/api/runs/${ids.done1}/stream?after=0`, ui.base), {
    headers: { 'Last-Event-ID': String(from) },
  });
  assert.equal(res.headers.get('content-type'), 'text/event-stream');
  const reader = res.body.getReader();
  let text = '';
  while (!text.includes(`id: ${all[all.length - 1].id}\n`)) {
    const { value } = await reader.read();
    text += new TextDecoder().decode(value);
  }
  await reader.cancel();
  const got = [...text.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
  assert.deepEqual(got, all.slice(2).map((e) => e.id));
});
