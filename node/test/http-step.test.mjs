// ctx.http against the fake server's /h/ echo on 127.0.0.1: the response
// stored without secrets, memoized across a crash (SIGKILL), retried on 503
// with a per-step policy, cancelled mid-transfer, and bad requests refused
// naming what is wrong.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CancelledError, Engine, InvalidArgumentError, StepFailedError } from 'storyloom';
import { openEngine, tempDir, waitForRun } from '../test-support/helpers.mjs';
import { startFakeServer } from '../test-support/fake-llm-server.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const TOKEN = 'tok-not-a-secret-7731';

async function until(predicate, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('the response is stored and typed; secret headers are sent but never stored', async (t) => {
  const server = await startFakeServer(t);
  const engine = await openEngine(t);
  engine.workflow('fetch', async (ctx) => {
    const r = await ctx.http('call', {
      method: 'POST',
      url: server.httpUrl('normal', '/things?page=2'),
      headers: [
        { name: 'Authorization', value: `Bearer ${TOKEN}` },
        { name: 'X-Plain', value: 'visible' },
      ],
      json: { title: 'The lighthouse' },
    });
    return { status: r.status, headers: r.headers, json: r.json, text: r.text, bytes: r.bytes.length };
  });
  engine.launch();
  const { id } = await engine.start('fetch', {});
  const run = await waitForRun(engine, id);
  assert.equal(run.status, 'completed', JSON.stringify(run.error));
  const out = run.output;
  assert.equal(out.status, 200);
  assert.equal(out.json.method, 'POST');
  assert.equal(out.json.body, '{"title":"The lighthouse"}');
  assert.equal(out.json.headers['x-plain'], 'visible');
  assert.equal(out.json.headers.authorization, '[redacted]');
  assert.equal(out.json.headers['idempotency-key'], `${id}:0`);
  assert.equal(out.headers['set-cookie'], '[redacted]');
  assert.equal(out.bytes, Buffer.byteLength(out.text));
  const [sent] = await server.requests();
  assert.equal(sent.headers.authorization, `Bearer ${TOKEN}`);
  const stored = JSON.stringify(await engine.storedEvents(id));
  assert.ok(!stored.includes(TOKEN), 'the token is in an event');
  assert.ok(stored.includes('"http.attempt"'));
});

test('an http step whose response was committed is not sent again after a crash', async (t) => {
  const server = await startFakeServer(t);
  const dir = tempDir(t);
  const db = path.join(dir, 'crash.db');
  const ready = path.join(dir, 'ready');
  const url = server.httpUrl('normal~crash');
  const child = spawn(process.execPath, [path.join(here, '..', 'test-support', 'http-crash-child.mjs'), db, url, ready], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let stdout = '';
  child.stdout.on('data', (d) => (stdout += d));
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  await until(() => existsSync(ready) || child.exitCode !== null, 15000, 'the child to reach its second step');
  child.kill('SIGKILL');
  assert.equal((await exited).signal, 'SIGKILL');
  const runId = stdout.trim();

  const engine = await Engine.open({ store: `sqlite:${db}`, pollIntervalMs: 10 });
  t.after(() => engine.close());
  engine.workflow('fetchy', async (ctx) => {
    const response = await ctx.http('fetch', { method: 'POST', url, json: { n: 1 } });
    return ctx.step('hang', () => response.status);
  });
  engine.launch();
  const run = await waitForRun(engine, runId, ['completed', 'failed', 'cancelled'], 20000);
  assert.equal(run.status, 'completed', JSON.stringify(run.error));
  assert.equal(run.output, 200);
  const stats = await server.stats();
  assert.equal(stats.requests['normal~crash'], 1);
});

test('a 503 is retried per the step\'s own policy; retry: false stops after one request', async (t) => {
  const server = await startFakeServer(t);
  const engine = await openEngine(t);
  engine.workflow('retried', async (ctx) => {
    const r = await ctx.http('call', { url: server.httpUrl('server_error_then_ok~a;times=2;status=503') }, {
      retry: { maxAttempts: 3, initialBackoffMs: 10, maxBackoffMs: 20 },
    });
    return r.status;
  });
  engine.workflow('once', async (ctx) => {
    try {
      await ctx.http('call', { url: server.httpUrl('server_error_then_ok~b;status=503') }, { retry: false });
      return 'no error';
    } catch (e) {
      return { name: e.name, isStepFailed: e instanceof StepFailedError, message: e.message };
    }
  });
  engine.launch();
  const a = await engine.start('retried', {});
  const b = await engine.start('once', {});
  const retried = await waitForRun(engine, a.id);
  assert.equal(retried.status, 'completed', JSON.stringify(retried.error));
  assert.equal(retried.output, 200);
  const once = await waitForRun(engine, b.id);
  assert.equal(once.status, 'completed', JSON.stringify(once.error));
  assert.equal(once.output.isStepFailed, true, JSON.stringify(once.output));
  assert.match(once.output.message, /http step 'call': GET 127\.0\.0\.1:\d+ answered HTTP 503/);
  const stats = await server.stats();
  assert.equal(stats.requests['server_error_then_ok~a;times=2;status=503'], 3);
  assert.equal(stats.requests['server_error_then_ok~b;status=503'], 1);
  const keys = (await server.requests()).filter((r) => r.path.includes('~a')).map((r) => r.headers['idempotency-key']);
  assert.deepEqual(keys, [`${a.id}:0`, `${a.id}:0`, `${a.id}:0`]);
});

test('cancelling the run stops the transfer mid-way', async (t) => {
  const server = await startFakeServer(t);
  const engine = await openEngine(t);
  let error;
  engine.workflow('stalled', async (ctx) => {
    try {
      return await ctx.http('call', { url: server.httpUrl('stall~c;stall_ms=20000') });
    } catch (e) {
      error = e;
      throw e;
    }
  });
  engine.launch();
  const { id } = await engine.start('stalled', {});
  await until(async () => (await server.stats()).requests['stall~c;stall_ms=20000'] === 1, 10000, 'the request');
  const asked = Date.now();
  await engine.cancel(id);
  const run = await waitForRun(engine, id);
  assert.equal(run.status, 'cancelled');
  assert.ok(Date.now() - asked < 3000);
  await until(() => error !== undefined, 5000, 'the step to end');
  assert.ok(error instanceof CancelledError, String(error));
});

test('a bad URL or method is refused naming what is wrong, and nothing is sent', async (t) => {
  const server = await startFakeServer(t);
  const engine = await openEngine(t);
  const seen = {};
  engine.workflow('bad', async (ctx, input) => {
    try {
      await ctx.http('call', input.request);
    } catch (e) {
      seen[input.label] = e;
    }
    return 'done';
  });
  engine.launch();
  const cases = {
    scheme: { url: 'ftp://example.com/x' },
    method: { method: 'get', url: server.httpUrl('normal~never') },
    noUrl: { method: 'GET' },
    credentials: { url: 'http://user:pw@example.com/' },
    bodyOnGet: { url: server.httpUrl('normal~never'), body: 'x' },
  };
  for (const [label, request] of Object.entries(cases)) {
    const { id } = await engine.start('bad', { label, request });
    assert.equal((await waitForRun(engine, id)).status, 'completed');
  }
  for (const e of Object.values(seen)) assert.ok(e instanceof InvalidArgumentError, String(e));
  assert.match(seen.scheme.message, /url 'ftp:\/\/example\.com\/x' must start with http:\/\/ or https:\/\//);
  assert.match(seen.method.message, /method 'get' is not an HTTP method/);
  assert.match(seen.noUrl.message, /url is required/);
  assert.match(seen.credentials.message, /credentials/);
  assert.ok(!seen.credentials.message.includes('pw@'));
  assert.match(seen.bodyOnGet.message, /GET takes no body/);
  assert.equal((await server.stats()).requests['normal~never'], undefined);
});
