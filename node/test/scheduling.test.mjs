// Workflow limits and timeouts (maxRunning, concurrency, throttle,
// runTimeoutMs, retry.timeoutMs with heartbeats) and the run controls
// (retryFailed, cancelMany, setPriority, rewind), with their error messages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError, InvalidStateError, NotFoundError } from 'storyloom';
import { openEngine, waitForRun } from '../test-support/helpers.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Counts how many callers are inside at once, overall and per key. */
function gauge() {
  const now = new Map();
  const peak = new Map();
  return {
    async inside(key, ms) {
      for (const k of [key, '*']) {
        now.set(k, (now.get(k) ?? 0) + 1);
        peak.set(k, Math.max(peak.get(k) ?? 0, now.get(k)));
      }
      await sleep(ms);
      for (const k of [key, '*']) now.set(k, now.get(k) - 1);
    },
    peak: (key) => peak.get(key) ?? 0,
  };
}

function rejectsWith(type, message) {
  return (e) => {
    assert.ok(e instanceof type, `${e?.name}: ${e?.message}`);
    assert.match(e.message, message);
    return true;
  };
}

test('maxRunning caps the running runs of a workflow', async (t) => {
  const engine = await openEngine(t, { workers: 4 });
  const g = gauge();
  engine.workflow('capped', { maxRunning: 1 }, async (ctx) => ctx.step('work', () => g.inside('all', 30)));
  engine.launch();
  const ids = [];
  for (let i = 0; i < 3; i++) ids.push((await engine.start('capped', {})).id);
  for (const id of ids) assert.equal((await waitForRun(engine, id)).status, 'completed');
  assert.equal(g.peak('*'), 1);
});

test('concurrency caps running runs per key value; other keys run alongside', async (t) => {
  const engine = await openEngine(t, { workers: 4 });
  const g = gauge();
  engine.workflow('per-user', { concurrency: { key: '$.user', limit: 1 } }, async (ctx, input) =>
    ctx.step('work', () => g.inside(input.user, 80)),
  );
  engine.launch();
  const ids = [];
  for (const user of ['ann', 'ann', 'bob']) ids.push((await engine.start('per-user', { user })).id);
  for (const id of ids) assert.equal((await waitForRun(engine, id)).status, 'completed');
  assert.equal(g.peak('ann'), 1);
  assert.equal(g.peak('bob'), 1);
  assert.equal(g.peak('*'), 2);
});

test('throttle spaces the starts of a workflow', async (t) => {
  const engine = await openEngine(t);
  engine.workflow('throttled', { throttle: { limit: 1, periodMs: 150 } }, async () => 'ok');
  engine.launch();
  const a = await engine.start('throttled', {});
  const b = await engine.start('throttled', {});
  await waitForRun(engine, a.id);
  await waitForRun(engine, b.id);
  const startedAt = async (id) => (await engine.storedEvents(id)).find((e) => e.type === 'run.started').createdAtMs;
  const gap = (await startedAt(b.id)) - (await startedAt(a.id));
  assert.ok(gap >= 120, `the second run started ${gap} ms after the first`);
});

test('runTimeoutMs fails a run that takes too long, parked time included', async (t) => {
  const engine = await openEngine(t);
  engine.workflow('forever', { runTimeoutMs: 80 }, async (ctx) => ctx.waitForSignal('never'));
  engine.launch();
  const { id } = await engine.start('forever', {});
  const run = await waitForRun(engine, id);
  assert.equal(run.status, 'failed');
  assert.equal(run.error.code, 'timeout');
  assert.equal(run.error.message, `run '${id}' exceeded its run timeout of 80 ms`);
});

