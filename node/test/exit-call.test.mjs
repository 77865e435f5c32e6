// process.exit() with an engine open and busy (runs executing, more queued)
// exits cleanly with the code given: the package closes its engines on the
// process's 'exit' event, before exit() runs the C++ static destructors,
// which the engine's threads (its writer serializing an event) outlived
// otherwise: a signal at exit, a few runs in a hundred, most often with
// MALLOC_PERTURB_ set. Nothing committed is lost: the next process on the
// store completes every run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Engine } from 'storyloom';
import { tempDir } from '../test-support/helpers.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const child = path.join(here, '..', 'test-support', 'exit-open-child.mjs');
const RUNS = 300; // exit-open-child.mjs starts this many

function run(args) {
  return new Promise((resolve) => {
    const env = { ...process.env, MALLOC_PERTURB_: '165' }; // freed memory is garbage at once
    const p = spawn(process.execPath, [child, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
    let stderr = '';
    p.stderr.on('data', (d) => (stderr += d));
    p.on('exit', (code, signal) => resolve({ code, signal, stderr }));
  });
}

// The next process: executes what the exited one left and lists the outputs.
async function finishAll(db) {
  const engine = await Engine.open({ store: `sqlite:${db}`, workers: 4, pollIntervalMs: 5 });
  try {
    engine.workflow('page', async (ctx, input) => {
      await ctx.sleep('nap', input.n % 50);
      return ctx.step('write', () => input.n);
    });
    engine.launch();
    const deadline = Date.now() + 30000;
    for (;;) {
      const { runs } = await engine.list({ limit: 1000 });
      if (runs.length === RUNS && runs.every((r) => r.status === 'completed')) return runs;
      if (Date.now() > deadline) {
        const counts = {};
        for (const r of runs) counts[r.status] = (counts[r.status] ?? 0) + 1;
        throw new Error(`runs not finished after 30 s: ${JSON.stringify(counts)}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    await engine.close();
  }
}

test('process.exit() with an engine open and busy exits with its code; the next process finishes every run', async (t) => {
  const dir = tempDir(t);
  for (let i = 0; i < 12; i++) {
    const db = path.join(dir, `exit-${i}.db`);
    const code = i % 2 === 0 ? '0' : '3';
    const args = ['exit', String(10 + 12 * i), code];
    const result = await run([db, ...args]);
    assert.deepEqual(result, { code: Number(code), signal: null, stderr: '' }, `run ${i}: ${args.join(' ')}`);
    const runs = await finishAll(db);
    const outputs = runs.map((r) => r.output).sort((a, b) => a - b);
    assert.deepEqual(outputs, Array.from({ length: RUNS }, (_, n) => n), `run ${i}: outputs`);
  }
});
