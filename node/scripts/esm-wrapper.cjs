// Writes dist/esm/index.mjs and index.d.mts: the ESM entry re-exports the
// CommonJS build, so both module systems share one addon and one set of classes.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

// Every export of the CommonJS build, so a class added to lib/index.ts is
// never missing from ESM. (Loading it does not load the addon: that happens
// on first use.)
const names = Object.keys(require(path.join(__dirname, '..', 'dist', 'cjs', 'index.js'))).filter((k) => k !== '__esModule');
const dir = path.join(__dirname, '..', 'dist', 'esm');
fs.mkdirSync(dir, { recursive: true });
fs.writeFileSync(
  path.join(dir, 'index.mjs'),
  `import cjs from '../cjs/index.js';\nexport const { ${names.join(', ')} } = cjs;\nexport default cjs;\n`,
);
fs.writeFileSync(path.join(dir, 'index.d.mts'), `export * from '../cjs/index.js';\n`);