test('retry.timeoutMs fails a silent step; heartbeats keep a long one alive; a timeout is retried', async (t) => {
  const unreported = [];
  const engine = await openEngine(t, { onError: (e) => unreported.push(e) });
  engine.workflow('silent', { retry: { timeoutMs: 80 } }, async (ctx) => ctx.step('s', () => sleep(250).then(() => 1)));
  engine.workflow('beating', { retry: { timeoutMs: 80 } }, async (ctx) =>
    ctx.step('s', async ({ heartbeat }) => {
      for (let i = 0; i < 8; i++) {
        await sleep(30);
        if (i % 2) heartbeat();
        else ctx.heartbeat();
      }
      return 'alive';
    }),
  );
  let attempts = 0;
  engine.workflow('second-try', { retry: { timeoutMs: 80, maxAttempts: 2, initialBackoffMs: 1 } }, async (ctx) =>
    ctx.step('s', async () => {
      attempts++;
      if (attempts === 1) await sleep(250);
      return attempts;
    }),
  );
  engine.launch();
  const silent = await engine.start('silent', {});
  const beating = await engine.start('beating', {});
  const second = await engine.start('second-try', {});
  const failed = await waitForRun(engine, silent.id);
  assert.equal(failed.status, 'failed');
  assert.equal(failed.error.code, 'timeout');
  assert.equal(failed.error.class, 'timeout');
  assert.equal(failed.error.message, `step 's' of run '${silent.id}' timed out after 80 ms without finishing or a heartbeat`);
  assert.deepEqual([(await waitForRun(engine, beating.id)).output], ['alive']);
  const retried = await waitForRun(engine, second.id);
  assert.equal(retried.status, 'completed', JSON.stringify(retried.error));
  assert.equal(retried.output, 2);
  await sleep(250); // the timed-out step functions return meanwhile
  assert.deepEqual(unreported, [], 'a step finishing after its timeout is not reported');
});

test('ctx.heartbeat outside a step does nothing; after the workflow returns it throws', async (t) => {
  const engine = await openEngine(t);
  let kept;
  engine.workflow('idle', async (ctx) => {
    ctx.heartbeat();
    kept = ctx;
    return 'done';
  });
  engine.launch();
  await waitForRun(engine, (await engine.start('idle', {})).id);
  assert.throws(() => kept.heartbeat(), /ctx\.heartbeat\(\) called after the workflow function returned/);
});

test('bad workflow limits are InvalidArgumentError naming the workflow and the field', async (t) => {
  const engine = await openEngine(t);
  const cases = [
    [{ maxRunning: -1 }, /^workflow 'w': max_running must not be negative \(0: no limit\), got -1$/],
    [{ maxRunning: 1.5 }, /^workflow 'w': maxRunning must be an integer, got 1\.5$/],
    [{ maxRunning: 2 ** 31 }, /^workflow 'w': maxRunning must be at most 2147483647, got 2147483648$/],
    [{ concurrency: { key: '', limit: 1 } }, /^workflow 'w': concurrency key path is empty; give a JSON path into the input such as "\$\.user_id"$/],
    [{ concurrency: { key: '$.', limit: 1 } }, /concurrency key path '\$\.' has an empty member name/],
    [{ concurrency: { key: 'user', limit: 0 } }, /^workflow 'w': concurrency limit must be at least 1, got 0$/],
    [{ concurrency: { key: 'user' } }, /^workflow 'w': concurrency\.limit is required$/],
    [{ concurrency: { key: 7, limit: 1 } }, /^workflow 'w': concurrency\.key must be a string, got 7$/],
    [{ concurrency: 'user' }, /^workflow 'w': concurrency must be an object, got "user"$/],
    [{ concurrency: { path: 'user', limit: 1 } }, /^workflow 'w': unknown concurrency option 'path' \(known: key, limit\)$/],
    [{ throttle: { limit: 1, periodMs: 0 } }, /^workflow 'w': throttle period must be at least 1 ms, got 0 ms$/],
    [{ throttle: { key: 'u', limit: 0, periodMs: 10 } }, /^workflow 'w': throttle limit must be at least 1, got 0$/],
    [{ throttle: { key: 'u' } }, /^workflow 'w': throttle\.limit is required$/],
    [{ throttle: { limit: 1, period: 10 } }, /^workflow 'w': unknown throttle option 'period' \(known: key, limit, periodMs\)$/],
    [{ runTimeoutMs: -1 }, /^workflow 'w': run_timeout must not be negative \(0: none\), got -1 ms$/],
    [{ runTimeoutMs: '1s' }, /^workflow 'w': runTimeoutMs must be an integer, got "1s"$/],
    [{ retry: { timeoutMs: -1 } }, /^workflow 'w': timeout must not be negative \(0: none\), got -1 ms$/],
    [{ retry: { timeoutMs: 0.5 } }, /^workflow 'w': retry\.timeoutMs must be an integer, got 0\.5$/],
    [{ timeoutMs: 5 }, /^workflow 'w': unknown option 'timeoutMs' \(known: retry, maxRunning, concurrency, throttle, runTimeoutMs\)$/],
  ];
  for (const [options, message] of cases) {
    assert.throws(() => engine.workflow('w', options, async () => 1), rejectsWith(InvalidArgumentError, message), JSON.stringify(options));
  }
  engine.workflow('w', { maxRunning: 0, concurrency: { key: '$.user.id', limit: 2 }, throttle: { limit: 5, periodMs: 1000 } }, async () => 1);
});

