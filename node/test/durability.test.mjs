// Durable before visible, launch() before execution, and the durability
// option: the Node side of docs/design.md's execution model rules 7 and 9.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { ClosedError, Engine, InvalidArgumentError } from 'storyloom';
import { openEngine, tempDir, waitForRun } from '../test-support/helpers.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

for (const durability of ['full', 'normal']) {
  test(`inside step 2, a second engine on the same file already sees step 1's result (durability ${durability})`, async (t) => {
    const store = `sqlite:${path.join(tempDir(t), 'shared.db')}`;
    const engine = await Engine.open({ store, pollIntervalMs: 10, durability });
    t.after(() => engine.close());
    // Never launched, and no workflow registered: it only reads.
    const reader = await Engine.open({ store, pollIntervalMs: 10 });
    t.after(() => reader.close());
    const seen = [];
    const seenOnReturn = [];
    engine.workflow('two-steps', async (ctx) => {
      for (let round = 0; round < 5; round++) {
        await ctx.step(`first/${round}`, () => ({ round }));
        // As soon as ctx.step resolves, not only once the next step begins.
        const now = await reader.snapshot(ctx.runId);
        seenOnReturn.push(now.steps.find((s) => s.name === `first/${round}`)?.status ?? 'missing');
        await ctx.step(`second/${round}`, async () => {
          const snap = await reader.snapshot(ctx.runId);
          const first = snap.steps.find((s) => s.name === `first/${round}`);
          seen.push(first ? [first.status, first.result] : 'missing');
          return round;
        });
      }
      return 'done';
    });
    engine.launch();
    const { id } = await engine.start('two-steps', {});
    const run = await waitForRun(engine, id);
    assert.equal(run.status, 'completed', JSON.stringify(run.error));
    assert.deepEqual(
      seen,
      [0, 1, 2, 3, 4].map((round) => ['completed', { round }]),
    );
    assert.deepEqual(seenOnReturn, Array(5).fill('completed'));
  });
}

test('nothing runs before launch(): a started run stays queued, then executes; launch is idempotent', async (t) => {
  const engine = await openEngine(t);
  let calls = 0;
  engine.workflow('counted', async (ctx) => ctx.step('count', () => ++calls));
  const { id } = await engine.start('counted', {});
  await sleep(200); // 20 poll intervals
  const before = await engine.snapshot(id);
  assert.equal(before.run.status, 'queued');
  assert.deepEqual(before.steps, []);
  assert.equal(calls, 0);
  // Reads and signals work before launch.
  assert.equal((await engine.list({ workflow: 'counted' })).runs.length, 1);

  engine.launch();
  engine.launch();
  const run = await waitForRun(engine, id);
  assert.equal(run.status, 'completed', JSON.stringify(run.error));
  assert.equal(run.output, 1);
  assert.equal(calls, 1);

  await engine.close();
  assert.throws(() => engine.launch(), (e) => e instanceof ClosedError && /closed/.test(e.message));
});

test('a run left by a closed engine waits for the next engine to launch', async (t) => {
  const store = `sqlite:${path.join(tempDir(t), 'recover.db')}`;
  const first = await Engine.open({ store, pollIntervalMs: 10, drainTimeoutMs: 50 });
  let entered;
  const inStep = new Promise((resolve) => (entered = resolve));
  first.workflow('story', async (ctx) => {
    await ctx.step('outline', () => 'outline');
    return ctx.step('page', ({ signal }) => {
      entered();
      return new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
    });
  });
  first.launch();
  const { id } = await first.start('story', {});
  await inStep;
  await first.close(); // the run goes back to the queue

  const second = await Engine.open({ store, pollIntervalMs: 10 });
  t.after(() => second.close());
  const calls = [];
  second.workflow('story', async (ctx) => {
    await ctx.step('outline', () => calls.push('outline'));
    return ctx.step('page', () => {
      calls.push('page');
      return 'page written';
    });
  });
  await sleep(200);
  assert.equal((await second.get(id)).status, 'queued');
  assert.deepEqual(calls, []);
  second.launch();
  const run = await waitForRun(second, id);
  assert.equal(run.status, 'completed', JSON.stringify(run.error));
  assert.equal(run.output, 'page written');
  assert.deepEqual(calls, ['page']); // the committed step is not executed again
});

test('Engine.open refuses a durability other than full or normal, naming the option', async () => {
  const cases = [
    ['fast', /^Engine\.open: durability must be 'full' or 'normal', got "fast"$/],
    ['FULL', /^Engine\.open: durability must be 'full' or 'normal', got "FULL"$/],
    [1, /^Engine\.open: durability must be 'full' or 'normal', got 1$/],
    [null, /^Engine\.open: durability must be 'full' or 'normal', got null$/],
    ['toString', /^Engine\.open: durability must be 'full' or 'normal', got "toString"$/],
  ];
  for (const [durability, message] of cases) {
    await assert.rejects(
      Engine.open({ store: ':memory:', durability }),
      (e) => {
        assert.ok(e instanceof InvalidArgumentError, `${e?.name}: ${e?.message}`);
        assert.equal(e.code, 'invalid_argument');
        assert.match(e.message, message);
        return true;
      },
      String(durability),
    );
  }
});

test('a step in a durability normal engine completes like one in a full one', async (t) => {
  const engine = await openEngine(t, { durability: 'normal' });
  engine.workflow('w', async (ctx) => ctx.step('s', () => 'ok'));
  engine.launch();
  const run = await waitForRun(engine, (await engine.start('w', {})).id);
  assert.equal(run.status, 'completed', JSON.stringify(run.error));
  assert.equal(run.output, 'ok');
});
