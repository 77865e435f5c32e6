#!/usr/bin/env bash
# Sets up a fresh machine, builds everything with warnings as errors, runs every
# test: the C++ suites (ctest), the npm package's (node --test), then the pip
# package's (pytest, in a fresh virtual environment).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/setup.sh"
CI=true "$root/scripts/build.sh"
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
