"""story.py end to end in a child process: the whole story, Ctrl-C (SIGINT) and a re-run
that resumes the same run without writing finished pages again, --export, bad input."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(EXAMPLE))

import story
import storyloom

ARGS = ["--topic", "a lighthouse cat", "--style", "Roald Dahl", "--pages", "3", "--quality", "1"]


def _story(tmp_path, *extra, delay="0.0", stdin=None):
    return subprocess.Popen(
        [
            sys.executable,
            str(EXAMPLE / "story.py"),
            *ARGS,
            "--db",
            str(tmp_path / "s.db"),
            "--word-delay",
            delay,
            *extra,
        ],
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "120"},
    )


def _completed_steps(db):
    with sqlite3.connect(db) as c:
        return {name for (name,) in c.execute("SELECT name FROM steps WHERE status='completed'")}


def test_story_runs_end_to_end_and_exports_markdown(tmp_path):
    out_md = tmp_path / "story.md"
    proc = _story(tmp_path, "--export", str(out_md))
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, (out, err)
    assert "completed" in out
    text = out_md.read_text()
    assert text.startswith("# A lighthouse cat\n")
    assert text.count("## Page ") == 3


def test_ctrl_c_then_rerun_resumes_without_rewriting_pages(tmp_path):
    db = tmp_path / "s.db"
    proc = _story(tmp_path, delay="0.01")
    try:
        deadline = time.monotonic() + 60
        while not (db.exists() and "page/2/write" in _safe_steps(db)):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "page 2 never got written"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, (out, err)
    assert "interrupted" in out
    before = _completed_steps(db)
    assert "page/1/illustration" in before and "page/3/illustration" not in before

    # Count how often each step's text was produced, across both processes: resumed
    # steps are not produced again (their completed rows are never rewritten).
    proc = _story(tmp_path, "--export", str(tmp_path / "s.md"))
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, (out, err)
    assert "resuming run" in out
    with storyloom.Engine(f"sqlite:{db}") as engine:
        runs = engine.list(workflow="story").runs
        assert len(runs) == 1 and runs[0].status == "completed"
        events = engine.stored_events(runs[0].id, limit=10000)
    completed = [e.data["name"] for e in events if e.type == "step.completed"]
    assert len(completed) == len(set(completed)), "a finished step ran twice"
    assert before <= set(completed)
    assert sum(1 for e in events if e.type == "run.started") >= 2  # two executions


def _safe_steps(db):
    try:
        return _completed_steps(db)
    except sqlite3.Error:
        return set()


def test_bad_input_names_the_field(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            str(EXAMPLE / "story.py"),
            "--topic",
            "x",
            "--pages",
            "0",
            "--db",
            str(tmp_path / "s.db"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "pages: must be from 1 to 30, got 0" in proc.stdout


@pytest.mark.parametrize("word_delay", [0.0])
def test_workflow_in_process_with_outline_edits(tmp_path, word_delay):
    story.word_delay = word_delay
    with storyloom.Engine(f"sqlite:{tmp_path / 'p.db'}", poll_interval=0.01) as engine:
        story.register(engine)
        req, errors = story.validate_input(
            {"topic": "owls", "pages": 2, "quality": 2, "approve_outline": True}
        )
        assert errors == {}
        run = engine.start(story.WORKFLOW, req, idempotency_key=story.idempotency_key(req))
        deadline = time.monotonic() + 10
        while engine.get(run.id).status != "waiting":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        engine.signal(run.id, "approve", {"outline": ["One.", "Two."]})
        done = engine.wait(run.id, timeout=30)
        assert done.status == "completed", done
        arts = {a.key: a.value for a in engine.snapshot(run.id).artifacts}
        assert arts["page/2"]["plan"] == "Two." and arts["page/2"]["iteration"] == 2
        assert arts["outline"] == {"plans": ["One.", "Two."], "approved": True}
        names = [s.name for s in engine.snapshot(run.id).steps]
        assert names[:2] == ["outline", "approve"]
        assert "page/1/critique/2" in names and "page/2/revise/2" in names
        chunks = [e for e in engine.stored_events(run.id, limit=10000) if e.type == "chunk"]
        streamed = "".join(e.data["text"] for e in chunks if e.data["stream"] == "page/1/write")
        write = next(s for s in engine.snapshot(run.id).steps if s.name == "page/1/write")
        assert streamed == write.result


def test_rerun_while_the_outline_awaits_approval_asks_again_and_finishes(tmp_path):
    db = tmp_path / "s.db"
    req, errors = story.validate_input(
        {
            "topic": "a lighthouse cat",
            "author_style": "Roald Dahl",
            "pages": 3,
            "quality": 1,
            "approve_outline": True,
        }
    )
    assert errors == {}
    with storyloom.Engine(f"sqlite:{db}", poll_interval=0.01) as engine:
        story.register(engine)
        run = engine.start(story.WORKFLOW, req, idempotency_key=story.idempotency_key(req))
        deadline = time.monotonic() + 10
        while engine.get(run.id).status != "waiting":  # the CLI was stopped at its prompt
            assert time.monotonic() < deadline
            time.sleep(0.01)
    proc = _story(tmp_path, "--approve-outline", stdin=subprocess.PIPE)
    out, err = proc.communicate("3: The cat rings the bell.\n\n", timeout=120)
    assert proc.returncode == 0, (out, err)
    assert f"resuming run {run.id}" in out
    with storyloom.Engine(f"sqlite:{db}") as engine:
        pages = {a.key: a.value for a in engine.artifacts(run.id) if a.key.startswith("page/")}
    assert pages["page/3"]["plan"] == "The cat rings the bell."
