"""The wheel ships the command-line tool as the ``storyloom`` console script."""

import subprocess
import sys
from pathlib import Path

import pytest

import storyloom
from storyloom import _cli

SCRIPT = Path(sys.executable).parent / "storyloom"


@pytest.mark.skipif(not _cli.executable().is_file(), reason="storyloom is not installed from a wheel")
def test_the_console_script_runs_the_bundled_cli(tmp_path):
    assert SCRIPT.is_file(), f"pip did not install the console script at {SCRIPT}"
    r = subprocess.run([str(SCRIPT), "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "usage" in (r.stdout + r.stderr).lower()
    # It reads a store this package wrote.
    db = tmp_path / "cli.db"
    with storyloom.Engine(f"sqlite:{db}") as engine:
        engine.register("noted", lambda ctx, i: None)  # never launched: the run stays queued
        run = engine.start("noted", {"x": 1})
    r = subprocess.run([str(SCRIPT), "--db", str(db), "list"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert run.id in r.stdout


def test_a_missing_tool_is_reported(monkeypatch, tmp_path):
    monkeypatch.setattr(_cli, "executable", lambda: tmp_path / "nope")
    with pytest.raises(SystemExit, match="the command-line tool is missing"):
        _cli.main()


def _chapter_missing():
    raise LookupError("no such chapter")


@pytest.mark.skipif(not _cli.executable().is_file(), reason="storyloom is not installed from a wheel")
def test_status_shows_the_traceback_of_a_failed_run(tmp_path):
    db = tmp_path / "failed.db"
    with storyloom.Engine(f"sqlite:{db}") as engine:
        engine.register("fails", lambda ctx, i: _chapter_missing())
        engine.launch()
        run = engine.wait(engine.start("fails", {}).id, timeout=10)
    r = subprocess.run([str(SCRIPT), "--db", str(db), "status", run.id], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert '"type": "LookupError"' in r.stdout
    assert "in _chapter_missing" in r.stdout