test('retryFailed queues the failed runs a filter matches; completed steps are kept', async (t) => {
  const engine = await openEngine(t);
  let broken = true;
  let firstSteps = 0;
  const flaky = async (ctx) => {
    await ctx.step('first', () => ++firstSteps);
    return ctx.step('second', () => {
      if (broken) throw new Error('down for maintenance');
      return 'fixed';
    });
  };
  engine.workflow('a', flaky);
  engine.workflow('b', flaky);
  engine.launch();
  const ids = [];
  for (const w of ['a', 'a', 'b']) ids.push((await engine.start(w, {}, { owner: 'ops' })).id);
  for (const id of ids) assert.equal((await waitForRun(engine, id)).status, 'failed');
  const failedAt = (await engine.get(ids[2])).finishedAtMs;

  assert.equal(await engine.retryFailed({ errorClass: 'timeout' }), 0);
  assert.equal((await engine.list({ status: 'failed', errorClass: 'retryable' })).runs.length, 3);
  assert.equal((await engine.list({ status: 'failed', finishedAfterMs: failedAt + 60_000 })).runs.length, 0);
  broken = false;
  assert.equal(await engine.retryFailed({ workflow: 'a', owner: 'ops', status: 'failed' }), 2);
  assert.deepEqual([(await waitForRun(engine, ids[0])).output, (await waitForRun(engine, ids[1])).output], ['fixed', 'fixed']);
  assert.equal((await engine.get(ids[2])).status, 'failed');
  assert.equal(firstSteps, 3, 'first steps ran once per run');
  assert.equal(await engine.retryFailed(), 1);
  assert.equal((await waitForRun(engine, ids[2])).output, 'fixed');
});

test('cancelMany cancels the unfinished runs a filter matches and returns their ids', async (t) => {
  const engine = await openEngine(t);
  engine.workflow('wait', async (ctx) => ctx.waitForSignal('go'));
  engine.workflow('other', async (ctx) => ctx.waitForSignal('go'));
  engine.launch();
  const mine = [(await engine.start('wait', {})).id, (await engine.start('wait', {})).id];
  const other = (await engine.start('other', {})).id;
  for (const id of [...mine, other]) await waitForRun(engine, id, ['waiting']);
  const cancelled = await engine.cancelMany({ workflow: 'wait', status: 'waiting' });
  assert.deepEqual([...cancelled].sort(), [...mine].sort());
  for (const id of mine) assert.equal((await engine.get(id)).status, 'cancelled');
  assert.equal((await engine.get(other)).status, 'waiting');
  assert.deepEqual(await engine.cancelMany({ workflow: 'wait' }), []);
});

