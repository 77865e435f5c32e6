// Every ```js and ```ts block of node/README.md, README.md and docs/ other
// than the one readme.test.mjs runs, type-checked as written against the
// package's types: each becomes the body of an async function in which the
// names the fragments take from their surroundings are declared (an open
// `engine`, a workflow's `ctx`, a route handler's `request`, ...). A renamed
// method, option or result field fails here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.join(here, '..');
const repo = path.join(root, '..');
const require = createRequire(import.meta.url);

const documents = [
  path.join(root, 'README.md'),
  path.join(repo, 'README.md'),
  ...readdirSync(path.join(repo, 'docs')).filter((f) => f.endsWith('.md')).map((f) => path.join(repo, 'docs', f)),
];

function fragments() {
  const out = [];
  for (const file of documents) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/^```(js|ts)\n([\s\S]*?)^```$/gm)) {
      const line = text.slice(0, m.index).split('\n').length;
      const where = `${path.relative(repo, file)}:${line}`;
      // node/README.md's first block is a whole program: readme.test.mjs runs it.
      if (file === documents[0] && /^import \{ Engine \} from 'storyloom';/.test(m[2])) continue;
      out.push({ where, code: m[2], js: m[1] === 'js' });
    }
  }
  return out;
}

// What the fragments take from around them.
const SURROUNDINGS = `
declare const engine: Engine;
declare const ctx: Context;
declare const request: Request;
declare const title: string, to: string, text: string, html: string, link: string, topic: string;
declare function work(part: unknown): Promise<void>;
`;

test('every Node fragment of the READMEs and docs type-checks as written', (t) => {
  const blocks = fragments();
  assert.ok(blocks.length >= 7, `only ${blocks.length} fragments found`);
  const dir = mkdtempSync(path.join(root, '.fragments-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const files = blocks.map(({ where, code }, i) => {
    const imports = code.split('\n').filter((l) => l.startsWith('import '));
    const body = code.split('\n').filter((l) => !l.startsWith('import ')).join('\n');
    // Imports of storyloom merge into one; others (an optional peer such as
    // @opentelemetry/api, installed for the tests) stay as written.
    const own = imports.filter((l) => /from 'storyloom(\/[\w-]+)?';/.test(l));
    const others = imports.filter((l) => !own.includes(l));
    const names = new Set(['Engine', 'Context']);
    for (const l of own) for (const n of /\{([^}]*)\}/.exec(l)?.[1].split(',') ?? []) names.add(n.trim());
    const source =
      `// ${where}\nimport { ${[...names].join(', ')} } from 'storyloom';\n${others.join('\n')}\n${SURROUNDINGS}\n` +
      `export async function fragment() {\n${body}\n}\n`;
    const file = path.join(dir, `fragment${i}.mts`);
    writeFileSync(file, source);
    return file;
  });
  const tsc = require.resolve('typescript/bin/tsc');
  // Not strict: the fragments leave callback parameters to inference, as README readers do.
  const r = spawnSync(
    process.execPath,
    [tsc, '--noEmit', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022',
      '--types', 'node', '--skipLibCheck', '--noUnusedLocals', 'false', ...files],
    { cwd: root, encoding: 'utf8' },
  );
  // tsc names the file; each file's first line names the fragment. JavaScript
  // may read fields of values TypeScript types as unknown (a structured
  // answer's .json): only those errors are forgiven, and only in ```js blocks.
  const errors = (r.stdout + r.stderr)
    .split('\n')
    .filter((l) => /error TS\d+/.test(l))
    .filter((l) => {
      const i = Number(/fragment(\d+)\.mts/.exec(l)?.[1]);
      return !(blocks[i]?.js && /does not exist on type 'unknown'|is of type 'unknown'/.test(l));
    })
    .map((l) => l.replace(/^.*\.fragments-\w+\/fragment(\d+)\.mts/, (_, i) => blocks[Number(i)].where));
  assert.deepEqual(errors, [], errors.join('\n'));
  assert.ok(r.status === 0 || r.stdout.includes('error TS'), r.stdout + r.stderr);
});
