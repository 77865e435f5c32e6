#!/usr/bin/env bash
# Installs the npm package from a clean node_modules (which builds the addon
# and the TypeScript) and runs its node:test suite. Exits non-zero on failure.
# build/ is kept, so the native build is incremental; STORYLOOM_NODE_CLEAN=1
# removes it too (a build from scratch takes a few minutes on 2 cores).
set -euo pipefail
cd "$(dirname "$0")"
# The machine's Node.js when it is 20 or later, else the clone's (.tools/node).
source ../scripts/node_path.sh
storyloom_use_node
rm -rf node_modules dist
if [[ "${STORYLOOM_NODE_CLEAN:-0}" == "1" ]]; then rm -rf build; fi
npm install --no-audit --no-fund
npm test
