#!/usr/bin/env bash
# Installs the example from a clean node_modules and its lockfile (the storyloom dependency,
# linked from ../../node, builds its addon there through its install script,
# allowed by "allowScripts" in package.json), builds it with `next build` and
# runs the browser end-to-end tests (e2e/, node:test + playwright-core) against
# `next start` on 127.0.0.1 (e2e/postgres.e2e.test.mjs on PostgreSQL:
# STORYLOOM_TEST_PG_URL, else a throwaway cluster). Needs Debian's Chromium (scripts/setup.sh installs
# it) at /usr/bin/chromium or $CHROMIUM_PATH; no browser is downloaded.
# Screenshots land in e2e-screenshots/. Exits non-zero on failure.
set -euo pipefail
cd "$(dirname "$0")"
# The machine's Node.js when it is 20 or later, else the clone's (.tools/node).
source ../../scripts/node_path.sh
storyloom_use_node
export NEXT_TELEMETRY_DISABLED=1
chromium="${CHROMIUM_PATH:-/usr/bin/chromium}"
if [[ ! -x "$chromium" ]]; then
  echo "nextjs-story: no Chromium at $chromium: run scripts/setup.sh (it installs Debian's chromium) or set CHROMIUM_PATH" >&2
  exit 1
fi
rm -rf node_modules .next e2e-screenshots
# npm links a `file:` dependency without installing its own dependencies
# (cmake-js for its install script, typescript for its `prepare`) in its
# folder, so the package is installed there first, as node/run_tests.sh does.
if [[ ! -d ../../node/node_modules ]]; then
  (cd ../../node && npm install --no-audit --no-fund)
fi
npm install --no-audit --no-fund
if [[ ! -f ../../node/build/Release/storyloom.node || ! -f ../../node/dist/cjs/index.js ]]; then
  echo "nextjs-story: npm install did not build the storyloom package in ../../node (were its install scripts skipped? see allowScripts in package.json)" >&2
  exit 1
fi
npm run build
npm run test:e2e
