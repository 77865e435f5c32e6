// `npm pack` / `npm publish` (prepack): copies the engine's sources that
// CMakeLists.txt needs into engine/, so a tarball builds away from this
// repository. `postpack` removes the copy (`node scripts/vendor-engine.cjs --clean`).
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const pkg = path.join(__dirname, '..');
const root = path.join(pkg, '..');
const out = path.join(pkg, 'engine');

fs.rmSync(out, { recursive: true, force: true });
if (process.argv.includes('--clean')) process.exit(0);
for (const item of ['CMakeLists.txt', 'LICENSE', 'include', 'core', 'bindings/c', 'tools/cli']) {
  const from = path.join(root, item);
  if (!fs.existsSync(from)) continue;
  // Not the inspector's browser test dependencies (tools/cli/ui/e2e) or its output.
  const local = /[\\/](node_modules|e2e-screenshots)([\\/]|$)/;
  fs.cpSync(from, path.join(out, item), { recursive: true, filter: (src) => !local.test(src) });
}
