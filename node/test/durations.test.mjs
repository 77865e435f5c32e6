// Durations the engine cannot hold (Infinity, NaN, beyond 100 years) are
// refused naming the parameter; none becomes 0 ("now") in the addon.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Engine, InvalidArgumentError } from 'storyloom';
import { openEngine, waitForRun } from '../test-support/helpers.mjs';

const LIMIT = 'it must be a finite number of ms up to 3155760000000 (100 years)';

test('sleep and waitForSignal refuse durations beyond the limit instead of returning at once', async (t) => {
  const engine = await openEngine(t);
  const seen = [];
  engine.workflow('long', {}, async (ctx) => {
    for (const call of [() => ctx.sleep('nap', Infinity), () => ctx.waitForSignal('go', { timeout: 1e300 })]) {
      try {
        await call();
      } catch (e) {
        assert.ok(e instanceof InvalidArgumentError, `${e?.name}: ${e?.message}`);
        seen.push(e.message);
      }
    }
    return {};
  });
  engine.launch();
  const run = await waitForRun(engine, (await engine.start('long', {})).id);
  assert.equal(run.status, 'completed');
  assert.deepEqual(seen, [`ctx.sleep 'nap': ms is Infinity; ${LIMIT}`, `ctx.waitForSignal 'go': timeout is 1e+300; ${LIMIT}`]);
});

test('Engine.open refuses an interval beyond the limit', async () => {
  await assert.rejects(Engine.open({ store: ':memory:', pollIntervalMs: Infinity }), (e) => {
    assert.ok(e instanceof InvalidArgumentError);
    assert.equal(e.message, `Engine.open: pollIntervalMs is Infinity; ${LIMIT}`);
    return true;
  });
});

test('maxJsonDepth sets the JSON depth limit, and the message names it', async (t) => {
  const deep = (n) => (n === 0 ? 1 : [deep(n - 1)]);
  const strict = await openEngine(t);
  strict.workflow('w', {}, async () => ({}));
  await assert.rejects(strict.start('w', { x: deep(32) }), (e) => {
    assert.ok(e instanceof InvalidArgumentError, `${e?.name}: ${e?.message}`);
    assert.equal(e.message, 'run input is nested deeper than the JSON depth limit of 32 levels (max_json_depth)');
    return true;
  });
  const roomy = await openEngine(t, { maxJsonDepth: 40 });
  roomy.workflow('w', {}, async (ctx, input) => ctx.step('echo', async () => input.x));
  roomy.launch();
  const run = await waitForRun(roomy, (await roomy.start('w', { x: deep(36) })).id);
  assert.equal(run.status, 'completed');
  assert.deepEqual(run.output, deep(36));
});
