// ctx.image against the fake images server on 127.0.0.1: each scenario
// (normal, 429 with Retry-After, 500 then ok, a silent server, a malformed
// body), the key never in the store file, memoized across a restart, the
// offline placeholder, and bad requests refused naming what is wrong.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { Engine, InvalidArgumentError } from 'storyloom';
import { tempDir, waitForRun } from '../test-support/helpers.mjs';
import { startFakeServer } from '../test-support/fake-llm-server.mjs';

const KEY = 'test-key-not-a-secret-node-img';
const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

async function openAt(db, server, scenario) {
  const engine = await Engine.open({
    store: `sqlite:${db}`,
    pollIntervalMs: 10,
    images: {
      useEnvironment: false,
      defaultProvider: 'fake',
      providers: [{ name: 'fake', baseUrl: server.url(scenario), apiKey: KEY, model: 'fake-image-model', size: '256x256' }],
    },
  });
  engine.workflow(
    'draw',
    async (ctx, input) => {
      const picture = await ctx.image('picture', input.request);
      if (input.wait) await ctx.waitForSignal('go');
      return picture;
    },
    { retry: { maxAttempts: 3, initialBackoffMs: 10, maxBackoffMs: 50 } },
  );
  engine.launch();
  return engine;
}

function storeFiles(dir) {
  return readdirSync(dir).map((f) => readFileSync(path.join(dir, f)));
}

const SCENARIOS = [
  { scenario: 'normal', status: 'completed', requests: 1 },
  { scenario: 'rate_limited_then_ok;retry_after=1', status: 'completed', requests: 2, atLeastMs: 900 },
  { scenario: 'server_error_then_ok', status: 'completed', requests: 2 },
  { scenario: 'stall;stall_ms=4000', status: 'failed', requests: 3, code: 'timeout', request: { idleTimeoutMs: 200 } },
  { scenario: 'malformed_chunk', status: 'failed', requests: 3, message: 'the images response is not JSON' },
];

for (const s of SCENARIOS) {
  test(`image step, fake server '${s.scenario}': ${s.status} after ${s.requests} request(s), key never stored`, async (t) => {
    const server = await startFakeServer(t);
    const dir = tempDir(t);
    const engine = await openAt(path.join(dir, 'images.db'), server, s.scenario);
    t.after(() => engine.close().catch(() => {}));
    const started = Date.now();
    const { id } = await engine.start('draw', { request: { prompt: 'A fox in the snow, ink and wash', ...(s.request ?? {}) } });
    const run = await waitForRun(engine, id, undefined, 20000);
    assert.equal(run.status, s.status, JSON.stringify(run.error));
    const requests = await server.requests();
    assert.equal(requests.length, s.requests);
    assert.equal(requests[0].headers.authorization, `Bearer ${KEY}`);
    if (s.atLeastMs) assert.ok(Date.now() - started >= s.atLeastMs, 'Retry-After was not honoured');
    if (s.status === 'completed') {
      const out = run.output;
      assert.equal(out.contentType, 'image/png');
      const bytes = await engine.artifactBytes(id, 'picture', out.version);
      assert.ok(Buffer.isBuffer(bytes));
      assert.deepEqual(bytes.subarray(0, 8), PNG);
      assert.equal(bytes.length, out.bytes);
    } else {
      if (s.code) assert.equal(run.error.code, s.code, JSON.stringify(run.error));
      if (s.message) assert.ok(run.error.message.includes(s.message), run.error.message);
    }
    const events = await engine.storedEvents(id);
    assert.equal(events.filter((e) => e.type === 'image.attempt').length, s.requests);
    await engine.close();
    for (const file of storeFiles(dir)) assert.ok(!file.includes(KEY), 'the key is in the store file');
  });
}

test('a stored picture is not asked for again after a restart', async (t) => {
  const server = await startFakeServer(t);
  const dir = tempDir(t);
  const db = path.join(dir, 'restart.db');
  let engine = await openAt(db, server, 'normal');
  const { id } = await engine.start('draw', { request: { prompt: 'A whale singing', artifact: 'cover' }, wait: true });
  await waitForRun(engine, id, ['waiting'], 20000);
  const first = (await engine.artifactBytes(id, 'cover')).toString('base64');
  await engine.close();
  engine = await openAt(db, server, 'normal');
  t.after(() => engine.close());
  await engine.signal(id, 'go', {});
  const run = await waitForRun(engine, id, undefined, 20000);
  assert.equal(run.status, 'completed', JSON.stringify(run.error));
  assert.equal((await server.requests()).length, 1);
  assert.equal(run.output.artifact, 'cover');
  assert.equal(run.output.version, 1);
  assert.equal((await engine.artifactBytes(id, 'cover')).toString('base64'), first);
});

test('ctx.image with the offline provider draws a placeholder; bad requests are refused', async (t) => {
  const dir = tempDir(t);
  const engine = await Engine.open({ store: `sqlite:${path.join(dir, 'offline.db')}`, pollIntervalMs: 10, images: { useEnvironment: false } });
  t.after(() => engine.close());
  const refusals = [];
  engine.workflow('offline', async (ctx) => {
    for (const bad of [{}, { prompt: 'x', size: 'huge' }, { prompt: 'x', colour: 'red' }, { prompt: 'x', extra: [1] }]) {
      try {
        await ctx.image('bad', bad);
        refusals.push('accepted');
      } catch (e) {
        refusals.push(`${e instanceof InvalidArgumentError}: ${e.message}`);
      }
    }
    return await ctx.image('picture', { prompt: 'A lantern in the fog', size: '320x240' });
  });
  engine.launch();
  const { id } = await engine.start('offline', {});
  const run = await waitForRun(engine, id, undefined, 20000);
  assert.equal(run.status, 'completed', JSON.stringify(run.error));
  assert.equal(run.output.provider, 'offline');
  assert.equal(run.output.width, 320);
  assert.equal(run.output.height, 240);
  assert.deepEqual((await engine.artifactBytes(id, 'picture')).subarray(0, 8), PNG);
  assert.match(refusals[0], /^true: image step 'bad'\.prompt is required/);
  assert.match(refusals[1], /^true: .*image request size is 'huge'/);
  assert.match(refusals[2], /^true: image step 'bad': unknown option 'colour'/);
  assert.match(refusals[3], /^true: image step 'bad'\.extra must be an object/);
});
