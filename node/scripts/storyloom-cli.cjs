#!/usr/bin/env node
// `npx storyloom ...`: runs the command-line tool (the repository's tools/cli)
// that `npm install` built beside the addon, with the same arguments.
'use strict';
const { spawnSync } = require('node:child_process');
const { existsSync } = require('node:fs');
const path = require('node:path');

const program = path.join(__dirname, '..', 'build', 'Release', 'storyloom');
if (!existsSync(program)) {
  console.error(`storyloom: the command-line tool is missing (${program}); was the package's install script skipped? see allowScripts in README.md`);
  process.exit(1);
}
const r = spawnSync(program, process.argv.slice(2), { stdio: 'inherit' });
if (r.error) throw r.error;
process.exit(r.status ?? 1);
