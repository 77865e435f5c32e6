// Every error a user can reach has a class, a code and the engine's message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  Engine,
  StoryloomError,
  NotFoundError,
  InvalidArgumentError,
  InvalidStateError,
  NotADatabaseError,
  ClosedError,
  PayloadTooLargeError,
} from 'storyloom';
import { openEngine, tempDir, waitForRun } from '../test-support/helpers.mjs';

test('an unknown run is NotFoundError with the engine message', async (t) => {
  const engine = await openEngine(t);
  const check = (e) => {
    assert.ok(e instanceof NotFoundError);
    assert.ok(e instanceof StoryloomError);
    assert.equal(e.code, 'not_found');
    assert.equal(e.name, 'NotFoundError');
    assert.match(e.message, /no run with id 'x'/);
    return true;
  };
  await assert.rejects(engine.get('x'), check);
  await assert.rejects(engine.snapshot('x'), check);
  await assert.rejects(engine.cancel('x'), check);
  await assert.rejects(engine.retry('x'), check);
  await assert.rejects(engine.signal('x', 'go', {}), check);
  await assert.rejects(engine.artifacts('x'), check);
  await assert.rejects(engine.storedEvents('x'), check);
  await assert.rejects(engine.events('x').next(), check);
  assert.throws(() => engine.sseResponse('x'), check);
});

test('starting an unregistered workflow names it', async (t) => {
  const engine = await openEngine(t);
  await assert.rejects(engine.start('ghost', {}), (e) => {
    assert.ok(e instanceof NotFoundError);
    assert.match(e.message, /ghost/);
    return true;
  });
});

test('bad arguments are InvalidArgumentError naming the value', async (t) => {
  const engine = await openEngine(t);
  assert.throws(() => engine.workflow('', async () => 1), (e) => e instanceof InvalidArgumentError && /name/.test(e.message));
  engine.workflow('w', async () => 1);
  assert.throws(() => engine.workflow('w', async () => 1), (e) => e instanceof InvalidArgumentError && /w/.test(e.message));
  await assert.rejects(engine.list({ limit: 5000 }), (e) => e instanceof InvalidArgumentError && /5000/.test(e.message));
  await assert.rejects(engine.list({ status: 'sideways' }), (e) => e instanceof InvalidArgumentError && /sideways/.test(e.message));
  await assert.rejects(engine.start('w', [1, 2]), (e) => e instanceof InvalidArgumentError && e.message.length > 0);
});

test('a payload over the limit is PayloadTooLargeError', async (t) => {
  const engine = await openEngine(t, { maxPayloadBytes: 1024 });
  engine.workflow('w', async () => 1);
  await assert.rejects(engine.start('w', { big: 'x'.repeat(4096) }), (e) => e instanceof PayloadTooLargeError && e.code === 'payload_too_large');
});

test('retrying a run that did not fail is InvalidStateError', async (t) => {
  const engine = await openEngine(t);
  engine.workflow('w', async () => 1);
  engine.launch();
  const { id } = await engine.start('w', {});
  await waitForRun(engine, id);
  await assert.rejects(engine.retry(id), (e) => e instanceof InvalidStateError && e.code === 'invalid_state' && e.message.includes(id));
  await assert.rejects(engine.cancel(id), (e) => e instanceof InvalidStateError);
  await assert.rejects(engine.signal(id, 'late', {}), (e) => e instanceof InvalidStateError);
});

test('a file that is not a storyloom database is NotADatabaseError', async (t) => {
  const file = path.join(tempDir(t), 'junk.db');
  writeFileSync(file, 'this is not sqlite at all, just some text '.repeat(100));
  await assert.rejects(Engine.open({ store: `sqlite:${file}` }), (e) => {
    assert.ok(e instanceof NotADatabaseError || e.code === 'store', `${e.name}: ${e.message}`);
    assert.ok(e.message.includes('junk.db'), e.message);
    return true;
  });
});

test('a closed engine is ClosedError', async (t) => {
  const engine = await Engine.open({ store: ':memory:' });
  await engine.close();
  await engine.close(); // idempotent
  await assert.rejects(engine.get('x'), (e) => e instanceof ClosedError && /closed/.test(e.message));
  assert.throws(() => engine.workflow('w', async () => 1), ClosedError);
});

test('calling steps in another order on replay fails the run with nondeterminism', async (t) => {
  const engine = await openEngine(t);
  let first = true;
  engine.workflow('fickle', async (ctx) => {
    await ctx.step(first ? 'alpha' : 'beta', () => 1);
    first = false;
    await ctx.sleep('nap', 5);
    return 'done';
  });
  engine.launch();
  const { id } = await engine.start('fickle', {});
  const run = await waitForRun(engine, id);
  assert.equal(run.status, 'failed');
  assert.equal(run.error.code, 'nondeterminism');
  assert.match(run.error.message, /alpha/);
  assert.match(run.error.message, /beta/);
});
