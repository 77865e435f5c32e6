#!/usr/bin/env bash
# Builds storyloom_pg_bench, storyloom_pg_signal_bench and the CLI (Release,
# build-bench/), starts a throwaway PostgreSQL cluster (fsync on;
# scripts/pg_test_cluster.sh), runs the bench with 1, 2 and 4 engine
# processes, then the CLI's signal waking a run parked in another process,
# and stops the cluster. One JSON document per bench on stdout.
#   bench/pg_run.sh [RUNS]     (20,000 by default)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$root/build-bench"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSTORYLOOM_BUILD_BENCH=ON \
  -DSTORYLOOM_BUILD_TESTS=OFF -DSTORYLOOM_BUILD_EXAMPLES=OFF >&2
cmake --build "$build" -j "$(nproc)" --target storyloom_pg_bench storyloom_pg_signal_bench storyloom_cli >&2
dir="$(mktemp -d)"
trap '"$root/scripts/pg_test_cluster.sh" stop "$dir"' EXIT
url="$("$root/scripts/pg_test_cluster.sh" start "$dir")"
"$build/bench/storyloom_pg_bench" "$url" "${1:-20000}"
"$build/bench/storyloom_pg_signal_bench" "$url" "$build/tools/cli/storyloom"
