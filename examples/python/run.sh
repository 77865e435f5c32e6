#!/usr/bin/env bash
# Runs an example of examples/python in its own venv (.venv here, created on first use):
# pip installs ../../python (builds storyloom) and requirements.txt from PyPI.
#   ./run.sh story.py --topic "a lighthouse cat" --pages 3 --export story.md
#   ./run.sh server.py --port 8000
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${STORYLOOM_EXAMPLE_VENV:-$here/.venv}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "$here/../../python" -r "$here/requirements.txt"
fi
script="${1:?usage: run.sh story.py|server.py [args...]}"
shift
exec "$venv/bin/python" "$here/$script" "$@"
