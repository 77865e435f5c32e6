// The npm package ships the command-line tool: package.json's bin runs the
// program `npm install` built beside the addon (`npx storyloom ...`).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Engine } from 'storyloom';
import { tempDir } from '../test-support/helpers.mjs';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
const bin = path.join(root, pkg.bin.storyloom);

test('the storyloom bin prints its usage and reads a store the package wrote', async (t) => {
  const help = spawnSync(process.execPath, [bin, '--help'], { encoding: 'utf8' });
  assert.equal(help.status, 0, help.stderr);
  assert.match(help.stdout + help.stderr, /usage: storyloom --db PATH COMMAND/);
  const store = path.join(tempDir(t), 'cli.db');
  const engine = await Engine.open({ store: `sqlite:${store}` });
  engine.workflow('noted', {}, async () => null); // registered, never launched: the run stays queued
  const run = await engine.start('noted', { x: 1 });
  await engine.close();
  const list = spawnSync(process.execPath, [bin, '--db', store, 'status', run.id], { encoding: 'utf8' });
  assert.equal(list.status, 0, list.stderr);
  assert.match(list.stdout, new RegExp(run.id));
});
