// First-wins signals from Node: of racing signalOnce calls exactly one is
// delivered, the others reject with InvalidStateError naming the signal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidStateError } from 'storyloom';
import { openEngine, waitForRun } from '../test-support/helpers.mjs';

test('of parallel signalOnce calls exactly one is delivered', async (t) => {
  const engine = await openEngine(t);
  engine.workflow('approval', async (ctx) => ctx.waitForSignal('approve'));
  engine.launch();
  const { id } = await engine.start('approval', {});
  await waitForRun(engine, id, ['waiting']);
  const results = await Promise.allSettled([1, 2, 3, 4, 5].map((n) => engine.signalOnce(id, 'approve', { n })));
  const delivered = results.filter((r) => r.status === 'fulfilled');
  const refused = results.filter((r) => r.status === 'rejected');
  assert.equal(delivered.length, 1);
  assert.equal(refused.length, 4);
  for (const r of refused) {
    assert.ok(r.reason instanceof InvalidStateError);
    assert.equal(r.reason.message, `run '${id}' has already received signal 'approve'; a signal sent once is delivered to the first sender only`);
  }
  const run = await waitForRun(engine, id);
  const received = (await engine.storedEvents(id)).filter((e) => e.type === 'signal.received');
  assert.equal(received.length, 1);
  assert.deepEqual(run.output, received[0].data.payload);
  // signalMany carries `once` per signal; a bad value is named.
  await assert.rejects(engine.signalMany([{ runId: id, name: 'x', once: 'yes' }]), /once must be true or false/);
});
