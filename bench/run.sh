#!/usr/bin/env bash
# Builds storyloom_bench (Release) into build-bench/ and runs it. The JSON goes
# to stdout; build output and progress go to stderr. Arguments go to the bench
# (storyloom_bench --help lists them).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$root/build-bench"
# Only the bench target: the rest of the tree need not build for a measurement.
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSTORYLOOM_BUILD_BENCH=ON \
  -DSTORYLOOM_BUILD_TESTS=OFF -DSTORYLOOM_BUILD_EXAMPLES=OFF >&2
cmake --build "$build" -j "$(nproc)" --target storyloom_bench >&2
STORYLOOM_GIT_REV="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
  exec "$build/bench/storyloom_bench" "$@"
