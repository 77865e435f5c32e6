"""mypy --strict on sample programs (tests/typing/): the typed API checks cleanly, and
wrong uses of step results are caught."""

import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent / "typing"

pytest.importorskip("mypy", reason="mypy is installed by python/run_tests.sh")


def _mypy(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--cache-dir", "/dev/null",
         str(path)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_typed_program_passes_mypy_strict():
    r = _mypy(HERE / "typed_program.py")
    assert r.returncode == 0, r.stdout + r.stderr


def test_mypy_strict_catches_a_step_result_used_as_the_wrong_type():
    r = _mypy(HERE / "typed_mistakes.py")
    assert r.returncode == 1, r.stdout + r.stderr
    errors = [line for line in r.stdout.splitlines() if ": error:" in line]
    # Each marked line (a str result put in an int) is reported, and nothing else.
    marked = {
        n
        for n, line in enumerate((HERE / "typed_mistakes.py").read_text().splitlines(), 1)
        if "# error:" in line
    }
    assert {int(line.split(":")[1]) for line in errors} == marked, r.stdout
    assert all("str" in line and "int" in line for line in errors), r.stdout
