"""Errors keep their origin: a failed step or run stores the Python class name and
traceback; a replay raises the step's error again as its own class; Engine.result raises
WorkflowFailed with them, also in another process reading the store."""

import json
import subprocess
import sys

import pytest

import storyloom


class PaymentDeclined(Exception):
    def __init__(self, amount: int, reason: str) -> None:  # not the (message) signature
        super().__init__(f"{reason} ({amount})")
        self.amount = amount


def test_a_replayed_step_failure_is_raised_again_as_its_own_class(engine):
    caught = []

    def charge():
        raise PaymentDeclined(30, "card declined")

    @engine.workflow("trip")
    def trip(ctx, input):
        try:
            ctx.step("charge", charge)
        except PaymentDeclined as e:  # the first execution and the replay both come here
            caught.append(e)
            ctx.sleep("settle", 0.05)  # parks: the next execution replays the failure
            return {"refunded": True}
        return {"refunded": False}

    engine.launch()
    assert engine.result(engine.start("trip", {}).id, timeout=10) == {"refunded": True}
    first, replayed = caught
    assert type(first) is PaymentDeclined
    assert isinstance(replayed, PaymentDeclined) and isinstance(replayed, storyloom.StepFailed)
    assert replayed.origin_type == f"{__name__}.PaymentDeclined"
    assert "card declined (30)" in str(replayed)
    assert 'raise PaymentDeclined(30, "card declined")' in replayed.traceback
    assert "in charge" in replayed.traceback


def test_a_builtin_class_is_raised_again_on_replay(engine):
    seen = []

    @engine.workflow("w")
    def w(ctx, input):
        try:
            ctx.step("parse", lambda: int("x"))
        except ValueError as e:
            seen.append(type(e).__mro__[1:3])
            ctx.sleep("again", 0.01)
        return "ok"

    engine.launch()
    assert engine.result(engine.start("w", {}).id, timeout=10) == "ok"
    assert seen[0][0] is Exception  # the first time, the real ValueError
    assert seen[1] == (storyloom.StepFailed, storyloom.StoryloomError)  # replayed, still a ValueError


def _nested_failure():
    raise LookupError("no such chapter")


def test_result_raises_workflow_failed_with_the_traceback_and_returns_output(engine):
    @engine.workflow("fails")
    def fails(ctx, input):
        ctx.step("fine", lambda: 1)
        _nested_failure()

    @engine.workflow("works")
    def works(ctx, input):
        return {"pages": 3}

    engine.launch()
    assert engine.result(engine.start("works", {}).id, timeout=10) == {"pages": 3}
    run = engine.start("fails", {})
    with pytest.raises(storyloom.WorkflowFailed) as info:
        engine.result(run.id, timeout=10)
    e = info.value
    assert e.run_id == run.id
    assert e.origin_type == "LookupError"
    assert e.message == "LookupError: no such chapter"
    assert "in _nested_failure" in e.traceback and "in fails" in e.traceback
    assert e.step == ""
    assert "no such chapter" in str(e) and e.traceback in str(e)


def test_a_step_error_escaping_the_workflow_names_the_step_with_the_whole_traceback(engine):
    def charge():
        raise PaymentDeclined(5, "expired card")

    @engine.workflow("pay")
    def pay(ctx, input):
        ctx.step("charge", charge)

    engine.launch()
    with pytest.raises(storyloom.WorkflowFailed) as info:
        engine.result(engine.start("pay", {}).id, timeout=10)
    e = info.value
    assert e.step == "charge"
    assert e.origin_type == f"{__name__}.PaymentDeclined"
    assert "in charge" in e.traceback and "in pay" in e.traceback  # the workflow's frames too


def test_another_error_raised_after_catching_a_step_failure_is_the_runs(engine):
    @engine.workflow("w")
    def w(ctx, input):
        try:
            ctx.step("charge", lambda: 1 / 0)
        except ZeroDivisionError:
            raise RuntimeError("could not compensate") from None

    engine.launch()
    with pytest.raises(storyloom.WorkflowFailed) as info:
        engine.result(engine.start("w", {}).id, timeout=10)
    assert info.value.origin_type == "RuntimeError"
    assert info.value.message == "RuntimeError: could not compensate"
    assert info.value.step == ""


def test_events_carry_the_class_but_never_the_traceback(engine):
    @engine.workflow("w")
    def w(ctx, input):
        ctx.step("s", lambda: _nested_failure())

    engine.launch()
    run = engine.wait(engine.start("w", {}).id, timeout=10)
    stored = run.error["origin"]
    assert stored["type"] == "LookupError" and "_nested_failure" in stored["trace"]
    failed = [e for e in engine.stored_events(run.id) if e.type in ("step.failed", "run.failed")]
    assert len(failed) == 2
    for event in failed:
        assert event.data["error"]["origin"] == {"type": "LookupError"}


def _ping(n):
    if n == 0:
        raise ValueError("deep")
    _pong(n - 1)


def _pong(n):
    _ping(n)


def test_a_long_traceback_is_stored_bounded(engine):
    @engine.workflow("deep")
    def deep(ctx, input):
        _ping(300)  # alternating frames: Python does not fold them

    engine.launch()
    with pytest.raises(storyloom.WorkflowFailed) as info:
        engine.result(engine.start("deep", {}).id, timeout=10)
    trace = info.value.traceback
    assert len(trace.encode()) <= 16 * 1024 + 100
    assert "bytes of the trace cut" in trace
    assert trace.startswith("Traceback (most recent call last):")
    assert trace.rstrip().endswith("ValueError: deep")


def test_another_process_reads_the_same_failure_from_the_store(db):
    with storyloom.Engine(db, workers=1, poll_interval=0.01) as engine:

        @engine.workflow("fails")
        def fails(ctx, input):
            _nested_failure()

        engine.launch()
        run = engine.start("fails", {})
        engine.wait(run.id, timeout=10)
    code = (
        "import json, sys, storyloom\n"
        "with storyloom.Engine(sys.argv[1]) as e:\n"  # never launched: reads only
        "    try:\n"
        "        e.result(sys.argv[2], timeout=10)\n"
        "    except storyloom.WorkflowFailed as f:\n"
        "        print(json.dumps([f.origin_type, f.message, f.traceback]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, db, run.id], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    origin_type, message, trace = json.loads(out.stdout)
    assert (origin_type, message) == ("LookupError", "LookupError: no such chapter")
    assert "in _nested_failure" in trace


def test_result_of_a_cancelled_run_raises_cancelled(engine):
    @engine.workflow("waits")
    def waits(ctx, input):
        ctx.wait_for_signal("never")

    engine.launch()
    run = engine.start("waits", {})
    engine.cancel(run.id)
    with pytest.raises(storyloom.Cancelled, match=run.id):
        engine.result(run.id, timeout=10)
