#!/usr/bin/env bash
# Configures and builds into build/ (BUILD_DIR overrides). Extra args go to cmake.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${BUILD_DIR:-$root/build}"
werror=OFF
[ "${CI:-}" = "true" ] && werror=ON
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" \
  -DSTORYLOOM_WERROR="$werror" "$@" >/dev/null
cmake --build "$build" -j "$(nproc)"
