// node/README.md's main example runs, twice on the same store (the second
// start returns the first run, finished): the program part of its first
// code block, up to the Next.js route handler (TypeScript, for a Next.js app).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../test-support/helpers.mjs';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

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

// The route handler at the end of the same block, as Next.js 15 and later call
// it: `params` is a Promise (reading `params.id` without awaiting it gives
// undefined, and the handler fails).
test("the README's Next.js route handler serves the run's events when params is a Promise", (t) => {
  const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
  const block = /^```ts\n([\s\S]*?)^```$/m.exec(readme);
  const [program, handler] = block[1].split('// Next.js');
  assert.ok(handler, 'the block ends with a Next.js route handler');
  // The handler needs the engine open: the script's own close comes last here.
  const open = program.replace(/^await engine\.close\(\);.*$/m, '');
  assert.notEqual(open, program, 'the program closes its engine');
  const ts = require('typescript');
  const js = ts.transpileModule(`// Next.js${handler}`, {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
  }).outputText;
  const call = `
const response = await GET(new Request('http://127.0.0.1/api/runs/' + run.id + '/events'),
                           { params: Promise.resolve({ id: run.id }) });
const reader = response.body.getReader();
let text = '';
while (!text.includes('event: run.completed')) {
  const { value, done } = await reader.read();
  if (done) break;
  text += new TextDecoder().decode(value);
}
await reader.cancel();
console.log(JSON.stringify({ status: response.status, type: response.headers.get('content-type'), text }));
await engine.close();
`;
  const dir = mkdtempSync(path.join(root, '.readme-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'route.mjs');
  writeFileSync(file, open + js + call);
  const env = { ...process.env, OPENAI_API_KEY: '', OPENROUTER_API_KEY: '', ANTHROPIC_API_KEY: '' };
  const r = spawnSync(process.execPath, [file], { cwd: tempDir(t), env, encoding: 'utf8', timeout: 60000 });
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  const answer = JSON.parse(r.stdout.trim().split('\n').pop());
  assert.equal(answer.status, 200);
  assert.match(answer.type, /^text\/event-stream/);
  assert.match(answer.text, /^id: \d+\nevent: run\.started\n/m);
  assert.match(answer.text, /^event: run\.completed\n/m);
});

// The top README's OpenTelemetry example for Node, run twice on one store: the
// block as written (it takes `Engine` from its surroundings, as the README's
// other fragments do), then a check that the run completed and its spans
// joined the caller's trace (the second run finds the first's store).
test("the top README's OpenTelemetry example runs twice and its run's spans join the caller's trace", (t) => {
  const readme = readFileSync(path.join(root, '..', 'README.md'), 'utf8');
  const block = [...readme.matchAll(/^```js\n([\s\S]*?)^```$/gm)].map((m) => m[1])
    .find((text) => text.includes("from '@opentelemetry/api'"));
  assert.ok(block, "README.md has a ```js block using '@opentelemetry/api'");
  const program = `import { Engine } from 'storyloom';\n${block}
const output = await engine.result(run.id);
await engine.close(); // delivers every report
const finished = spans.getFinishedSpans();
const caller = finished.find((s) => s.name === 'POST /hello');
const runSpan = finished.find((s) => s.name === 'storyloom.run hello');
console.log(JSON.stringify({
  output,
  names: [...new Set(finished.map((s) => s.name))].sort(),
  joined: Boolean(caller && runSpan && runSpan.spanContext().traceId === caller.spanContext().traceId),
}));
`;
  const dir = mkdtempSync(path.join(root, '.readme-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'telemetry-example.mjs');
  writeFileSync(file, program);
  const cwd = tempDir(t);
  for (const attempt of [1, 2]) {
    const r = spawnSync(process.execPath, [file], { cwd, encoding: 'utf8', timeout: 60000 });
    assert.equal(r.status, 0, `run ${attempt}:\n${r.stdout}\n${r.stderr}`);
    const report = JSON.parse(r.stdout.trim().split('\n').pop());
    assert.equal(report.output, 'hi', `run ${attempt}: ${r.stdout}`);
    assert.ok(report.names.includes('storyloom.step greet'), `run ${attempt}: ${r.stdout}`);
    assert.ok(report.joined, `run ${attempt}: the run's span is not in the caller's trace: ${r.stdout}`);
  }
});
