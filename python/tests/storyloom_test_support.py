"""Helpers the test modules share (not a test module: pytest collects test_*.py only)."""

import time


def wait_status(engine, run_id, status, timeout=10.0):
    """Polls until the run has `status`; fails with the run as it is after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while engine.get(run_id).status != status:
        assert time.monotonic() < deadline, engine.get(run_id)
        time.sleep(0.01)
