// ctx.llm against the project's fake LLM server (an OpenAI-compatible
// provider over real HTTP): a normal stream, a 429 retried after its
// retry-after, a 401 that fails at once without leaking the key, a
// cancellation mid-stream, and a resource capping requests in flight.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { ClosedError, Engine, ProviderError, CancelledError } from 'storyloom';
import { openEngine, tempDir, waitForRun } from '../test-support/helpers.mjs';
import { startFakeServer } from '../test-support/fake-llm-server.mjs';

const KEY = 'test-key-not-a-secret';
const STORY = [{ role: 'user', content: 'Tell me a story about a lighthouse' }];

/** An engine whose only providers are fake ones, one per scenario. */
async function engineFor(t, server, scenarios, options = {}) {
  const providers = Object.entries(scenarios).map(([name, scenario]) => ({
    name,
    kind: 'openai',
    baseUrl: server.url(scenario),
    apiKey: KEY,
    model: 'fake-model',
    connectTimeoutMs: 2000,
    idleTimeoutMs: 5000,
  }));
  return openEngine(t, { llm: { useEnvironment: false, providers }, ...options });
}

test('a streamed reply: the text equals the chunk events, live and stored', async (t) => {
  const server = await startFakeServer(t);
  const engine = await engineFor(t, server, { fake: 'normal;words=30' });
  let subscribed;
  const gate = new Promise((resolve) => (subscribed = resolve));
  engine.workflow('tell', async (ctx) => {
    await ctx.step('subscribed', () => gate); // the reply streams once the test listens
    return ctx.llm('story', { provider: 'fake', messages: STORY, maxTokens: 100 });
  });
  engine.launch();
  const { id } = await engine.start('tell', {});
  const live = [];
  const events = engine.events(id);
  const first = events.next(); // subscribes
  subscribed(true);
  for (let e = await first; !e.done; e = await events.next()) live.push(e.value);
  const run = await engine.get(id);
  assert.equal(run.status, 'completed', JSON.stringify(run.error));
  const result = run.output;
  assert.match(result.text, /^Fake reply to: «Tell me a story about a lighthouse» café/);
  assert.equal(result.text.split(' ').length, 30);
  assert.equal(result.finishReason, 'stop');
  assert.equal(result.provider, 'fake');
  assert.equal(result.model, 'fake-model');
  assert.equal(result.usage.outputTokens, 30);
  const transient = live.filter((e) => e.type === 'chunk' && e.kind === 'transient');
  assert.equal(transient.map((e) => e.data.text).join(''), result.text);
  assert.ok(transient.every((e) => e.data.stream === 'story'));
  const stored = (await engine.storedEvents(id)).filter((e) => e.type === 'chunk');
  assert.equal(stored.map((e) => e.data.text).join(''), result.text);
  const attempt = live.find((e) => e.type === 'llm.attempt');
  assert.deepEqual(attempt.data, { seq: 1, name: 'story', stream: 'story', attempt: 1, provider: 'fake', model: 'fake-model', offset: 0 });
  // One attempt: every chunk belongs to it, from the stream's start.
  assert.ok([...transient, ...stored].every((e) => e.data.attempt_start === 0), JSON.stringify(stored.map((e) => e.data)));
  assert.deepEqual((await engine.snapshot(id)).streams, { story: { attemptStart: 0, end: Buffer.byteLength(result.text) } });
});

test('a finished llm step is not asked again when the run replays after a signal', async (t) => {
  const server = await startFakeServer(t);
  const engine = await engineFor(t, server, { fake: 'normal~memo' });
  let executions = 0;
  engine.workflow('tell', async (ctx) => {
    executions++;
    const story = await ctx.llm('story', { provider: 'fake', messages: STORY });
    const more = await ctx.waitForSignal('more');
    return { story: story.text, more };
  });
  engine.launch();
  const { id } = await engine.start('tell', {});
  await waitForRun(engine, id, ['waiting']);
  await engine.signal(id, 'more', 'please');
  const run = await waitForRun(engine, id);
  assert.equal(run.status, 'completed', JSON.stringify(run.error));
  assert.equal(executions, 2);
  assert.match(run.output.story, /^Fake reply to:/);
  assert.equal((await server.stats()).requests['normal~memo'], 1);
});

