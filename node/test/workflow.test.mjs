// Workflows end to end: steps, memoization, sleeps, signals, child runs,
// progress, artifacts, failure and retry, cancellation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Engine } from 'storyloom';
import { openEngine, waitForRun } from '../test-support/helpers.mjs';

test('a workflow completes with its output, progress, artifacts and custom events', async (t) => {
  const engine = await openEngine(t, { workers: 2 });
  engine.workflow('story', {}, async (ctx, input) => {
    const outline = await ctx.step('outline', async () => ({ title: `A ${input.topic}` }));
    ctx.artifact('outline', outline);
    ctx.chunk('page/1', 'Once upon ');
    ctx.chunk('page/1', 'a time');
    ctx.emit('note', { hello: 'world' });
    ctx.progress({ pages: 1 });
    return { title: outline.title, runId: ctx.runId, workflow: ctx.workflow };
  });
  engine.launch();
  const started = await engine.start('story', { topic: 'storm' }, { owner: 'user-7', priority: 3 });
  assert.equal(started.workflow, 'story');
  assert.equal(started.owner, 'user-7');
  assert.equal(started.priority, 3);
  assert.deepEqual(started.input, { topic: 'storm' });
  const run = await waitForRun(engine, started.id);
  assert.equal(run.status, 'completed');
  assert.deepEqual(run.output, { title: 'A storm', runId: started.id, workflow: 'story' });
  assert.deepEqual(run.progress, { pages: 1 });
  assert.ok(run.finishedAtMs > 0);

  const snap = await engine.snapshot(run.id);
  assert.equal(snap.run.status, 'completed');
  assert.deepEqual(snap.steps.map((s) => [s.name, s.status]), [['outline', 'completed']]);
  assert.deepEqual(snap.steps[0].result, { title: 'A storm' });
  assert.deepEqual(snap.artifacts.map((a) => [a.key, a.version, a.value]), [['outline', 1, { title: 'A storm' }]]);
  assert.ok(snap.lastEventId > 0);

  const events = await engine.storedEvents(run.id);
  const types = events.map((e) => e.type);
  assert.ok(types.includes('note'), types.join(','));
  const chunks = events.filter((e) => e.type === 'chunk').map((e) => e.data.text).join('');
  assert.equal(chunks, 'Once upon a time');
  assert.equal(events.at(-1).id, snap.lastEventId);
});

test('a step is memoized across a durable sleep', async (t) => {
  const engine = await openEngine(t);
  let firstStep = 0;
  let executions = 0;
  engine.workflow('nap', async (ctx) => {
    executions++;
    const a = await ctx.step('first', async () => {
      firstStep++;
      return { at: Date.now() };
    });
    await ctx.sleep('nap', 50);
    const b = await ctx.step('second', () => 2);
    return { a, b };
  });
  engine.launch();
  const t0 = Date.now();
  const { id } = await engine.start('nap', {});
  const run = await waitForRun(engine, id);
  assert.equal(run.status, 'completed');
  assert.ok(Date.now() - t0 >= 50);
  assert.equal(firstStep, 1);
  assert.equal(executions, 2);
  assert.equal(run.output.b, 2);
  const snap = await engine.snapshot(id);
  assert.deepEqual(snap.steps.map((s) => s.name), ['first', 'nap', 'second']);
});

test('a signal sent before the wait is kept; a wait times out to undefined', async (t) => {
  const engine = await openEngine(t);
  engine.workflow('approval', async (ctx) => {
    await ctx.step('draft', async () => {
      await new Promise((r) => setTimeout(r, 30));
      return 'draft';
    });
    const approved = await ctx.waitForSignal('approve');
    const late = await ctx.waitForSignal('never', { timeout: 20 });
    return { approved, late: late === undefined ? 'timed out' : late };
  });
  engine.launch();
  const { id } = await engine.start('approval', {});
  await engine.signal(id, 'approve', { ok: true, by: 'editor' }); // before the run waits
  const run = await waitForRun(engine, id);
  assert.equal(run.status, 'completed', JSON.stringify(run.error));
  assert.deepEqual(run.output, { approved: { ok: true, by: 'editor' }, late: 'timed out' });
});

test('a run parked on a signal resumes when it arrives', async (t) => {
  const engine = await openEngine(t);
  engine.workflow('wait', async (ctx) => ({ got: await ctx.waitForSignal('go') }));
  engine.launch();
  const { id } = await engine.start('wait', {});
  await waitForRun(engine, id, ['waiting']);
  await engine.signal(id, 'go', 42);
  const run = await waitForRun(engine, id);
  assert.deepEqual(run.output, { got: 42 });
});

