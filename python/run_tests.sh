#!/usr/bin/env bash
# Builds and installs the storyloom pip package into a fresh virtual environment and runs
# its pytest suite. Needs the Debian packages of scripts/setup.sh and access to PyPI
# (scikit-build-core, pybind11, pytest). Extra arguments go to pytest.
#   STORYLOOM_PYTHON  interpreter to build the venv with [python3]
#   STORYLOOM_VENV    where to create the venv [a temporary directory, removed at exit]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${STORYLOOM_PYTHON:-python3}"
if [ -n "${STORYLOOM_VENV:-}" ]; then
  venv="$STORYLOOM_VENV"
  rm -rf "$venv"
else
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  venv="$tmp/venv"
fi

echo "python: creating $venv"
"$python" -m venv "$venv"
echo "python: pip install ./python pytest (builds the core, libstoryloom and the module)"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$here" pytest

cd "$here"
set +e
"$venv/bin/python" -m pytest -q -p no:cacheprovider tests "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "python: pytest collected no tests" >&2
  exit 1
fi
exit "$rc"
