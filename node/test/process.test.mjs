// Process boundaries: a run killed with its process resumes elsewhere with its
// completed steps kept; an idle engine does not keep Node alive.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Engine } from 'storyloom';
import { tempDir, waitForRun } from '../test-support/helpers.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

function runChild(script, args) {
  const child = spawn(process.execPath, [path.join(here, '..', 'test-support', script), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return { child, exited, out: () => stdout, err: () => stderr };
}

async function until(predicate, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('a run killed with its process resumes here; its first step ran once', async (t) => {
  const dir = tempDir(t);
  const db = path.join(dir, 'crash.db');
  const side = path.join(dir, 'side-effects.txt');
  const ready = path.join(dir, 'ready');
  const c = runChild('crash-child.mjs', [db, side, ready]);
  await until(() => existsSync(ready) || c.child.exitCode !== null, 15000, 'the child to reach its second step');
  assert.equal(c.child.exitCode, null, c.err());
  c.child.kill('SIGKILL');
  assert.equal((await c.exited).signal, 'SIGKILL');
  const runId = c.out().trim();
  assert.equal(readFileSync(side, 'utf8'), 'x\n');

  const engine = await Engine.open({ store: `sqlite:${db}`, pollIntervalMs: 10 });
  t.after(() => engine.close());
  let sideCalls = 0;
  engine.workflow('crashy', async (ctx) => {
    await ctx.step('side-effect', () => {
      sideCalls++;
      return 'again?';
    });
    return ctx.step('hang', () => 'resumed');
  });
  engine.launch();
  const run = await waitForRun(engine, runId, ['completed', 'failed', 'cancelled'], 20000);
  assert.equal(run.status, 'completed', JSON.stringify(run.error));
  assert.equal(run.output, 'resumed');
  assert.equal(sideCalls, 0);
  assert.equal(readFileSync(side, 'utf8'), 'x\n'); // the side effect happened once
});

for (const mode of ['close', 'leave']) {
  test(`an idle engine does not keep the process alive (${mode} open)`, async (t) => {
    const db = path.join(tempDir(t), 'idle.db');
    const c = runChild('idle-exit.mjs', [db, mode]);
    const timer = setTimeout(() => c.child.kill('SIGKILL'), 15000);
    const { code, signal } = await c.exited;
    clearTimeout(timer);
    assert.equal(signal, null, `killed: the process did not exit by itself; stderr: ${c.err()}`);
    assert.equal(code, 0, c.err());
    assert.equal(c.out(), 'done\n');
  });
}

for (const [mode, expected] of [
  ['events', 'run.completed'],
  ['promise', 'a story about owls'],
]) {
  test(`a script that starts a run and awaits its end (${mode}) needs no keep-alive of its own`, async (t) => {
    const db = path.join(tempDir(t), 'start.db');
    const c = runChild('start-and-await.mjs', [db, mode]);
    const timer = setTimeout(() => c.child.kill('SIGKILL'), 15000);
    const { code, signal } = await c.exited;
    clearTimeout(timer);
    assert.equal(signal, null, `killed: the process did not exit by itself; stderr: ${c.err()}`);
    // 13 is Node's "unsettled top-level await": the loop emptied before the run's execution arrived.
    assert.equal(code, 0, `exit code ${code}; stderr: ${c.err()}`);
    assert.equal(c.out(), `${expected}\n`);
  });
}