test('run filters are checked: shapes in TypeScript, meanings by the engine', async (t) => {
  const engine = await openEngine(t);
  await assert.rejects(engine.retryFailed({ status: 'completed' }), rejectsWith(InvalidArgumentError, /^retry by filter takes failed runs only; the filter asks for completed runs$/));
  await assert.rejects(engine.cancelMany({ status: 'completed' }), rejectsWith(InvalidArgumentError, /^cancel by filter takes unfinished runs only; the filter asks for completed runs$/));
  await assert.rejects(engine.cancelMany({ status: 'sideways' }), rejectsWith(InvalidArgumentError, /sideways/));
  await assert.rejects(
    engine.retryFailed({ errorClass: 'flaky' }),
    rejectsWith(InvalidArgumentError, /^engine\.retryFailed: filter\.errorClass must be one of retryable, fatal, rate_limited, timeout, got "flaky"$/),
  );
  await assert.rejects(engine.cancelMany({ limit: 5 }), rejectsWith(InvalidArgumentError, /^engine\.cancelMany: filter: unknown option 'limit' \(known: status, workflow/));
  await assert.rejects(engine.cancelMany({ finishedAfterMs: 'today' }), rejectsWith(InvalidArgumentError, /filter\.finishedAfterMs must be an integer, got "today"/));
  await assert.rejects(engine.list({ owner: 3 }), rejectsWith(InvalidArgumentError, /^engine\.list: options\.owner must be a string, got 3$/));
});

test('setPriority reorders queued runs; only a queued run can be changed, and a running run not rewound', async (t) => {
  const engine = await openEngine(t, { workers: 1 });
  const order = [];
  let unblock;
  const blocked = new Promise((r) => (unblock = r));
  engine.workflow('one-at-a-time', { maxRunning: 1 }, async (ctx, input) => {
    await ctx.step('work', async () => {
      if (input.name === 'blocker') await blocked;
      order.push(input.name);
    });
    return input.name;
  });
  engine.launch();
  const blocker = await engine.start('one-at-a-time', { name: 'blocker' });
  await waitForRun(engine, blocker.id, ['running']);
  const a = await engine.start('one-at-a-time', { name: 'a' });
  const b = await engine.start('one-at-a-time', { name: 'b' });
  await engine.setPriority(b.id, 10);
  assert.equal((await engine.get(b.id)).priority, 10);
  await assert.rejects(
    engine.setPriority(blocker.id, 5),
    rejectsWith(InvalidStateError, new RegExp(`^run '${blocker.id}' is running; its priority can only be changed while it is queued$`)),
  );
  await assert.rejects(
    engine.rewind(blocker.id, 'work'),
    rejectsWith(InvalidStateError, new RegExp(`^run '${blocker.id}' is running; only completed or failed runs can be rewound$`)),
  );
  unblock();
  for (const r of [blocker, a, b]) await waitForRun(engine, r.id);
  assert.deepEqual(order, ['blocker', 'b', 'a']);
  const events = (await engine.storedEvents(b.id)).map((e) => e.type);
  assert.ok(events.includes('run.priority'), events.join(','));
  await assert.rejects(engine.setPriority(a.id, 1), rejectsWith(InvalidStateError, /is completed; its priority can only be changed while it is queued/));
  await assert.rejects(engine.setPriority('nope', 1), rejectsWith(NotFoundError, /^no run with id 'nope'$/));
  await assert.rejects(engine.setPriority(a.id, 1.5), rejectsWith(InvalidArgumentError, /^engine\.setPriority: priority must be an integer between -2147483648 and 2147483647, got 1\.5$/));
});

test('rewind redoes a finished run from a step; a running run cannot be rewound', async (t) => {
  const engine = await openEngine(t);
  const calls = { a: 0, b: 0, c: 0 };
  engine.workflow('abc', async (ctx) => {
    const a = await ctx.step('a', () => ++calls.a);
    const b = await ctx.step('b', () => ++calls.b);
    const c = await ctx.step('c', () => ++calls.c);
    return [a, b, c];
  });
  engine.workflow('waits', async (ctx) => {
    await ctx.step('a', () => 1);
    return ctx.waitForSignal('go');
  });
  engine.launch();
  const { id } = await engine.start('abc', {});
  assert.deepEqual((await waitForRun(engine, id)).output, [1, 1, 1]);
  await engine.rewind(id, 'b');
  const run = await waitForRun(engine, id, ['completed'], 5000);
  assert.deepEqual(run.output, [1, 2, 2]);
  assert.deepEqual(calls, { a: 1, b: 2, c: 2 });
  const rewound = (await engine.storedEvents(id)).find((e) => e.type === 'run.rewound');
  assert.deepEqual(rewound.data, { step: 'b', invalidated: ['b', 'c'] });

  const waiting = (await engine.start('waits', {})).id;
  await waitForRun(engine, waiting, ['waiting']);
  await assert.rejects(
    engine.rewind(waiting, 'a'),
    rejectsWith(InvalidStateError, new RegExp(`^run '${waiting}' is waiting; only completed or failed runs can be rewound$`)),
  );
  await assert.rejects(engine.rewind(id, 'zzz'), rejectsWith(NotFoundError, new RegExp(`^run '${id}' has no step named 'zzz'$`)));
  await assert.rejects(engine.rewind('nope', 'a'), rejectsWith(NotFoundError, /^no run with id 'nope'$/));
  await assert.rejects(engine.rewind(id, 3), rejectsWith(InvalidArgumentError, /^engine\.rewind: stepName must be a string, got 3$/));
});
