// engine.startMany and engine.signalMany: many runs started or signalled in
// one commit, each checked alone (sl_engine_start_many, sl_engine_signal_many).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError, InvalidStateError, NotFoundError } from 'storyloom';
import { openEngine, waitForRun } from '../test-support/helpers.mjs';

test('startMany starts each valid request and answers every one in order', async (t) => {
  const engine = await openEngine(t);
  engine.workflow('double', async (ctx, input) => ctx.step('x2', () => input.n * 2));
  engine.launch();
  const first = await engine.start('double', { n: 0 }, { idempotencyKey: 'seen' });
  const results = await engine.startMany([
    { workflow: 'double', input: { n: 1 } },
    { workflow: 'ghost', input: {} },
    { workflow: 'double', input: { n: 2 }, owner: 'ann', priority: 4 },
    { workflow: 'double', input: { n: 9 }, idempotencyKey: 'seen' },
  ]);
  assert.equal(results.length, 4);
  assert.ok(results[1].error instanceof NotFoundError, String(results[1].error));
  assert.match(results[1].error.message, /ghost/);
  assert.equal(results[1].run, undefined);
  assert.equal(results[2].run.owner, 'ann');
  assert.equal(results[2].run.priority, 4);
  assert.equal(results[3].run.id, first.id, 'a seen idempotency key answers the existing run');
  const outputs = [];
  for (const r of [results[0], results[2]]) outputs.push((await waitForRun(engine, r.run.id)).output);
  assert.deepEqual(outputs, [2, 4]);
});

test('signalMany delivers each signal and answers every one in order', async (t) => {
  const engine = await openEngine(t);
  engine.workflow('wait', async (ctx) => ctx.waitForSignal('go'));
  engine.workflow('quick', async () => 'done');
  engine.launch();
  const a = await engine.start('wait', {});
  const b = await engine.start('wait', {});
  const done = await engine.start('quick', {});
  await waitForRun(engine, a.id, ['waiting']);
  await waitForRun(engine, b.id, ['waiting']);
  await waitForRun(engine, done.id);
  const results = await engine.signalMany([
    { runId: a.id, name: 'go', payload: { to: 'a' } },
    { runId: 'no-such-run', name: 'go' },
    { runId: b.id, name: 'go', payload: { to: 'b' } },
    { runId: done.id, name: 'go' },
  ]);
  assert.deepEqual(results.map((r) => r.ok), [true, false, true, false]);
  assert.ok(results[1].error instanceof NotFoundError, String(results[1].error));
  assert.ok(results[3].error instanceof InvalidStateError, String(results[3].error));
  assert.deepEqual((await waitForRun(engine, a.id)).output, { to: 'a' });
  assert.deepEqual((await waitForRun(engine, b.id)).output, { to: 'b' });
});

test('startMany and signalMany refuse arguments of the wrong shape, naming the element', async (t) => {
  const engine = await openEngine(t);
  const cases = [
    [() => engine.startMany({ workflow: 'w' }), /^engine\.startMany: requests must be an array, got \{"workflow":"w"\}$/],
    [() => engine.startMany([{ workflow: 'w' }, 'w']), /^engine\.startMany: requests\[1\] must be an object, got "w"$/],
    [() => engine.startMany([{ workflow: 'w', idempotency_key: 'k' }]), /^engine\.startMany: requests\[0\]: unknown option 'idempotency_key' \(known: workflow, input, idempotencyKey, owner, priority, budget, traceParent\)$/],
    [() => engine.signalMany([{ run: 'r', name: 'go' }]), /^engine\.signalMany: signals\[0\]: unknown option 'run' \(known: runId, name, payload, once\)$/],
  ];
  for (const [call, message] of cases) {
    await assert.rejects(call(), (e) => e instanceof InvalidArgumentError && message.test(e.message), String(message));
  }
  // Types of the fields are the engine's to check; it names them.
  await assert.rejects(engine.startMany([{ workflow: 7 }]), (e) => e instanceof InvalidArgumentError && /workflow/.test(e.message));
  assert.deepEqual(await engine.startMany([]), []);
});
