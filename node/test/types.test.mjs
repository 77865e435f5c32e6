// The shipped .d.ts files type a typical ESM TypeScript program.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

test('a TypeScript program using the API type-checks against dist/', () => {
  const tsc = require.resolve('typescript/bin/tsc');
  const r = spawnSync(
    process.execPath,
    [tsc, '--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022',
      '--types', 'node', '--skipLibCheck', path.join(here, '..', 'test-support', 'typecheck.mts')],
    { cwd: path.join(here, '..'), encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stdout + r.stderr);
});
