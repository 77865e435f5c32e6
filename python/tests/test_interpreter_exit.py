"""A daemon thread inside the engine's module while the interpreter exits (the feeder
thread of ``async for`` over Engine.events, left running by a Ctrl-C) must not abort
the process: before Python 3.14, taking the GIL back then ended the thread in a way
that aborted it ("terminate called without an active exception")."""

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent


def test_a_daemon_thread_waiting_in_the_engine_does_not_abort_the_exit(tmp_path):
    store = f"sqlite:{tmp_path / 'exit.db'}"
    script = HERE / "exit_waiter_worker.py"
    done = subprocess.run(
        [sys.executable, str(script), store], capture_output=True, text=True, timeout=60
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "exiting\n", "")