test('closing the engine mid-stream settles the llm Promise; the run is asked again on the next open', async (t) => {
  const server = await startFakeServer(t);
  const store = `sqlite:${path.join(tempDir(t), 'close.db')}`;
  const open = (scenario) =>
    Engine.open({
      store,
      pollIntervalMs: 10,
      drainTimeoutMs: 500,
      llm: { useEnvironment: false, providers: [{ name: 'p', kind: 'openai', baseUrl: server.url(scenario), apiKey: KEY, model: 'fake-model' }] },
    });
  const first = await open('slow_trickle~close;delay_ms=50;words=400');
  t.after(() => first.close()); // idempotent; here for a failure before the close below
  let settled;
  first.workflow('tell', async (ctx) => {
    try {
      return await ctx.llm('story', { provider: 'p', messages: STORY, maxTokens: 1000 });
    } catch (e) {
      settled = e;
      throw e;
    }
  });
  first.launch();
  const { id } = await first.start('tell', {});
  for await (const e of first.events(id)) if (e.type === 'chunk') break;
  const t0 = Date.now();
  await first.close();
  assert.ok(Date.now() - t0 < 400, `close took ${Date.now() - t0} ms`);
  assert.ok(settled instanceof ClosedError, String(settled));

  const second = await open('normal~close');
  t.after(() => second.close());
  second.workflow('tell', async (ctx) => ctx.llm('story', { provider: 'p', messages: STORY }));
  second.launch();
  const run = await waitForRun(second, id);
  assert.equal(run.status, 'completed', JSON.stringify(run.error));
  assert.match(run.output.text, /^Fake reply to: «Tell me a story about a lighthouse»/);
});

test('a 429 is retried after its retry-after, with a step.retrying event, then completes', async (t) => {
  const server = await startFakeServer(t);
  const engine = await engineFor(t, server, { busy: 'rate_limited_then_ok~t1;retry_after_ms=200' });
  let executions = 0;
  engine.workflow('tell', { retry: { maxAttempts: 3, initialBackoffMs: 10 } }, async (ctx) => {
    executions++;
    return ctx.llm('story', { provider: 'busy', messages: STORY });
  });
  engine.launch();
  const t0 = Date.now();
  const run = await waitForRun(engine, (await engine.start('tell', {})).id);
  assert.equal(run.status, 'completed', JSON.stringify(run.error));
  assert.ok(Date.now() - t0 >= 200, `completed after ${Date.now() - t0} ms`);
  assert.equal(executions, 2);
  const events = await engine.storedEvents(run.id);
  const types = events.map((e) => e.type);
  assert.deepEqual(
    types.filter((x) => x.startsWith('llm.') || x.startsWith('step.')),
    ['llm.attempt', 'step.retrying', 'llm.attempt', 'step.completed'],
  );
  const retrying = events.find((e) => e.type === 'step.retrying').data;
  assert.equal(retrying.name, 'story');
  assert.equal(retrying.delay_ms, 200);
  assert.match(JSON.stringify(retrying.error), /rate limited \(HTTP 429\)/);
  assert.equal((await server.stats()).requests['rate_limited_then_ok~t1;retry_after_ms=200'], 2);
});

test('a 401 fails at once with ProviderError, without the key anywhere', async (t) => {
  const server = await startFakeServer(t);
  const engine = await engineFor(t, server, { locked: 'unauthorized' });
  let caught;
  engine.workflow('tell', { retry: { maxAttempts: 5, initialBackoffMs: 1 } }, async (ctx) => {
    try {
      return await ctx.llm('story', { provider: 'locked', messages: STORY });
    } catch (e) {
      caught = e;
      throw e;
    }
  });
  engine.launch();
  const run = await waitForRun(engine, (await engine.start('tell', {})).id);
  assert.equal(run.status, 'failed');
  assert.ok(caught instanceof ProviderError, String(caught));
  assert.equal(caught.code, 'provider');
  assert.equal(caught.errorClass, 'fatal');
  assert.equal(caught.message, 'locked (fake-model): the provider refused the credentials (HTTP 401): Incorrect API key provided');
  assert.equal(run.error.code, 'provider');
  assert.equal(run.error.step, 'story');
  const events = await engine.storedEvents(run.id);
  assert.equal(events.filter((e) => e.type === 'llm.attempt').length, 1);
  const everything = JSON.stringify({ run, events, caught: caught.message, providers: await engine.llmProviders() });
  assert.ok(!everything.includes(KEY), 'the key leaked');
});

test('cancelling a run mid-stream stops it promptly and settles the llm Promise', async (t) => {
  const server = await startFakeServer(t);
  const engine = await engineFor(t, server, { slow: 'slow_trickle;delay_ms=50;words=400' });
  let settled;
  engine.workflow('tell', async (ctx) => {
    try {
      return await ctx.llm('story', { provider: 'slow', messages: STORY, maxTokens: 1000 });
    } catch (e) {
      settled = e;
      throw e;
    }
  });
  engine.launch();
  const { id } = await engine.start('tell', {});
  for await (const e of engine.events(id)) if (e.type === 'chunk') break; // streaming now
  const t0 = Date.now();
  await engine.cancel(id);
  const run = await waitForRun(engine, id);
  assert.equal(run.status, 'cancelled');
  while (settled === undefined && Date.now() - t0 < 2000) await new Promise((r) => setTimeout(r, 5));
  const elapsed = Date.now() - t0;
  assert.ok(elapsed < 1000, `settled ${elapsed} ms after the cancel`);
  assert.ok(settled instanceof CancelledError, String(settled));
  assert.match(settled.message, /cancelled/);
  // A late reader gets every stored chunk, also one stored after run.cancelled.
  await new Promise((r) => setTimeout(r, 100));
  const late = [];
  for await (const e of engine.events(id)) late.push(e);
  const stored = await engine.storedEvents(id);
  const text = (events) => events.filter((e) => e.type === 'chunk').map((e) => e.data.text).join('');
  assert.ok(text(stored).length > 0);
  assert.equal(text(late), text(stored));
  assert.deepEqual(late.map((e) => e.id), stored.map((e) => e.id));
});

