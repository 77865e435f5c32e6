"""Durations beyond the engine's limit (100 years) are refused naming the parameter;
none overflows into "now" (an immediate wake-up or time-out)."""

import re

import pytest

import storyloom

LIMIT = "the limit is 3155760000 seconds (100 years)"


@pytest.mark.parametrize("seconds", [float("inf"), float("nan"), 1e300, 3_155_760_001])
def test_sleep_and_signal_timeout_beyond_the_limit_are_refused(engine, seconds):
    seen = []

    @engine.workflow("long")
    def long(ctx, input):
        for call in (lambda: ctx.sleep("nap", seconds),
                     lambda: ctx.wait_for_signal("go", timeout=seconds)):
            try:
                call()
            except ValueError as e:
                seen.append(str(e))
        return {}

    engine.launch()
    run = engine.wait(engine.start("long", {}).id, timeout=10)
    assert run.status == "completed", run
    assert seen == [f"sleep 'nap' is {seconds} seconds; {LIMIT}",
                    f"wait_for_signal 'go': timeout is {seconds} seconds; {LIMIT}"]


def test_engine_and_workflow_durations_beyond_the_limit_are_refused(db):
    with pytest.raises(ValueError, match="^" + re.escape(f"poll_interval is inf seconds; {LIMIT}")):
        storyloom.Engine(db, poll_interval=float("inf"))
    with storyloom.Engine(db) as engine:
        with pytest.raises(ValueError, match="^" + re.escape(f"step_timeout is 1e+300 seconds; {LIMIT}")):
            engine.workflow("w", step_timeout=1e300)(lambda ctx, input: {})


def _deep(n):
    return 1 if n == 0 else [_deep(n - 1)]


def test_max_json_depth_sets_the_limit_and_the_message_names_it(db, tmp_path):
    with storyloom.Engine(db) as engine:
        engine.workflow("w")(lambda ctx, input: {})
        with pytest.raises(storyloom.StoryloomError) as e:
            engine.start("w", {"x": _deep(32)})
        assert str(e.value) == (
            "run input is nested deeper than the JSON depth limit of 32 levels (max_json_depth)"
        )
    with storyloom.Engine(f"sqlite:{tmp_path / 'roomy.db'}", max_json_depth=40) as engine:
        @engine.workflow("w")
        def echo(ctx, input):
            return ctx.step("echo", lambda: input["x"])

        engine.launch()
        run = engine.wait(engine.start("w", {"x": _deep(36)}).id, timeout=10)
        assert run.status == "completed", run
        assert run.output == _deep(36)
