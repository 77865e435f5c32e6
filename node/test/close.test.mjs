// close() keeps to drainTimeoutMs even when a step ignores it: the step is left
// pending, what it does afterwards is refused, its run goes back to the queue,
// and the next open runs the step again (it never completed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Engine } from 'storyloom';
import { tempDir, waitForRun } from '../test-support/helpers.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

test('close returns within drainTimeoutMs while a 5 s step ignores it', async (t) => {
  const store = `sqlite:${path.join(tempDir(t), 'close.db')}`;
  const first = await Engine.open({ store, pollIntervalMs: 10, drainTimeoutMs: 1000 });
  let release;
  const gate = new Promise((r) => (release = r));
  let began;
  const stepBegan = new Promise((r) => (began = r));
  let refusal;
  const returned = new Promise((resolve) => {
    first.workflow('slow', async (ctx) => {
      try {
        return await ctx.step('block', async () => {
          began();
          let timer;
          await Promise.race([gate, new Promise((r) => (timer = setTimeout(r, 5000)))]);
          clearTimeout(timer);
          return 'first engine';
        });
      } catch (err) {
        refusal = err;
        throw err;
      } finally {
        resolve();
      }
    });
  });
  first.launch();
  const { id } = await first.start('slow', {});
  await stepBegan;
  const t0 = Date.now();
  await first.close();
  const took = Date.now() - t0;
  assert.ok(took >= 950 && took <= 1500, `close took ${took} ms`);

  const second = await Engine.open({ store, pollIntervalMs: 10 });
  t.after(() => second.close());
  let reruns = 0;
  second.workflow('slow', async (ctx) => ctx.step('block', () => (reruns++, 'again')));
  second.launch();
  const run = await waitForRun(second, id);
  assert.equal(run.status, 'completed', JSON.stringify(run.error));
  assert.equal(run.output, 'again');
  assert.equal(reruns, 1);

  release();
  await returned;
  assert.equal(refusal?.name, 'ClosedError', String(refusal));
});

test('a process exits at once after close with a step still pending', async (t) => {
  const db = path.join(tempDir(t), 'exit.db');
  const t0 = Date.now();
  const child = spawn(process.execPath, [path.join(here, '..', 'test-support', 'close-child.mjs'), db], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const code = await new Promise((resolve) => child.on('exit', (c) => resolve(c)));
  const took = Date.now() - t0;
  assert.equal(code, 0, err);
  const [runId, closeMs] = out.trim().split(' ');
  assert.ok(Number(closeMs) >= 950 && Number(closeMs) <= 1500, `close took ${closeMs} ms`);
  assert.ok(took < 4500, `the process took ${took} ms: it waited for the 5 s step`);

  const engine = await Engine.open({ store: `sqlite:${db}`, pollIntervalMs: 10 });
  t.after(() => engine.close());
  let reruns = 0;
  engine.workflow('slow', async (ctx) => ctx.step('block', () => (reruns++, 'second process')));
  engine.launch();
  const run = await waitForRun(engine, runId);
  assert.equal(run.status, 'completed', JSON.stringify(run.error));
  assert.equal(run.output, 'second process');
  assert.equal(reruns, 1);
});
