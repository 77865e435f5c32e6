#!/usr/bin/env bash
# Sets up a fresh machine, builds everything (warnings are errors when CI=true,
# as .ci/run sets), runs every test: the C++ suites (ctest), the npm package's
# (node --test), then the pip package's (pytest, in a fresh virtual environment).
# It reuses the build scripts/demo.sh made: the same flags, so only the targets
# the demo did not need are compiled.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/setup.sh"
"$root/scripts/build.sh"
build="${BUILD_DIR:-$root/build}"
(cd "$build" && ctest --output-on-failure -j "$(nproc)")
# The Node and Python suites run the fake LLM server the C++ build made.
export STORYLOOM_FAKE_LLM_SERVER="$build/tests/support/fake_llm_server"
if ! command -v npm >/dev/null; then
  echo "test: npm is not installed; the Node package needs Node.js 20+ with npm" >&2
  exit 1
fi
"$root/node/run_tests.sh"
"$root/examples/nextjs-story/run_tests.sh"
"$root/python/run_tests.sh"
"$root/tools/cli/ui/e2e/run_tests.sh"