test('invoke runs a child workflow once and returns its output', async (t) => {
  const engine = await openEngine(t);
  let childRuns = 0;
  engine.workflow('child', async (ctx, input) => {
    childRuns++;
    return { doubled: input.n * 2 };
  });
  engine.workflow('parent', async (ctx) => ctx.invoke('kid', 'child', { n: 21 }));
  engine.launch();
  const { id } = await engine.start('parent', {});
  const run = await waitForRun(engine, id);
  assert.equal(run.status, 'completed', JSON.stringify(run.error));
  assert.deepEqual(run.output, { doubled: 42 });
  assert.equal(childRuns, 1);
  const children = (await engine.list({ workflow: 'child' })).runs;
  assert.equal(children.length, 1);
  assert.equal(children[0].parentId, id);
});

test('a failing step fails the run with its name and message; retry re-executes only from it', async (t) => {
  const engine = await openEngine(t);
  let fail = true;
  let firstCalls = 0;
  engine.workflow('flaky', async (ctx) => {
    await ctx.step('first', () => ++firstCalls);
    return ctx.step('second', () => {
      if (fail) throw new TypeError('the provider said no');
      return 'fine';
    });
  });
  engine.launch();
  const { id } = await engine.start('flaky', {});
  const failed = await waitForRun(engine, id);
  assert.equal(failed.status, 'failed');
  assert.equal(failed.error.code, 'step_failed');
  assert.match(failed.error.message, /TypeError: the provider said no/);
  assert.equal(failed.error.step, 'second');
  assert.deepEqual((await engine.list({ status: 'failed' })).runs.map((r) => r.id), [id]);

  fail = false;
  await engine.retry(id);
  const run = await waitForRun(engine, id);
  assert.equal(run.status, 'completed');
  assert.equal(run.output, 'fine');
  assert.equal(firstCalls, 1);
});

test('a workflow that throws outside a step fails with the error name and message', async (t) => {
  const engine = await openEngine(t);
  engine.workflow('throws', async () => {
    throw new RangeError('page 9 of 3');
  });
  engine.launch();
  const { id } = await engine.start('throws', {});
  const run = await waitForRun(engine, id);
  assert.equal(run.status, 'failed');
  assert.match(run.error.message, /RangeError: page 9 of 3/);
});

test('cancel aborts ctx.signal of a running step and cancels the run', async (t) => {
  const engine = await openEngine(t);
  let aborted;
  let onAbort;
  const abortSeen = new Promise((resolve) => (onAbort = resolve));
  const stepStarted = new Promise((resolve) => {
    engine.workflow('long', async (ctx) => {
      await ctx.step('forever', ({ signal }) => {
        resolve();
        return new Promise((_, reject) => {
          signal.addEventListener('abort', () => {
            aborted = signal.reason;
            onAbort();
            reject(signal.reason);
          });
        });
      });
      return 'unreachable';
    });
  });
  engine.launch();
  const { id } = await engine.start('long', {});
  await stepStarted;
  await engine.cancel(id);
  const run = await waitForRun(engine, id);
  assert.equal(run.status, 'cancelled');
  await abortSeen;
  assert.equal(aborted?.code, 'cancelled');
  assert.match(aborted.message, new RegExp(`run '${id}' was cancelled`));
});

test('idempotent start, list filters and paging, delete', async (t) => {
  const engine = await openEngine(t);
  engine.workflow('noop', async () => 'ok');
  engine.launch();
  const a = await engine.start('noop', { n: 1 }, { idempotencyKey: 'k1', owner: 'ann' });
  const again = await engine.start('noop', { n: 1 }, { idempotencyKey: 'k1', owner: 'ann' });
  assert.equal(again.id, a.id);
  assert.equal(a.idempotencyKey, 'k1');
  const b = await engine.start('noop', { n: 2 }, { owner: 'bob' });
  await waitForRun(engine, a.id);
  await waitForRun(engine, b.id);
  assert.deepEqual((await engine.list({ owner: 'bob' })).runs.map((r) => r.id), [b.id]);
  const page1 = await engine.list({ limit: 1 });
  assert.equal(page1.runs.length, 1);
  assert.equal(page1.runs[0].id, a.id);
  const page2 = await engine.list({ limit: 1, after: page1.nextCursor });
  assert.deepEqual(page2.runs.map((r) => r.id), [b.id]);
  await engine.delete(a.id);
  await assert.rejects(engine.get(a.id), { code: 'not_found' });
});

test('Engine.version is the C library version', () => {
  assert.match(Engine.version(), /^\d+\.\d+\.\d+$/);
});

