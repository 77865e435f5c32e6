// With STORYLOOM_CORE_BUILD set (scripts/test.sh sets it), the addon was built
// against that build tree instead of compiling the core again: the
// libstoryloom it loads and the CLI `npx storyloom` runs are that build's
// files, byte for byte.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const release = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'build', 'Release');
const coreBuild = process.env.STORYLOOM_CORE_BUILD;

for (const [shipped, built] of [
  ['libstoryloom.so.0', 'bindings/c/libstoryloom.so.0'],
  ['storyloom', 'tools/cli/storyloom'],
]) {
  test(`build/Release/${shipped} is the core build's ${built}`, { skip: !coreBuild && 'STORYLOOM_CORE_BUILD is not set: the addon built its own core' }, () => {
    const ours = readFileSync(path.join(release, shipped));
    const theirs = readFileSync(realpathSync(path.join(coreBuild, built)));
    assert.ok(ours.equals(theirs), `build/Release/${shipped} differs from ${coreBuild}/${built}: the core was compiled again`);
  });
}
