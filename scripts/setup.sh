#!/usr/bin/env bash
# Installs the Debian packages storyloom builds with, on a machine that has never seen it.
#   scripts/setup.sh demo   what building and running the story example needs (scripts/demo.sh)
#   scripts/setup.sh [all]  that, plus what the tests need (scripts/test.sh), and a
#                           Node.js 20+ in .tools/node when the machine has none (setup_node.sh)
set -euo pipefail
mode="${1:-all}"
# The engine, the book library, the CLI and the story example: the packages
# CMake requires when tests and benchmarks are off. libpq is the PostgreSQL
# store's client, linked into every build.
demo_packages=(build-essential cmake ninja-build pkg-config libsqlitecpp-dev libsqlite3-dev
  libboost-json1.81-dev libboost1.81-dev libcurl4-openssl-dev libssl-dev libzip-dev
  libcairo2-dev libpango1.0-dev libpq-dev)
# GoogleTest; the Python module's headers and virtual environment; Chromium for
# the browser tests; epubcheck and poppler-utils to check the exported books;
# the PostgreSQL server for the pg.* suites; pip, which installs Node.js
# into the clone when the machine's is missing or too old (setup_node.sh).
test_packages=(libgtest-dev python3-dev python3-venv python3-pip chromium epubcheck poppler-utils
  postgresql-15)
case "$mode" in
  demo) packages=("${demo_packages[@]}") ;;
  all) packages=("${demo_packages[@]}" "${test_packages[@]}") ;;
  *)
    echo "setup: unknown mode '$mode' (expected 'demo', or 'all' or nothing for everything)" >&2
    exit 2
    ;;
esac
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  echo "setup: installing ${missing[*]}"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if [ "$mode" = all ]; then "$(dirname "$0")/setup_node.sh"; fi
