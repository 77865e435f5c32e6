// scripts/node_path.sh, which every suite runner sources: the machine's
// Node.js when it is 20 or later with npm, else the clone's .tools/node, else
// a message saying what was found. Run on a copy of the script in a stand-in
// clone, with stand-in `node` and `npm` programs and no other on PATH.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const script = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'scripts', 'node_path.sh');
const bash = ['/bin/bash', '/usr/bin/bash'].find((p) => spawnSync(p, ['-c', 'true']).status === 0);

function program(dir, name, version) {
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, name), `#!/bin/sh\necho ${version}\n`);
  chmodSync(path.join(dir, name), 0o755);
}

// A clone with scripts/node_path.sh and, if asked, .tools/node; a machine bin/
// with the given node (and npm), and dirname, which the script runs.
function setUp(t, { machineNode, machineNpm, tools }) {
  const dir = mkdtempSync(path.join(tmpdir(), 'storyloom-node-path-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(path.join(dir, 'clone', 'scripts'), { recursive: true });
  copyFileSync(script, path.join(dir, 'clone', 'scripts', 'node_path.sh'));
  const machine = path.join(dir, 'machine');
  mkdirSync(machine);
  symlinkSync(spawnSync(bash, ['-c', 'command -v dirname'], { encoding: 'utf8' }).stdout.trim(),
    path.join(machine, 'dirname'));
  if (machineNode) program(machine, 'node', machineNode);
  if (machineNpm) program(machine, 'npm', '11.0.0');
  if (tools) {
    program(path.join(dir, 'clone', '.tools', 'node', 'bin'), 'node', 'v24.19.0');
    program(path.join(dir, 'clone', '.tools', 'node', 'bin'), 'npm', '11.17.0');
  }
  // --norc: bash reads ~/.bashrc when its stdin is a socket, as Node's pipes are.
  const line = 'source clone/scripts/node_path.sh && storyloom_use_node && command -v node';
  const r = spawnSync(bash, ['--norc', '--noprofile', '-c', line],
    { cwd: dir, env: { PATH: machine }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return { r, dir, which: path.relative(dir, r.stdout.trim()) };
}

test('a machine Node.js 20 or later with npm is kept, even beside .tools/node', { skip: !bash }, (t) => {
  const { r, which } = setUp(t, { machineNode: 'v20.9.0', machineNpm: true, tools: true });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(which, 'machine/node');
  assert.equal(r.stderr, '');
});

test('an older machine Node.js, or one without npm, gives way to .tools/node', { skip: !bash }, (t) => {
  for (const machine of [{ machineNode: 'v18.19.0', machineNpm: true }, { machineNode: 'v22.1.0' }, {}]) {
    const { r, which } = setUp(t, { ...machine, tools: true });
    assert.equal(r.status, 0, `${JSON.stringify(machine)}: ${r.stderr}`);
    assert.equal(which, 'clone/.tools/node/bin/node', JSON.stringify(machine));
    assert.match(r.stderr, /using Node\.js v24\.19\.0 from \.tools\/node/);
  }
});

test('with neither, it fails naming what it found and how to get one', { skip: !bash }, (t) => {
  const old = setUp(t, { machineNode: 'v18.19.0', machineNpm: true });
  assert.notEqual(old.r.status, 0);
  assert.match(old.r.stderr, /Node\.js 20 or later with npm is needed \(found: \S+machine\/node v18\.19\.0\);/);
  assert.match(old.r.stderr, /scripts\/setup\.sh installs one into \.tools\/node/);
  const none = setUp(t, {});
  assert.notEqual(none.r.status, 0);
  assert.match(none.r.stderr, /\(found: none\)/);
});
