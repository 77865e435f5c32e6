// node/README.md's allowScripts keys, checked against the npm running this
// suite (npm 11 gates dependencies' install scripts): a stand-in package whose
// install script leaves a file, installed by an app with --strict-allow-scripts
// (a key that does not match fails the install instead of warning) from a
// tarball and from a directory, as the README shows. The registry form (the
// package name) needs a registry and is not checked here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

// (Not test-support's tempDir: that module loads the package, which this test does not need.)
function tempDir(t) {
  const dir = mkdtempSync(path.join(tmpdir(), 'storyloom-allow-scripts-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// The npm that runs `npm test`, else the one on PATH.
function npm(args, cwd) {
  const execpath = process.env.npm_execpath;
  const [command, argv] = execpath ? [process.execPath, [execpath, ...args]] : ['npm', args];
  return spawnSync(command, argv, { cwd, encoding: 'utf8', timeout: 120000 });
}

const major = Number(/^(\d+)\./.exec(npm(['--version']).stdout ?? '')?.[1] ?? 0);
const skip = major < 11 ? `npm ${major} runs every install script (allowScripts is npm 11's)` : false;

// A package whose install script writes built.txt, packed as a tarball too.
function standIn(dir) {
  const pkg = path.join(dir, 'addon');
  mkdirSync(pkg);
  const script = `node -e "require('fs').writeFileSync('built.txt', 'yes')"`;
  writeFileSync(path.join(pkg, 'package.json'),
    JSON.stringify({ name: 'addon', version: '1.0.0', scripts: { install: script } }));
  const r = npm(['pack', '--silent'], pkg);
  assert.equal(r.status, 0, r.stderr);
  return { pkg, tarball: path.join(pkg, 'addon-1.0.0.tgz') };
}

function install(dir, spec, allowScripts) {
  const app = path.join(dir, `app-${Math.random().toString(36).slice(2)}`);
  mkdirSync(app);
  writeFileSync(path.join(app, 'package.json'), JSON.stringify({
    name: 'app', version: '1.0.0', private: true, dependencies: { addon: spec }, allowScripts,
  }));
  const r = npm(['install', '--strict-allow-scripts', '--offline', '--no-audit', '--no-fund'], app);
  return { r, built: existsSync(path.join(app, 'node_modules', 'addon', 'built.txt')) };
}

test('a tarball is allowed by its absolute file: URL, not by the relative spec', { skip }, (t) => {
  const dir = tempDir(t);
  const { tarball } = standIn(dir);
  const spec = `file:${path.relative(path.join(dir, 'app-x'), tarball)}`;
  const allowed = install(dir, spec, { [`file:${tarball}`]: true });
  assert.equal(allowed.r.status, 0, allowed.r.stderr);
  assert.ok(allowed.built, 'the install script ran');
  const relative = install(dir, spec, { [spec]: true });
  assert.notEqual(relative.r.status, 0, 'npm ignores a relative key for a tarball');
  assert.match(relative.r.stderr, /ESTRICTALLOWSCRIPTS|addon@1\.0\.0/);
  assert.ok(!relative.built);
});

test('a directory is allowed by its spec as written, and by its absolute form', { skip }, (t) => {
  const dir = tempDir(t);
  const { pkg } = standIn(dir);
  const spec = `file:${path.relative(path.join(dir, 'app-x'), pkg)}`;
  for (const key of [spec, `file:${pkg}`]) {
    const { r, built } = install(dir, spec, { [key]: true });
    assert.equal(r.status, 0, `${key}: ${r.stderr}`);
    assert.ok(built, `${key}: the install script ran`);
  }
  const wrong = install(dir, spec, { 'file:../elsewhere': true });
  assert.notEqual(wrong.r.status, 0, 'a key naming another directory does not allow it');
});
