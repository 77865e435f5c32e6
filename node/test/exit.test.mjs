// A script that ends with its engine open and busy (runs executing, more
// queued) exits cleanly: Node frees the addon's thread-safe functions while
// it tears the environment down, before the engine is closed, and the
// engine's threads must not call them after that (src/js_channel.h).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../test-support/helpers.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const child = path.join(here, '..', 'test-support', 'exit-open-child.mjs');

function run(args) {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [child, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    p.stderr.on('data', (d) => (stderr += d));
    p.on('exit', (code, signal) => resolve({ code, signal, stderr }));
  });
}

test('a script that ends with its engine open and busy exits with 0', async (t) => {
  const dir = tempDir(t);
  for (let i = 0; i < 6; i++) {
    const args = ['end', String(10 + 12 * i)];
    const result = await run([path.join(dir, `exit-${i}.db`), ...args]);
    assert.deepEqual(result, { code: 0, signal: null, stderr: '' }, `run ${i}: ${args.join(' ')}`);
  }
});
