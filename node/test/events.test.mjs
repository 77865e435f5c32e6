// Event streams: the async iterator and the SSE Response, against the store.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openEngine, readAll, sseIds, waitForRun } from '../test-support/helpers.mjs';

function pages(engine) {
  engine.workflow('pages', async (ctx) => {
    for (let p = 1; p <= 3; p++) {
      const text = await ctx.step(`page/${p}`, async () => {
        ctx.chunk(`page/${p}`, `page ${p} text`);
        return `page ${p}`;
      });
      ctx.artifact(`page/${p}`, text);
      ctx.progress({ page: p });
    }
    return 'book';
  });
}

async function collect(iterable) {
  const out = [];
  for await (const e of iterable) out.push(e);
  return out;
}

test('the events iterator of a finished run matches the stored events and ends', async (t) => {
  const engine = await openEngine(t);
  pages(engine);
  engine.launch();
  const { id } = await engine.start('pages', {});
  await waitForRun(engine, id);
  const stored = await engine.storedEvents(id);
  const seen = await collect(engine.events(id));
  assert.deepEqual(seen, stored);
  assert.equal(seen.at(-1).type, 'run.completed');
  // after: resumes strictly after an id
  const mid = stored[3].id;
  const rest = await collect(engine.events(id, { after: mid }));
  assert.deepEqual(rest, stored.slice(4));
  // after the last id: ends at once
  assert.deepEqual(await collect(engine.events(id, { after: stored.at(-1).id })), []);
});

test('a live events iterator sees the run through to its end with stored events intact', async (t) => {
  const engine = await openEngine(t);
  engine.workflow('slow', async (ctx) => {
    await ctx.step('a', () => new Promise((r) => setTimeout(() => r(1), 20)));
    ctx.chunk('s', 'hello ');
    ctx.chunk('s', 'world');
    await ctx.sleep('nap', 30);
    return ctx.step('b', () => 2);
  });
  engine.launch();
  const { id } = await engine.start('slow', {});
  const seen = await collect(engine.events(id));
  const stored = await engine.storedEvents(id);
  assert.deepEqual(
    seen.filter((e) => e.kind === 'stored'),
    stored.filter((e) => seen.some((s) => s.id === e.id && s.kind === 'stored')),
  );
  // every stored id appears once, as a stored event or a cursor, in order
  const ids = seen.filter((e) => e.kind !== 'transient').map((e) => e.id);
  assert.deepEqual(ids, stored.map((e) => e.id));
  const liveText = seen.filter((e) => e.kind === 'transient').map((e) => e.data.text).join('');
  const storedText = seen.filter((e) => e.kind === 'stored' && e.type === 'chunk').map((e) => e.data.text).join('');
  assert.equal(liveText + storedText, 'hello world');
});

test('breaking out of the iterator closes the subscription', async (t) => {
  const engine = await openEngine(t);
  engine.workflow('wait', async (ctx) => ctx.waitForSignal('never'));
  engine.launch();
  const { id } = await engine.start('wait', {});
  for await (const e of engine.events(id)) {
    assert.equal(e.type, 'run.created');
    break;
  }
  const controller = new AbortController();
  const it = engine.events(id, { signal: controller.signal });
  const first = await it.next();
  assert.equal(first.value.type, 'run.created');
  setTimeout(() => controller.abort(), 20);
  const all = [];
  for (let r = await it.next(); !r.done; r = await it.next()) all.push(r.value);
  assert.ok(all.every((e) => e.type !== 'run.completed'));
  await engine.cancel(id);
});

test('sseResponse streams the stored events as SSE and resumes after lastEventId', async (t) => {
  const engine = await openEngine(t);
  pages(engine);
  engine.launch();
  const { id } = await engine.start('pages', {});
  await waitForRun(engine, id);
  const stored = await engine.storedEvents(id);

  const response = engine.sseResponse(id, { heartbeatMs: 0 });
  assert.equal(response.headers.get('content-type'), 'text/event-stream; charset=utf-8');
  const text = await readAll(response);
  assert.deepEqual(sseIds(text), stored.map((e) => e.id));
  assert.match(text, /^event: run\.completed$/m);
  assert.match(text, /^data: /m);

  const resumeAt = stored[2].id;
  const resumed = await readAll(engine.sseResponse(id, { lastEventId: String(resumeAt), retryMs: 1500 }));
  assert.ok(resumed.startsWith('retry: 1500'), resumed.slice(0, 40));
  assert.deepEqual(sseIds(resumed), stored.slice(3).map((e) => e.id));
});

test('sseResponse of a live run sends heartbeats and closes when the signal aborts', async (t) => {
  const engine = await openEngine(t);
  engine.workflow('wait', async (ctx) => ctx.waitForSignal('go'));
  engine.launch();
  const { id } = await engine.start('wait', {});
  await waitForRun(engine, id, ['waiting']);
  const controller = new AbortController();
  const response = engine.sseResponse(id, { signal: controller.signal, heartbeatMs: 10 });
  setTimeout(() => controller.abort(), 80);
  const text = await readAll(response);
  assert.match(text, /^: heartbeat$/m);
  assert.match(text, /^event: run\.waiting$/m);
  // the run is untouched and can still finish
  await engine.signal(id, 'go', 'now');
  assert.equal((await waitForRun(engine, id)).output, 'now');
});

test('sseResponse follows a live run to its end', async (t) => {
  const engine = await openEngine(t);
  engine.workflow('wait', async (ctx) => ctx.waitForSignal('go'));
  engine.launch();
  const { id } = await engine.start('wait', {});
  const reading = readAll(engine.sseResponse(id, { heartbeatMs: 0 }));
  await waitForRun(engine, id, ['waiting']);
  await engine.signal(id, 'go', 1);
  const text = await reading;
  const stored = await engine.storedEvents(id);
  assert.deepEqual(sseIds(text), stored.map((e) => e.id));
});
