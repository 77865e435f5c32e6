// Errors keep their origin: a failed step or run stores the JS error's name
// and stack; a replayed step error carries them; engine.result() rejects with
// WorkflowFailedError carrying them, also in another process reading the store.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Engine, StepFailedError, WorkflowFailedError, CancelledError } from 'storyloom';
import { openEngine, tempDir } from '../test-support/helpers.mjs';

class PaymentDeclined extends Error {}
PaymentDeclined.prototype.name = 'PaymentDeclined'; // seen by the stack's first line

function chargeCard() {
  throw new PaymentDeclined('card declined');
}

test('a replayed step failure carries the name and stack of its first throw', async (t) => {
  const engine = await openEngine(t);
  const caught = [];
  engine.workflow('trip', {}, async (ctx) => {
    try {
      await ctx.step('charge', async () => chargeCard());
    } catch (e) {
      caught.push(e);
      await ctx.sleep('settle', 20); // parks: the next execution replays the failure
      return 'refunded';
    }
    return 'charged';
  });
  engine.launch();
  assert.equal(await engine.result((await engine.start('trip')).id), 'refunded');
  const [first, replayed] = caught;
  assert.ok(first instanceof PaymentDeclined);
  assert.ok(replayed instanceof StepFailedError);
  assert.equal(replayed.originType, 'PaymentDeclined');
  assert.match(replayed.originStack, /PaymentDeclined: card declined\n\s+at chargeCard/);
});

test('result() resolves to the output, or rejects with the stack of the error that escaped', async (t) => {
  const engine = await openEngine(t);
  engine.workflow('works', {}, async () => ({ pages: 3 }));
  engine.workflow('fails', {}, async (ctx) => {
    await ctx.step('fine', async () => 1);
    JSON.parse('{not json');
  });
  engine.launch();
  assert.deepEqual(await engine.result((await engine.start('works')).id), { pages: 3 });
  const run = await engine.start('fails');
  const error = await engine.result(run.id).then(
    () => assert.fail('resolved'),
    (e) => e,
  );
  assert.ok(error instanceof WorkflowFailedError, String(error));
  assert.equal(error.runId, run.id);
  assert.equal(error.originType, 'SyntaxError');
  assert.equal(error.step, '');
  assert.match(error.message, /failed: SyntaxError: .*JSON/);
  assert.match(error.originStack, /^SyntaxError: .*\n\s+at JSON\.parse/);
  assert.match(error.stack, /The workflow's error: SyntaxError/);
});

test('a step error escaping the workflow names the step; events never carry the stack', async (t) => {
  const engine = await openEngine(t);
  engine.workflow('pay', {}, async (ctx) => {
    await ctx.step('charge', async () => chargeCard());
  });
  engine.launch();
  const run = await engine.start('pay');
  const error = await engine.result(run.id).catch((e) => e);
  assert.ok(error instanceof WorkflowFailedError);
  assert.equal(error.step, 'charge');
  assert.equal(error.originType, 'PaymentDeclined');
  assert.match(error.originStack, /at chargeCard/);
  const failed = (await engine.storedEvents(run.id)).filter((e) => e.type === 'step.failed' || e.type === 'run.failed');
  assert.equal(failed.length, 2);
  for (const e of failed) assert.deepEqual(e.data.error.origin, { type: 'PaymentDeclined' });
});

test('result() of a cancelled run rejects with CancelledError', async (t) => {
  const engine = await openEngine(t);
  engine.workflow('waits', {}, async (ctx) => {
    await ctx.waitForSignal('never');
  });
  engine.launch();
  const run = await engine.start('waits');
  await engine.cancel(run.id);
  await assert.rejects(engine.result(run.id), CancelledError);
});

test('another process reads the same failure from the store', async (t) => {
  const dir = tempDir(t);
  const store = `sqlite:${path.join(dir, 'origin.db')}`;
  const engine = await Engine.open({ store, pollIntervalMs: 10 });
  engine.workflow('fails', {}, async () => {
    chargeCard();
  });
  engine.launch();
  const run = await engine.start('fails');
  await engine.result(run.id).catch(() => {});
  await engine.close();
  const script = `
    const { Engine } = require('storyloom');
    (async () => {
      const engine = await Engine.open({ store: process.argv[1] }); // never launched: reads only
      try { await engine.result(process.argv[2]); } catch (e) {
        console.log(JSON.stringify([e.constructor.name, e.originType, e.originStack]));
      }
      await engine.close();
    })();`;
  // From the package's directory, where require('storyloom') finds the package itself.
  const cwd = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
  const out = execFileSync(process.execPath, ['-e', script, store, run.id], { encoding: 'utf8', cwd });
  const [cls, type, stack] = JSON.parse(out);
  assert.deepEqual([cls, type], ['WorkflowFailedError', 'PaymentDeclined']);
  assert.match(stack, /at chargeCard/);
});

test('a workflow that catches the internal Parked error and returns is failed saying so', async (t) => {
  const engine = await openEngine(t);
  engine.workflow('greedy', {}, async (ctx) => {
    try {
      await ctx.waitForSignal('approve');
    } catch {
      // swallowed: the misuse under test
    }
    return 'done';
  });
  engine.launch();
  const run = await engine.start('greedy');
  const error = await engine.result(run.id).catch((e) => e);
  assert.ok(error instanceof WorkflowFailedError, String(error));
  assert.match(error.message, /workflow 'greedy' returned after ctx\.waitForSignal\(\) parked run .*internal Parked error/);
});
