#!/usr/bin/env bash
# Configures and builds into build/ (BUILD_DIR overrides). Extra args go to cmake.
# BUILD_TARGETS="a b" builds only those targets (scripts/demo.sh builds just the
# story program); unset, everything. Warnings are errors when CI=true.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${BUILD_DIR:-$root/build}"
werror=OFF
[ "${CI:-}" = "true" ] && werror=ON
# ccache, when the machine has it, makes rebuilds in several checkouts cheap.
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
# Without these, ccache compiles every file that uses a precompiled header
# (CMakeLists.txt, storyloom_precompile) but caches none of them.
export CCACHE_SLOPPINESS="${CCACHE_SLOPPINESS:-pch_defines,time_macros,include_file_mtime,include_file_ctime}"
cmake -S "$root" -B "$build" -G Ninja "${launcher[@]}" -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" \
  -DSTORYLOOM_WERROR="$werror" "$@" >/dev/null
targets=()
for t in ${BUILD_TARGETS:-}; do targets+=(--target "$t"); done
cmake --build "$build" -j "$(nproc)" "${targets[@]}"