test('a resource with maxInFlight 1 admits one request at a time; the others wait with llm.waiting', async (t) => {
  const server = await startFakeServer(t);
  const engine = await engineFor(t, server, { slow: 'slow_trickle;delay_ms=15;words=8' }, {
    resources: { 'llm:slow': { maxInFlight: 1 } },
    workers: 4,
  });
  engine.workflow('tell', async (ctx, input) => ctx.llm('story', { provider: 'slow', messages: [{ role: 'user', content: `story ${input.n}` }] }));
  engine.launch();
  const ids = [];
  for (let n = 0; n < 3; n++) ids.push((await engine.start('tell', { n })).id);
  let maxInFlight = 0;
  let maxWaiting = 0;
  const done = Promise.all(ids.map((id) => waitForRun(engine, id)));
  let finished = false;
  done.then(() => (finished = true), () => (finished = true));
  while (!finished) {
    const s = await engine.resourceStatus('llm:slow');
    maxInFlight = Math.max(maxInFlight, s.inFlight);
    maxWaiting = Math.max(maxWaiting, s.waiting);
    await new Promise((r) => setTimeout(r, 2));
  }
  const runs = await done;
  assert.deepEqual(runs.map((r) => r.status), ['completed', 'completed', 'completed']);
  assert.equal(maxInFlight, 1);
  assert.ok(maxWaiting >= 1, `waiting peaked at ${maxWaiting}`);
  let waits = 0;
  for (const id of ids) {
    const events = await engine.storedEvents(id);
    for (const e of events.filter((x) => x.type === 'llm.waiting')) {
      assert.deepEqual(e.data, { seq: 0, name: 'story', resource: 'llm:slow' });
      waits++;
    }
  }
  assert.ok(waits >= 2, `${waits} llm.waiting events`);
  const after = await engine.resourceStatus('llm:slow');
  assert.equal(after.inFlight, 0);
  assert.equal(after.waiting, 0);
});

test('a retried llm attempt starts at its stream\'s end: chunks carry attempt_start, the snapshot the latest attempt', async (t) => {
  const server = await startFakeServer(t);
  const engine = await engineFor(t, server, { broken: 'break_midway;after=6;words=30', fine: 'normal;words=30' });
  let executions = 0;
  engine.workflow('tell', { retry: { maxAttempts: 2, initialBackoffMs: 1, jitter: false } }, async (ctx) => {
    // The first attempt's stream breaks after a few words; the retry's completes.
    executions++;
    return ctx.llm('story', { provider: executions === 1 ? 'broken' : 'fine', messages: STORY });
  });
  engine.launch();
  const run = await waitForRun(engine, (await engine.start('tell', {})).id);
  assert.equal(run.status, 'completed', JSON.stringify(run.error));
  assert.equal(executions, 2);
  const events = await engine.storedEvents(run.id);
  const attempts = events.filter((e) => e.type === 'llm.attempt').map((e) => e.data);
  assert.deepEqual(attempts.map((a) => [a.attempt, a.provider]), [[1, 'broken'], [2, 'fine']]);
  const chunks = events.filter((e) => e.type === 'chunk').map((e) => e.data);
  const first = chunks.filter((c) => c.attempt_start === 0);
  const end1 = Buffer.byteLength(first.map((c) => c.text).join(''));
  assert.ok(end1 > 0, 'the broken attempt streamed some text');
  assert.equal(attempts[0].offset, 0);
  assert.equal(attempts[1].offset, end1, 'the retry starts at the stream\'s end');
  const second = chunks.filter((c) => c.attempt_start === end1);
  assert.equal(first.length + second.length, chunks.length, JSON.stringify(chunks));
  assert.equal(second[0].offset, end1);
  // Only the current attempt's text is the answer.
  assert.equal(second.map((c) => c.text).join(''), run.output.text);
  const snap = await engine.snapshot(run.id);
  assert.deepEqual(snap.streams, { story: { attemptStart: end1, end: end1 + Buffer.byteLength(run.output.text) } });
});
