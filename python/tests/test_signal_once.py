"""First-wins signals from Python: of racing signal_once calls exactly one is delivered,
the others raise InvalidState naming the signal."""

from concurrent.futures import ThreadPoolExecutor

import pytest

import storyloom
from storyloom_test_support import wait_status


def test_of_parallel_signal_once_calls_exactly_one_is_delivered(engine):
    @engine.workflow("approval")
    def approval(ctx, input):
        return ctx.wait_for_signal("approve")

    engine.launch()
    run = engine.start("approval", {})
    wait_status(engine, run.id, "waiting")

    def send(n):
        try:
            engine.signal_once(run.id, "approve", {"n": n})
            return None
        except storyloom.InvalidState as e:
            return str(e)

    with ThreadPoolExecutor(5) as pool:
        answers = list(pool.map(send, range(5)))
    assert answers.count(None) == 1
    refused = [a for a in answers if a is not None]
    assert refused == [
        f"run '{run.id}' has already received signal 'approve'; a signal sent once is "
        "delivered to the first sender only"
    ] * 4
    done = engine.wait(run.id, timeout=10)
    received = [e for e in engine.stored_events(run.id) if e.type == "signal.received"]
    assert len(received) == 1 and received[0].data["payload"] == done.output
    with pytest.raises(storyloom.InvalidArgument, match="once must be true or false"):
        engine.signal_many([{"run_id": run.id, "name": "x", "once": "yes"}])
