"""Rough API edges: wrong argument types name the call and parameter, non-callables are
refused at registration, documented limits hold, non-JSON numbers name the step, a
swallowed park fails the run saying so, and snapshots list every step's final status."""

import math

import pytest

import storyloom

FAST_RETRY = storyloom.RetryPolicy(max_attempts=2, initial_backoff=0.01, max_backoff=0.01)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda e: e.start(123), "Engine.start: workflow must be a str, got int"),
        (lambda e: e.start("w", {}, idempotency_key=5), "idempotency_key must be a str, got int"),
        (lambda e: e.start("w", {}, priority="high"), "priority must be an int, got str"),
        (lambda e: e.get(None), "Engine.get: run_id must be a str, got NoneType"),
        (lambda e: e.cancel(1), "Engine.cancel: run_id must be a str"),
        (lambda e: e.signal("r", 7), "Engine.signal: name must be a str, got int"),
        (lambda e: e.snapshot(b"id"), "Engine.snapshot: run_id must be a str, got bytes"),
        (lambda e: e.events(3), "Engine.events: run_id must be a str"),
        (lambda e: e.list(limit="5"), "Engine.list: limit must be an int from 1 to 1000, got str"),
    ],
)
def test_a_wrong_type_names_the_call_and_parameter(engine, call, message):
    with pytest.raises(TypeError) as info:
        call(engine)
    assert message in str(info.value)
    assert "incompatible function arguments" not in str(info.value)


def test_engine_arguments_name_the_parameter(db):
    with pytest.raises(TypeError, match="Engine: store must be a str, got PosixPath"):
        from pathlib import Path

        storyloom.Engine(Path("x.db"))
    with pytest.raises(TypeError, match="Engine: workers must be an int, got str"):
        storyloom.Engine(db, workers="4")


def test_a_non_callable_is_refused_at_registration(engine):
    with pytest.raises(TypeError, match="Engine.register: fn of workflow 'nc' must be a function"):
        engine.register("nc", 42)
    with pytest.raises(TypeError, match="Engine.register: name must be a str, got int"):
        engine.register(7, lambda ctx, i: None)


@pytest.mark.parametrize("limit", [0, -1, 1001])
def test_list_refuses_a_limit_outside_1_to_1000(engine, limit):
    with pytest.raises(storyloom.InvalidArgument, match=f"limit must be from 1 to 1000.*got {limit}"):
        engine.list(limit=limit)
    assert engine.list(limit=1000).runs == [] and engine.list().runs == []


def test_step_arguments_and_a_non_callable_step_fail_the_run_naming_them(engine):
    @engine.workflow("bad-step")
    def bad_step(ctx, input):
        ctx.step("draw", 42)

    @engine.workflow("bad-name")
    def bad_name(ctx, input):
        ctx.step(5, lambda: 1)

    engine.launch()
    run = engine.wait(engine.start("bad-step", {}).id, timeout=10)
    assert run.status == "failed"
    assert "ctx.step 'draw': fn must be callable, got int" in run.error["message"]
    run = engine.wait(engine.start("bad-name", {}).id, timeout=10)
    assert "ctx.step: name must be a str, got int" in run.error["message"]


@pytest.mark.parametrize("value", [math.nan, math.inf, {"score": -math.inf}])
def test_a_non_finite_step_result_fails_the_step_at_once_naming_it(engine, value):
    calls = []

    def score():
        calls.append(1)
        return value

    engine.register("scores", lambda ctx, i: ctx.step("score", score), retries=FAST_RETRY)
    engine.launch()
    run = engine.wait(engine.start("scores", {}).id, timeout=10)
    assert run.status == "failed"
    assert run.error["step"] == "score"
    assert "the result of step 'score' is not JSON" in run.error["message"]
    assert len(calls) == 1  # the same value every time: not retried


def test_a_non_finite_output_names_the_workflow(engine):
    engine.register("out", lambda ctx, i: {"x": math.nan})
    engine.launch()
    run = engine.wait(engine.start("out", {}).id, timeout=10)
    assert run.status == "failed"
    assert "the output of workflow 'out' is not JSON" in run.error["message"]


def test_a_non_finite_signal_payload_is_refused_naming_it(engine):
    with pytest.raises(TypeError, match="signal 'go': payload is not JSON"):
        engine.signal("some-run", "go", {"x": math.nan})


def test_a_workflow_that_swallows_the_park_is_failed_saying_so(engine):
    @engine.workflow("greedy")
    def greedy(ctx, input):
        try:
            ctx.wait_for_signal("approve")
        except BaseException as e:  # noqa: BLE001 - the misuse under test
            return {"caught": type(e).__name__}
        return {"caught": None}

    @engine.workflow("greedy-async")
    async def greedy_async(ctx, input):
        try:
            await ctx.sleep("nap", 60)
        except BaseException:  # noqa: BLE001
            pass
        return "done"

    engine.launch()
    for name, call in (("greedy", "wait_for_signal"), ("greedy-async", "sleep")):
        run = engine.wait(engine.start(name, {}).id, timeout=10)
        assert run.status == "failed", run
        message = run.error["message"]
        assert f"workflow '{name}' returned after ctx.{call}() parked run" in message
        assert "_Parked" in message


def test_snapshots_list_every_failed_step_with_its_final_status(engine):
    def boom():
        raise RuntimeError("boom")

    @engine.workflow("fails")
    def fails(ctx, input):
        try:
            ctx.step("once", boom)
        except RuntimeError:
            pass
        ctx.step("twice", boom)

    engine.register("retried", lambda ctx, i: ctx.step("retried", boom), retries=FAST_RETRY)
    engine.launch()
    run = engine.wait(engine.start("fails", {}).id, timeout=10)
    steps = {s.name: s.status for s in engine.snapshot(run.id).steps}
    assert steps == {"once": "failed", "twice": "failed"}
    run = engine.wait(engine.start("retried", {}).id, timeout=10)
    assert run.status == "failed"
    assert [(s.name, s.status) for s in engine.snapshot(run.id).steps] == [("retried", "failed")]
