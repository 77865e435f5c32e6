#!/usr/bin/env bash
# Builds and installs the storyloom pip package into a fresh virtual environment and runs
# its pytest suite and the tests of examples/python (story.py, server.py). Needs the Debian
# packages of scripts/setup.sh and access to PyPI (scikit-build-core, pybind11, pytest, and
# the examples' requirements: rich, starlette, uvicorn, httpx). Extra arguments go to pytest.
# The LLM tests need the fake LLM server program of the C++ build (scripts/build.sh makes
# build/tests/support/fake_llm_server); without it they fail saying so.
#   STORYLOOM_FAKE_LLM_SERVER  the fake server program [<repo>/build/tests/support/fake_llm_server]
#   STORYLOOM_PYTHON  interpreter to build the venv with [python3]
#   STORYLOOM_VENV    where to create the venv [a temporary directory, removed at exit]
#   CMAKE_BUILD_PARALLEL_LEVEL  compile jobs [nproc]
set -euo pipefail
# test_pages_browser.py runs node: the machine's when it is 20 or later, else the
# clone's (.tools/node); without either that test fails, the others run.
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/node_path.sh"
storyloom_use_node || true
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}"
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
examples="$here/../examples/python"
echo "python: pip install ./python pytest + examples/python/requirements.txt (builds the core,"
echo "        libstoryloom and the module)"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$here" pytest mypy \
  opentelemetry-api opentelemetry-sdk \
  -r "$examples/requirements.txt"

cd "$here"
set +e
"$venv/bin/python" -m pytest -q -p no:cacheprovider tests "$examples/tests" "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "python: pytest collected no tests" >&2
  exit 1
fi
exit "$rc"
