"""A run killed with its process (SIGKILL) resumes in a new engine; completed steps are not
executed again."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import storyloom

HERE = Path(__file__).parent


def test_run_killed_with_its_process_resumes_and_first_step_ran_once(tmp_path):
    store = f"sqlite:{tmp_path / 'crash.db'}"
    counter = tmp_path / "counter.txt"
    ready = tmp_path / "ready"
    child = subprocess.Popen(
        [sys.executable, str(HERE / "crash_worker.py"), store, str(counter), str(ready)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        run_id = child.stdout.readline().strip()
        deadline = time.monotonic() + 30
        while not ready.exists():
            assert child.poll() is None, "the worker process died on its own"
            assert time.monotonic() < deadline, "the second step never started"
            time.sleep(0.02)
        # Durable before visible: the second step began, so the first one's result is
        # committed: another engine (never launched: it only reads) sees it at once.
        with storyloom.Engine(store) as observer:
            steps = {s.name: s for s in observer.snapshot(run_id).steps}
            assert steps["first"].status == "completed", steps
            assert steps["first"].result == "done", steps
            assert observer.get(run_id).status == "running"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        child.stdout.close()
    assert run_id
    assert counter.read_text() == "first\n"

    first_calls = []
    with storyloom.Engine(store, poll_interval=0.01) as engine:

        @engine.workflow("crashy")
        def crashy(ctx, input):
            a = ctx.step("first", lambda: first_calls.append(1) or "again")
            b = ctx.step("second", lambda: "resumed")
            return {"first": a, "second": b}

        engine.launch()
        run = engine.wait(run_id, timeout=30)
        assert run.status == "completed", run
        assert run.output == {"first": "done", "second": "resumed"}
        assert first_calls == []
        events = [e.type for e in engine.stored_events(run_id)]
        assert "run.recovered" in events or "run.resumed" in events, events
    assert counter.read_text() == "first\n"  # the side effect happened once
