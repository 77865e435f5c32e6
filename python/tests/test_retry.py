"""Retry policies: @engine.workflow(name, retries=RetryPolicy(...)) through the C ABI's
sl_workflow_options; exceptions in steps recorded with type and message and retried."""

import pytest
import storyloom

FAST = storyloom.RetryPolicy(
    max_attempts=3, initial_backoff=0.01, multiplier=2.0, max_backoff=0.05, jitter=False
)


def test_a_step_failing_twice_then_succeeding_completes_on_attempt_three(engine):
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError(f"provider down ({len(calls)})")
        return "page text"

    @engine.workflow("flaky", retries=FAST)
    def flaky_wf(ctx, input):
        return {"page": ctx.step("write", flaky)}

    engine.launch()
    run = engine.wait(engine.start("flaky", {}).id, timeout=10)
    assert run.status == "completed", run
    assert run.output == {"page": "page text"}
    assert len(calls) == 3
    events = engine.stored_events(run.id)
    retrying = [e.data for e in events if e.type == "step.retrying"]
    assert [(r["name"], r["attempt"], r["next_attempt"]) for r in retrying] == [
        ("write", 1, 2),
        ("write", 2, 3),
    ]
    assert [r["delay_ms"] for r in retrying] == [10, 20]  # no jitter: the whole backoff
    assert retrying[0]["error"]["message"] == "ConnectionError: provider down (1)"
    assert retrying[1]["error"]["message"] == "ConnectionError: provider down (2)"
    assert [e.data["name"] for e in events if e.type == "step.completed"] == ["write"]


def test_async_step_is_retried_in_an_async_workflow(engine):
    calls = []

    async def flaky():
        calls.append(1)
        if len(calls) < 2:
            raise TimeoutError("slow provider")
        return len(calls)

    @engine.workflow("aflaky", retries=FAST)
    async def wf(ctx, input):
        return {"n": await ctx.step("write", flaky)}

    engine.launch()
    run = engine.wait(engine.start("aflaky", {}).id, timeout=10)
    assert run.status == "completed", run
    assert run.output == {"n": 2}
    assert [
        e.data["attempt"] for e in engine.stored_events(run.id) if e.type == "step.retrying"
    ] == [1]


def test_after_the_last_attempt_the_run_fails_with_the_type_and_message(engine):
    calls = []

    @engine.workflow("down", retries=FAST)
    def down(ctx, input):
        ctx.step("ok", lambda: 1)
        return ctx.step("write", lambda: calls.append(1) or (_ for _ in ()).throw(OSError("503")))

    engine.launch()
    run = engine.wait(engine.start("down", {}).id, timeout=10)
    assert run.status == "failed"
    assert len(calls) == 3
    assert run.error["step"] == "write"
    assert run.error["message"] == "OSError: 503"
    failed = [e.data for e in engine.stored_events(run.id) if e.type == "step.failed"]
    assert [f["attempt"] for f in failed] == [3]
    # the dead-letter view lists it
    assert run.id in [r.id for r in engine.list(status="failed").runs]


def test_fatal_error_is_not_retried(engine):
    calls = []

    class BadPrompt(storyloom.FatalError):
        pass

    def refuse():
        calls.append(1)
        raise BadPrompt("prompt is empty")

    @engine.workflow("fatal", retries=FAST)
    def fatal(ctx, input):
        return ctx.step("write", refuse)

    engine.launch()
    run = engine.wait(engine.start("fatal", {}).id, timeout=10)
    assert run.status == "failed"
    assert calls == [1]
    assert run.error["message"] == "BadPrompt: prompt is empty"
    assert run.error["class"] == "fatal"
    assert not [e for e in engine.stored_events(run.id) if e.type == "step.retrying"]


def test_without_a_policy_a_step_is_tried_once(engine):
    calls = []

    @engine.workflow("once")
    def once(ctx, input):
        return ctx.step("write", lambda: calls.append(1) or 1 / 0)

    engine.launch()
    run = engine.wait(engine.start("once", {}).id, timeout=10)
    assert run.status == "failed"
    assert calls == [1]
    assert run.error["message"] == "ZeroDivisionError: division by zero"


@pytest.mark.parametrize(
    "policy, field",
    [
        (storyloom.RetryPolicy(max_attempts=0), "max_attempts must be at least 1, got 0"),
        (storyloom.RetryPolicy(initial_backoff=-1), "initial_backoff must not be negative"),
        (storyloom.RetryPolicy(multiplier=0.5), "multiplier must be at least 1"),
        (
            storyloom.RetryPolicy(initial_backoff=5, max_backoff=1),
            "max_backoff (1000 ms) must not be less than initial_backoff (5000 ms)",
        ),
    ],
)
def test_a_bad_policy_is_refused_naming_the_field(engine, policy, field):
    with pytest.raises(storyloom.InvalidArgument) as info:
        engine.register("bad", lambda ctx, input: {}, retries=policy)
    assert field in str(info.value)


def test_retries_must_be_a_retry_policy(engine):
    with pytest.raises(TypeError, match="retries must be a storyloom.RetryPolicy, got dict"):
        engine.workflow("bad", retries={"max_attempts": 3})(lambda ctx, input: {})
