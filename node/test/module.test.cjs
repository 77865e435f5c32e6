// The package loads from CommonJS and from ESM, to the same classes, with types.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

test('require and import expose the same API', async () => {
  const cjs = require('storyloom');
  const esm = await import('storyloom');
  const names = Object.keys(cjs).filter((k) => k !== '__esModule').sort();
  const esmNames = Object.keys(esm).filter((k) => k !== 'default').sort();
  assert.deepEqual(esmNames, names);
  for (const name of names) assert.equal(esm[name], cjs[name], name);
  assert.equal(typeof cjs.Engine.open, 'function');
});

test('type declarations are shipped for both entry points', () => {
  const pkg = require('../package.json');
  const root = path.join(__dirname, '..');
  assert.ok(fs.existsSync(path.join(root, pkg.exports['.'].require.types)));
  assert.ok(fs.existsSync(path.join(root, pkg.exports['.'].import.types)));
  const dts = fs.readFileSync(path.join(root, 'dist/cjs/engine.d.ts'), 'utf8');
  assert.match(dts, /sseResponse\(runId: string, options\?: SseOptions\): Response;/);
});

test('CommonJS users can open an engine', async () => {
  const { Engine } = require('storyloom');
  const engine = await Engine.open({ store: ':memory:' });
  engine.workflow('w', async (ctx, input) => ctx.step('s', () => input.x + 1));
  engine.launch();
  const run = await engine.start('w', { x: 1 });
  for (;;) {
    const r = await engine.get(run.id);
    if (r.status === 'completed') {
      assert.equal(r.output, 2);
      break;
    }
    await new Promise((res) => setTimeout(res, 5));
  }
  await engine.close();
});
