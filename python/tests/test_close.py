"""close() keeps to drain_timeout even when a step ignores it: the step is left running on
its worker thread, what it does afterwards is refused with Closed, its run goes back to the
queue, and the next open runs the step again (it never completed)."""

import subprocess
import sys
import threading
import time
from pathlib import Path

import storyloom

HERE = Path(__file__).resolve().parent


def test_close_returns_within_the_drain_timeout_while_a_step_ignores_it(db):
    gate = threading.Event()
    in_step = threading.Event()
    refused: list[BaseException] = []
    returned = threading.Event()

    def block() -> str:
        in_step.set()
        gate.wait(5)
        return "first engine"

    def slow(ctx, input):
        try:
            return ctx.step("block", block)
        except storyloom.Closed as e:
            refused.append(e)
            raise
        finally:
            returned.set()

    engine = storyloom.Engine(db, poll_interval=0.01, drain_timeout=1)
    engine.register("slow", slow)
    engine.launch()
    run = engine.start("slow", {})
    assert in_step.wait(10)
    start = time.monotonic()
    engine.close()
    took = time.monotonic() - start
    assert 0.95 <= took <= 1.5, took
    assert not returned.is_set()  # still inside the step

    # The next open recovers the run while the first engine's step still runs.
    reruns = []
    with storyloom.Engine(db, poll_interval=0.01) as again:
        again.register("slow", lambda ctx, input: ctx.step("block", lambda: reruns.append(1) or "again"))
        again.launch()
        done = again.wait(run.id, timeout=10)
        assert done.status == "completed"
        assert done.output == "again"
    assert reruns == [1]

    gate.set()
    assert returned.wait(10)
    assert len(refused) == 1
    assert str(refused[0]) == (
        f"the engine closed before step 'block' of run '{run.id}' completed; its result is "
        "dropped and the step runs again when the store is opened again"
    )


def test_a_process_exits_at_once_after_close_with_a_step_still_running(tmp_path):
    store = f"sqlite:{tmp_path / 'exit.db'}"
    log = tmp_path / "steps.log"
    start = time.monotonic()
    child = subprocess.run(
        [sys.executable, str(HERE / "close_worker.py"), store, str(log)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    took = time.monotonic() - start
    assert child.returncode == 0, (child.stdout, child.stderr)
    assert "Traceback" not in child.stderr, child.stderr
    run_id, close_took = child.stdout.split()
    assert 0.95 <= float(close_took) <= 1.5, close_took
    assert took < 4.5, took  # the step sleeps 5 s: the process did not wait for it

    with storyloom.Engine(store, poll_interval=0.01) as engine:
        def block() -> str:
            with open(log, "a") as f:
                f.write("began\n")
            return "second process"

        engine.register("slow", lambda ctx, input: ctx.step("block", block))
        engine.launch()
        done = engine.wait(run_id, timeout=10)
        assert done.status == "completed"
        assert done.output == "second process"
    assert log.read_text().splitlines() == ["began", "began"]