test('closing the engine aborts a running step; the run resumes on the next open', async (t) => {
  const { tempDir } = await import('../test-support/helpers.mjs');
  const store = `sqlite:${(await import('node:path')).join(tempDir(t), 'close.db')}`;
  let firstCalls = 0;
  let abortedBy;
  const first = await Engine.open({ store, pollIntervalMs: 10 });
  const stepStarted = new Promise((resolve) => {
    first.workflow('long', async (ctx) => {
      await ctx.step('first', () => ++firstCalls);
      return ctx.step('forever', ({ signal }) => {
        resolve();
        return new Promise((_, reject) =>
          signal.addEventListener('abort', () => {
            abortedBy = signal.reason;
            reject(signal.reason);
          }),
        );
      });
    });
  });
  first.launch();
  const { id } = await first.start('long', {});
  await stepStarted;
  await first.close();
  assert.equal(abortedBy?.code, 'cancelled');

  const second = await Engine.open({ store, pollIntervalMs: 10 });
  t.after(() => second.close());
  second.workflow('long', async (ctx) => {
    await ctx.step('first', () => ++firstCalls);
    return ctx.step('forever', () => 'finished after reopening');
  });
  second.launch();
  const run = await waitForRun(second, id);
  assert.equal(run.status, 'completed', JSON.stringify(run.error));
  assert.equal(run.output, 'finished after reopening');
  assert.equal(firstCalls, 1);
});

test('close gives up on a step that ignores its signal; the step finishing later is harmless', async (t) => {
  const { tempDir } = await import('../test-support/helpers.mjs');
  const store = `sqlite:${(await import('node:path')).join(tempDir(t), 'drain.db')}`;
  const first = await Engine.open({ store, pollIntervalMs: 10, drainTimeoutMs: 100 });
  let release;
  const stepDone = new Promise((resolve) => (release = resolve));
  const stepStarted = new Promise((resolve) => {
    first.workflow('stubborn', async (ctx) => {
      return ctx.step('slow', async () => {
        resolve();
        await new Promise((r) => setTimeout(r, 300)); // ignores ctx.signal
        setImmediate(release);
        return 'late';
      });
    });
  });
  first.launch();
  const { id } = await first.start('stubborn', {});
  await stepStarted;
  const t0 = Date.now();
  await first.close();
  assert.ok(Date.now() - t0 < 290, 'close waited for the step');
  await stepDone; // its stepComplete/finish calls fail quietly on the closed engine

  const second = await Engine.open({ store, pollIntervalMs: 10 });
  t.after(() => second.close());
  second.workflow('stubborn', async (ctx) => ctx.step('slow', () => 'again'));
  second.launch();
  const run = await waitForRun(second, id);
  assert.equal(run.status, 'completed', JSON.stringify(run.error));
  assert.equal(run.output, 'again');
});

test('parallel steps are memoized; outside-step calls are not repeated on replay', async (t) => {
  const engine = await openEngine(t);
  const calls = { a: 0, b: 0 };
  engine.workflow('fan-out', async (ctx) => {
    const [a, b] = await Promise.all([
      ctx.step('a', async () => {
        calls.a++;
        await new Promise((r) => setTimeout(r, 15));
        return 'A';
      }),
      ctx.step('b', async () => {
        calls.b++;
        return 'B';
      }),
    ]);
    ctx.artifact('pair', { a, b });
    ctx.emit('paired', { a, b });
    ctx.progress({ stage: 'paired' });
    await ctx.sleep('nap', 20);
    return a + b;
  });
  engine.launch();
  const { id } = await engine.start('fan-out', {});
  const run = await waitForRun(engine, id);
  assert.equal(run.status, 'completed', JSON.stringify(run.error));
  assert.equal(run.output, 'AB');
  assert.deepEqual(calls, { a: 1, b: 1 });
  const artifacts = await engine.artifacts(id);
  assert.deepEqual(artifacts.map((a) => [a.key, a.version]), [['pair', 1]]);
  const paired = (await engine.storedEvents(id)).filter((e) => e.type === 'paired');
  assert.equal(paired.length, 1);
});

test('a caught step failure lets a compensating step complete the run, also on replay', async (t) => {
  const engine = await openEngine(t);
  const calls = [];
  engine.workflow('trip', {}, async (ctx) => {
    await ctx.step('book', async () => (calls.push('book'), 'booked'));
    try {
      await ctx.step('charge', async () => {
        calls.push('charge');
        throw new Error('card declined');
      });
    } catch (e) {
      const refund = await ctx.step('refund', async () => (calls.push('refund'), 'refunded'));
      await ctx.sleep('settle', 50); // parks: the next execution replays the failure
      return { outcome: refund, because: e.message };
    }
    return { outcome: 'charged' };
  });
  engine.launch();
  const run = await waitForRun(engine, (await engine.start('trip', {})).id);
  assert.equal(run.status, 'completed', JSON.stringify(run.error));
  assert.equal(run.output.outcome, 'refunded');
  assert.match(run.output.because, /card declined/);
  assert.deepEqual(calls, ['book', 'charge', 'refund']);
  const snap = await engine.snapshot(run.id);
  assert.deepEqual(snap.steps.map((s) => [s.name, s.status]), [
    ['book', 'completed'],
    ['charge', 'failed'],
    ['refund', 'completed'],
    ['settle', 'completed'],
  ]);
});
