#!/usr/bin/env bash
# The first command to run: installs what storyloom builds with, builds it, and
# writes a short illustrated story durably into ./storyloom-demo.db, streaming
# each page (offline placeholder text, not a language model). Press Ctrl-C in
# the middle and run it again: the same run resumes, written pages are kept.
# Extra arguments go to the story program (build/examples/story/story --help).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${BUILD_DIR:-$root/build}"
story="$build/examples/story/story"

"$root/scripts/setup.sh" demo
echo "demo: building the story program in $build (the first build takes a few minutes)" >&2
# A first configure leaves the tests and benchmarks out, so neither their
# packages (GoogleTest) nor their targets are needed; an existing build/ keeps
# its settings. scripts/test.sh later turns them on in the same directory with
# the same compiler flags, so the engine is not compiled twice.
options=()
[ -f "$build/CMakeCache.txt" ] || options=(-DSTORYLOOM_BUILD_TESTS=OFF -DSTORYLOOM_BUILD_BENCH=OFF)
BUILD_TARGETS=story_example "$root/scripts/build.sh" "${options[@]}"
if [ ! -x "$story" ]; then
  echo "demo: $story was not built; is STORYLOOM_BUILD_EXAMPLES off in $build/CMakeCache.txt?" >&2
  exit 1
fi
exec "$story" --db ./storyloom-demo.db --topic "a lighthouse keeper who befriends a storm" \
  --pages 4 --export story.md --export story.epub --export story.pdf "$@"
