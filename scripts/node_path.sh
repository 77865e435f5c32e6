# Sourced (not run) by every script that runs node, npm or npx: scripts/test.sh
# and the suites' run_tests.sh. Keeps the machine's Node.js when it is 20 or
# later with npm; otherwise puts the clone's own Node.js (.tools/node, which
# scripts/setup.sh installs from PyPI when the machine's is missing or older)
# first on PATH. storyloom_use_node returns non-zero, saying why, when neither
# is there.
storyloom_node_min_major=20
storyloom_tools_node="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.tools/node"

# The major version of the `node` on PATH, or 0 when there is none.
storyloom_node_major() {
  local version
  version="$(node --version 2>/dev/null)" || version=""
  version="${version#v}"
  version="${version%%.*}"
  [[ "$version" =~ ^[0-9]+$ ]] && echo "$version" || echo 0
}

# True when the `node` on PATH is recent enough and npm is beside it.
storyloom_path_node_ok() {
  (($(storyloom_node_major) >= storyloom_node_min_major)) && command -v npm >/dev/null
}

storyloom_use_node() {
  storyloom_path_node_ok && return 0
  if [[ -x "$storyloom_tools_node/bin/node" ]]; then
    export PATH="$storyloom_tools_node/bin:$PATH"
    hash -r
    echo "storyloom: using Node.js $(node --version) from .tools/node" >&2
    return 0
  fi
  local found="none"
  command -v node >/dev/null && found="$(command -v node) $(node --version 2>/dev/null)"
  echo "storyloom: Node.js $storyloom_node_min_major or later with npm is needed (found: $found);" \
    "scripts/setup.sh installs one into .tools/node" >&2
  return 1
}
