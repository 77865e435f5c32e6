// Workflow retry options: a failing step is retried per the policy, with a
// step.retrying event per retry; bad options are rejected naming the field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError, StoryloomError } from 'storyloom';
import { openEngine, waitForRun } from '../test-support/helpers.mjs';

test('a step failing twice then succeeding takes three attempts, with two step.retrying events', async (t) => {
  const engine = await openEngine(t);
  let attempts = 0;
  engine.workflow(
    'flaky',
    { retry: { maxAttempts: 3, initialBackoffMs: 5, multiplier: 2, maxBackoffMs: 20, jitter: false } },
    async (ctx) => {
      const value = await ctx.step('call-api', () => {
        attempts++;
        if (attempts < 3) throw new Error(`upstream hiccup ${attempts}`);
        return { ok: attempts };
      });
      return value;
    },
  );
  engine.launch();
  const started = await engine.start('flaky', {});
  const run = await waitForRun(engine, started.id);
  assert.equal(run.status, 'completed', JSON.stringify(run.error));
  assert.deepEqual(run.output, { ok: 3 });
  assert.equal(attempts, 3);
  const events = await engine.storedEvents(run.id);
  const retrying = events.filter((e) => e.type === 'step.retrying').map((e) => e.data);
  assert.equal(retrying.length, 2);
  assert.deepEqual(retrying.map((d) => [d.name, d.attempt, d.next_attempt, d.delay_ms]), [
    ['call-api', 1, 2, 5],
    ['call-api', 2, 3, 10],
  ]);
  assert.match(JSON.stringify(retrying[0].error), /upstream hiccup 1/);
  assert.equal(events.filter((e) => e.type === 'step.completed').length, 1);
});

test('after maxAttempts the run fails with the last error', async (t) => {
  const engine = await openEngine(t);
  let attempts = 0;
  engine.workflow('down', { retry: { maxAttempts: 2, initialBackoffMs: 1, jitter: false } }, async (ctx) =>
    ctx.step('call-api', () => {
      attempts++;
      throw new Error(`still down ${attempts}`);
    }),
  );
  engine.launch();
  const run = await waitForRun(engine, (await engine.start('down', {})).id);
  assert.equal(run.status, 'failed');
  assert.equal(attempts, 2);
  assert.match(run.error.message, /still down 2/);
});

test('an error with errorClass fatal is not retried', async (t) => {
  const engine = await openEngine(t);
  let attempts = 0;
  engine.workflow('fatal', { retry: { maxAttempts: 5, initialBackoffMs: 1 } }, async (ctx) =>
    ctx.step('call-api', () => {
      attempts++;
      throw Object.assign(new Error('bad request'), { errorClass: 'fatal' });
    }),
  );
  engine.launch();
  const run = await waitForRun(engine, (await engine.start('fatal', {})).id);
  assert.equal(run.status, 'failed');
  assert.equal(attempts, 1);
  const types = (await engine.storedEvents(run.id)).map((e) => e.type);
  assert.ok(!types.includes('step.retrying'), types.join(','));
});

test('bad retry options are rejected with a message naming the field', async (t) => {
  const engine = await openEngine(t);
  const cases = [
    [{ retry: { maxAttempts: 0 } }, /^workflow 'w': max_attempts must be at least 1, got 0$/],
    [{ retry: { multiplier: 0.5 } }, /multiplier must be at least 1/],
    [{ retry: { initialBackoffMs: -1 } }, /initial_backoff must not be negative, got -1 ms/],
    [{ retry: { initialBackoffMs: 5000, maxBackoffMs: 10 } }, /max_backoff \(10 ms\) must not be less than initial_backoff \(5000 ms\)/],
    [{ retry: { maxAttempts: 2.5 } }, /workflow 'w': retry\.maxAttempts must be an integer, got 2\.5/],
    [{ retry: { maxAttempts: 2 ** 31 } }, /retry\.maxAttempts must be at most 2147483647, got 2147483648/],
    [{ retry: { maxAttempts: '3' } }, /retry\.maxAttempts must be an integer, got "3"/],
    [{ retry: { jitter: 'yes' } }, /retry\.jitter must be a boolean/],
    [{ retry: { multiplier: Number.NaN } }, /retry\.multiplier must be a finite number/],
    [{ retry: { maxAttempt: 3 } }, /unknown retry option 'maxAttempt'/],
    [{ retries: { maxAttempts: 3 } }, /unknown option 'retries'/],
    [{ retry: 3 }, /retry must be an object, got 3/],
  ];
  for (const [options, message] of cases) {
    assert.throws(
      () => engine.workflow('w', options, async () => 1),
      (e) => {
        assert.ok(e instanceof InvalidArgumentError, `${JSON.stringify(options)}: ${e}`);
        assert.ok(e instanceof StoryloomError);
        assert.match(e.message, message);
        return true;
      },
      JSON.stringify(options),
    );
  }
  // None of the rejected registrations took the name.
  engine.workflow('w', { retry: { maxAttempts: 2 } }, async () => 1);
});
