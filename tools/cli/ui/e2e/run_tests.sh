#!/usr/bin/env bash
# Browser end-to-end test of `storyloom ui` (node:test + playwright-core in
# Debian's Chromium at /usr/bin/chromium or $CHROMIUM_PATH; no browser is
# downloaded). Needs the build's `storyloom` and storyloom_ui_e2e_fixture
# (BUILD_DIR, default build/). Writes the run page screenshot to
# e2e-screenshots/. Exits non-zero on failure.
set -euo pipefail
cd "$(dirname "$0")"
# The machine's Node.js when it is 20 or later, else the clone's (.tools/node).
source ../../../../scripts/node_path.sh
storyloom_use_node
root="$(cd ../../../.. && pwd)"
build="${BUILD_DIR:-$root/build}"
chromium="${CHROMIUM_PATH:-/usr/bin/chromium}"
if [[ ! -x "$chromium" ]]; then
  echo "ui e2e: no Chromium at $chromium: run scripts/setup.sh or set CHROMIUM_PATH" >&2
  exit 1
fi
for f in "$build/tools/cli/storyloom" "$build/tools/cli/ui/storyloom_ui_e2e_fixture"; do
  if [[ ! -x "$f" ]]; then
    echo "ui e2e: $f is missing: build first (scripts/build.sh)" >&2
    exit 1
  fi
done
npm install --no-audit --no-fund --silent
export STORYLOOM_CLI="$build/tools/cli/storyloom"
export STORYLOOM_UI_FIXTURE="$build/tools/cli/ui/storyloom_ui_e2e_fixture"
export CHROMIUM_PATH="$chromium"
node --test --test-concurrency=1 inspector.e2e.test.mjs
