// Host steps that use a resource: ctx.step(name, fn, { resource, tokens }).
// The cap holds, waiting holds no thread (the JS thread keeps running other
// steps), a rate-limited failure pauses the resource, and bad options are refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError } from 'storyloom';
import { openEngine, waitForRun } from '../test-support/helpers.mjs';

test('a step using a resource never runs more at once than its cap', async (t) => {
  const engine = await openEngine(t, { resources: { images: { maxInFlight: 2 } } });
  let inside = 0;
  let peak = 0;
  engine.workflow('picture', async (ctx) =>
    ctx.step(
      'draw',
      async () => {
        peak = Math.max(peak, ++inside);
        await new Promise((r) => setTimeout(r, 10));
        inside--;
        return 'drawn';
      },
      { resource: 'images' },
    ),
  );
  engine.launch();
  const runs = await Promise.all(Array.from({ length: 8 }, () => engine.start('picture', {})));
  for (const run of runs) assert.equal((await waitForRun(engine, run.id)).status, 'completed');
  assert.equal(peak, 2);
  assert.equal((await engine.resourceStatus('images')).inFlight, 0);
});

test('an error with errorClass rate_limited and retryAfterMs pauses the resource', async (t) => {
  const engine = await openEngine(t, { resources: { api: { maxInFlight: 4 } } });
  let attempts = 0;
  engine.workflow('call', { retry: { maxAttempts: 2, initialBackoffMs: 1 } }, async (ctx) =>
    ctx.step(
      'call',
      () => {
        if (attempts++ === 0) {
          throw Object.assign(new Error('429 from the image API'), { errorClass: 'rate_limited', retryAfterMs: 300 });
        }
        return 'ok';
      },
      { resource: 'api' },
    ),
  );
  engine.launch();
  const started = Date.now();
  const run = await engine.start('call', {});
  const deadline = Date.now() + 5000;
  while ((await engine.resourceStatus('api')).pausedUntilMs === 0) {
    assert.ok(Date.now() < deadline, 'the resource was never paused');
    await new Promise((r) => setTimeout(r, 5));
  }
  const done = await waitForRun(engine, run.id);
  assert.equal(done.status, 'completed', JSON.stringify(done.error));
  assert.ok(Date.now() - started >= 290, `retried after ${Date.now() - started} ms`);
  assert.equal(attempts, 2);
});

test('a run cancelled while its step waits for a resource ends at once', async (t) => {
  const engine = await openEngine(t, { resources: { api: { maxInFlight: 1 } } });
  let release;
  const held = new Promise((r) => (release = r));
  engine.workflow('call', async (ctx, input) =>
    ctx.step('call', async () => (input.hold ? held : 'quick'), { resource: 'api' }),
  );
  engine.launch();
  const holder = await engine.start('call', { hold: true });
  const waiter = await engine.start('call', { hold: false });
  const deadline = Date.now() + 5000;
  while ((await engine.resourceStatus('api')).waiting !== 1) {
    assert.ok(Date.now() < deadline, 'the second run never waited for the resource');
    await new Promise((r) => setTimeout(r, 5));
  }
  await engine.cancel(waiter.id);
  assert.equal((await waitForRun(engine, waiter.id, ['cancelled'], 2000)).status, 'cancelled');
  release('done');
  assert.equal((await waitForRun(engine, holder.id)).status, 'completed');
});

test('step options of the wrong shape are refused naming the field', async (t) => {
  const engine = await openEngine(t);
  const seen = [];
  engine.workflow('bad', async (ctx) => {
    for (const options of [{ resource: 7 }, { tokens: 'many' }, { resourse: 'api' }, null]) {
      try {
        await ctx.step('s', () => 1, options);
      } catch (e) {
        seen.push(e);
      }
    }
    return seen.length;
  });
  engine.launch();
  const run = await engine.start('bad', {});
  await waitForRun(engine, run.id);
  assert.equal(seen.length, 4);
  for (const e of seen) assert.ok(e instanceof InvalidArgumentError, `${e?.name}: ${e?.message}`);
  assert.match(seen[0].message, /^step 's' options\.resource must be a string, got 7$/);
  assert.match(seen[1].message, /^step 's' options\.tokens must be a finite number, got "many"$/);
  assert.match(seen[2].message, /unknown option 'resourse' \(known: resource, tokens, retry\)/);
  assert.match(seen[3].message, /^step 's' options must be an object, got null$/);
});
