// node/README.md's main example runs, twice on the same store (the second
// start returns the first run, finished): the program part of its first
// code block, up to the Next.js route handler (TypeScript, for a Next.js app).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../test-support/helpers.mjs';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');

test("the README's example runs twice", (t) => {
  const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
  const block = /^```ts\n([\s\S]*?)^```$/m.exec(readme);
  assert.ok(block, 'README.md has a ```ts block');
  const program = block[1].split('// Next.js')[0];
  assert.match(program, /engine\.launch\(\)/);
  // Inside the package directory, where import 'storyloom' finds the package itself.
  const dir = mkdtempSync(path.join(root, '.readme-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'example.mjs');
  writeFileSync(file, program);
  const cwd = tempDir(t);
  const env = { ...process.env, OPENAI_API_KEY: '', OPENROUTER_API_KEY: '', ANTHROPIC_API_KEY: '' };
  for (const attempt of [1, 2]) {
    const r = spawnSync(process.execPath, [file], { cwd, env, encoding: 'utf8', timeout: 60000 });
    assert.equal(r.status, 0, `run ${attempt}:\n${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /run\.completed/, `run ${attempt}:\n${r.stdout}`);
  }
});
