#!/usr/bin/env bash
# Sets up a fresh machine, builds everything (warnings are errors when CI=true,
# as .ci/run sets), runs every test: the C++ suites (ctest; on SQLite, then
# the store-dependent ones again on a throwaway PostgreSQL), the npm package's
# (node --test), then the pip package's (pytest, in a fresh virtual environment).
# It reuses the build scripts/demo.sh made: the same flags, so only the targets
# the demo did not need are compiled (CI=true adds -Werror, which changes every
# compile command, so CI, which starts from a clean clone, compiles it all).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/setup.sh"
# A throwaway PostgreSQL cluster: the C++ suites run a second time against it
# (ctest names them pg.*); it is stopped and removed however the tests end.
pg_dir="$(mktemp -d)"
trap '"$root/scripts/pg_test_cluster.sh" stop "$pg_dir"' EXIT
pg_url="$("$root/scripts/pg_test_cluster.sh" start "$pg_dir")"
# The Node and Python PostgreSQL tests, and the restart test, use these.
export STORYLOOM_TEST_PG_URL="$pg_url" STORYLOOM_TEST_PG_DIR="$pg_dir"
# Tests, benchmarks and examples on: scripts/demo.sh may have configured build/ without them.
"$root/scripts/build.sh" -DSTORYLOOM_TEST_PG_URL="$pg_url" -DSTORYLOOM_BUILD_TESTS=ON \
  -DSTORYLOOM_BUILD_BENCH=ON -DSTORYLOOM_BUILD_EXAMPLES=ON
build="${BUILD_DIR:-$root/build}"
(cd "$build" && ctest --output-on-failure -j "$(nproc)")
# The Node and Python suites run the fake LLM server the C++ build made.
export STORYLOOM_FAKE_LLM_SERVER="$build/tests/support/fake_llm_server"
# The npm package's addon and the pip package's module link this build's
# libstoryloom and CLI instead of compiling the core twice more (their tests
# check the files they load are this build's).
export STORYLOOM_CORE_BUILD="$build"
# The caches the test stages fill (npm's, pip's, Chromium's) stay inside the
# clone (.cache/, git-ignored), not in the home directory. Set after the
# build, which may use the user's compiler cache.
export npm_config_cache="${npm_config_cache:-$root/.cache/npm}"
export XDG_CACHE_HOME="$root/.cache"
# The machine's Node.js when it is 20 or later, else the clone's (.tools/node).
source "$root/scripts/node_path.sh"
storyloom_use_node
"$root/node/run_tests.sh"
"$root/examples/nextjs-story/run_tests.sh"
"$root/python/run_tests.sh"
"$root/tools/cli/ui/e2e/run_tests.sh"
