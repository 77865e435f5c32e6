"""Scheduling controls: concurrency per key, max_running, throttles, step and run timeouts
with ctx.heartbeat(), and the run-management calls (retry_failed, cancel_many,
set_priority, rewind) with the dead-letter filters of list()."""

import asyncio
import threading
import time
from collections import Counter

import pytest

import storyloom
from storyloom_test_support import wait_status

FAST = storyloom.RetryPolicy(
    max_attempts=2, initial_backoff=0.01, multiplier=2.0, max_backoff=0.05, jitter=False
)


@pytest.fixture
def engine(db):
    with storyloom.Engine(db, workers=3, poll_interval=0.01) as e:
        yield e



class _Peak:
    """How many steps run at once, per key."""

    def __init__(self):
        self.lock = threading.Lock()
        self.now = Counter()
        self.peak = Counter()

    def __call__(self, key, body):
        with self.lock:
            self.now[key] += 1
            self.peak[key] = max(self.peak[key], self.now[key])
        try:
            return body()
        finally:
            with self.lock:
                self.now[key] -= 1


# ---- limits ----


def test_concurrency_caps_running_runs_per_key_only(engine):
    peak = _Peak()
    together = threading.Barrier(2, timeout=5)  # user 1's first run and user 2's run

    @engine.workflow("page", concurrency=storyloom.Concurrency(key="$.user", limit=1))
    def page(ctx, input):
        body = together.wait if input["meet"] else (lambda: time.sleep(0.05))
        ctx.step("write", lambda: peak(input["user"], body))
        return {}

    engine.launch()
    runs = [
        engine.start("page", {"user": 1, "meet": True}),
        engine.start("page", {"user": 1, "meet": False}),
        engine.start("page", {"user": 2, "meet": True}),
    ]
    done = [engine.wait(r.id, timeout=20) for r in runs]
    assert [r.status for r in done] == ["completed"] * 3, done
    assert peak.peak == Counter({1: 1, 2: 1})


def test_max_running_caps_the_whole_workflow(engine):
    peak = _Peak()

    @engine.workflow("one", max_running=1)
    def one(ctx, input):
        ctx.step("s", lambda: peak("all", lambda: time.sleep(0.03)))
        return {}

    engine.launch()
    runs = [engine.start("one", {"i": i}) for i in range(3)]
    assert all(engine.wait(r.id, timeout=20).status == "completed" for r in runs)
    assert peak.peak["all"] == 1


def test_a_throttle_spaces_first_starts_by_its_period(engine):
    @engine.workflow("t", throttle=storyloom.Throttle(limit=1, period=0.3))
    def t(ctx, input):
        return {}

    engine.launch()
    runs = [engine.start("t", {"i": i}) for i in range(2)]
    assert all(engine.wait(r.id, timeout=20).status == "completed" for r in runs)
    started = [
        next(e.created_at_ms for e in engine.stored_events(r.id) if e.type == "run.started")
        for r in runs
    ]
    assert abs(started[1] - started[0]) >= 250


def test_a_step_past_its_timeout_is_retried_with_class_timeout(engine):
    attempts = []

    @engine.workflow("slow", retries=FAST, step_timeout=0.15)
    def slow(ctx, input):
        def write():
            attempts.append(1)
            if len(attempts) == 1:
                time.sleep(0.5)  # silent past the timeout: this attempt is lost
            return len(attempts)

        return {"attempt": ctx.step("write", write)}

    engine.launch()
    run = engine.wait(engine.start("slow", {}).id, timeout=20)
    assert run.status == "completed", run
    assert run.output == {"attempt": 2}
    retrying = [e.data for e in engine.stored_events(run.id) if e.type == "step.retrying"]
    assert [r["error"]["class"] for r in retrying] == ["timeout"]
    assert (
        "timed out after 150 ms without finishing or a heartbeat" in retrying[0]["error"]["message"]
    )


def test_heartbeats_keep_a_long_step_alive(engine):
    @engine.workflow("beating", step_timeout=0.15)
    def beating(ctx, input):
        def write():
            for _ in range(8):  # 0.4 s in all, never 0.15 s silent
                time.sleep(0.05)
                ctx.heartbeat()
            return "done"

        return {"text": ctx.step("write", write)}

    engine.launch()
    run = engine.wait(engine.start("beating", {}).id, timeout=20)
    assert run.status == "completed", run
    assert "step.retrying" not in [e.type for e in engine.stored_events(run.id)]


def test_heartbeats_in_async_steps_side_by_side(engine):
    @engine.workflow("abeating", step_timeout=0.15)
    async def abeating(ctx, input):
        async def write(n):
            for _ in range(6):
                await asyncio.sleep(0.05)
                ctx.heartbeat()  # the step of this task
            return n

        a, b = await asyncio.gather(
            ctx.step("a", lambda: write(1)), ctx.step("b", lambda: write(2))
        )
        return {"sum": a + b}

    engine.launch()
    run = engine.wait(engine.start("abeating", {}).id, timeout=20)
    assert run.status == "completed", run
    assert run.output == {"sum": 3}


@pytest.mark.parametrize("asynchronous", [False, True])
def test_heartbeat_outside_a_step_is_a_runtime_error(engine, asynchronous):
    seen = []
    if asynchronous:

        @engine.workflow("hb")
        async def hb_async(ctx, input):
            try:
                ctx.heartbeat()
            except RuntimeError as e:
                seen.append(str(e))
            return {}
    else:

        @engine.workflow("hb")
        def hb_sync(ctx, input):
            try:
                ctx.heartbeat()
            except RuntimeError as e:
                seen.append(str(e))
            return {}

    engine.launch()
    run = engine.wait(engine.start("hb", {}).id, timeout=10)
    assert run.status == "completed"
    assert seen[0].startswith(f"ctx.heartbeat() outside a step of run '{run.id}'")


def test_a_run_past_its_run_timeout_fails_with_timeout(engine):
    @engine.workflow("forever", run_timeout=0.2)
    def forever(ctx, input):
        ctx.wait_for_signal("never")  # parked time counts
        return {}

    engine.launch()
    run = engine.wait(engine.start("forever", {}).id, timeout=10)
    assert run.status == "failed"
    assert run.error["code"] == "timeout" and run.error["class"] == "timeout"
    assert run.error["message"] == f"run '{run.id}' exceeded its run timeout of 200 ms"


@pytest.mark.parametrize(
    "options, message",
    [
        ({"max_running": -1}, "max_running must not be negative (0: no limit), got -1"),
        (
            {"concurrency": storyloom.Concurrency(key="", limit=2)},
            "concurrency key path is empty; give a JSON path into the input",
        ),
        (
            {"concurrency": storyloom.Concurrency(key="$.user", limit=0)},
            "concurrency limit must be at least 1, got 0",
        ),
        (
            {"concurrency": storyloom.Concurrency(key="$..user", limit=1)},
            "concurrency key path '$..user' has an empty member name",
        ),
        ({"throttle": storyloom.Throttle(limit=0, period=1)}, "throttle limit must be at least 1"),
        (
            {"throttle": storyloom.Throttle(limit=1, period=0)},
            "throttle period must be at least 1 ms, got 0 ms",
        ),
        ({"step_timeout": -1}, "timeout must not be negative (0: none), got -1000 ms"),
        ({"run_timeout": -0.5}, "run_timeout must not be negative (0: none), got -500 ms"),
    ],
)
def test_bad_workflow_options_are_refused_naming_the_field(engine, options, message):
    with pytest.raises(storyloom.InvalidArgument) as info:
        engine.register("bad", lambda ctx, input: {}, **options)
    assert message in str(info.value)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"concurrency": 2}, "concurrency must be a storyloom.Concurrency(key, limit), got int"),
        (
            {"throttle": {"limit": 1}},
            "throttle must be a storyloom.Throttle(limit, period, key=''), got dict",
        ),
        ({"max_running": "1"}, "max_running must be an int, got str"),
        ({"step_timeout": "1s"}, "step_timeout must be a number of seconds, got str"),
        ({"run_timeout": True}, "run_timeout must be a number of seconds, got bool"),
        (
            {"concurrency": storyloom.Concurrency(key=1, limit=1)},
            "concurrency.key must be a str, got int",
        ),
        (
            {"throttle": storyloom.Throttle(limit=1, period="1")},
            "throttle.period must be a number of seconds, got str",
        ),
    ],
)
def test_workflow_options_of_the_wrong_type_are_a_type_error(engine, options, message):
    with pytest.raises(TypeError) as info:
        engine.workflow("bad", **options)(lambda ctx, input: {})
    assert str(info.value) == message


# ---- run management ----


def _fail_some(engine):
    """Two failed runs of 'flaky' (retryable errors, fine on the next attempt) and one of
    'broken' (fatal)."""
    failed_once = set()

    @engine.workflow("flaky")
    def flaky(ctx, input):
        def write():
            if ctx.run_id not in failed_once:
                failed_once.add(ctx.run_id)
                raise ConnectionError("provider down")
            return "text"

        return {"text": ctx.step("write", write)}

    @engine.workflow("broken")
    def broken(ctx, input):
        return ctx.step("write", lambda: (_ for _ in ()).throw(storyloom.FatalError("no")))

    engine.launch()
    runs = [engine.start("flaky", {"i": i}, owner="alice") for i in range(2)]
    runs.append(engine.start("broken", {}, owner="bob"))
    return [engine.wait(r.id, timeout=10) for r in runs]


def test_the_dead_letter_view_filters_by_error_class_and_finish_time(engine):
    flaky_a, flaky_b, broken = _fail_some(engine)
    assert {r.status for r in (flaky_a, flaky_b, broken)} == {"failed"}

    def ids(**filters):
        return {r.id for r in engine.list(status="failed", **filters).runs}

    assert ids(error_class="fatal") == {broken.id}
    assert ids(error_class="retryable") == {flaky_a.id, flaky_b.id}
    assert ids(error_class="timeout") == set()
    first = min(r.finished_at_ms for r in (flaky_a, flaky_b, broken))
    last = max(r.finished_at_ms for r in (flaky_a, flaky_b, broken))
    assert ids(finished_after_ms=last + 1) == set()
    assert ids(finished_after_ms=first, finished_before_ms=last + 1) == {
        flaky_a.id,
        flaky_b.id,
        broken.id,
    }
    assert ids(owner="bob") == {broken.id}


def test_retry_failed_queues_the_matching_failed_runs(engine):
    flaky_a, flaky_b, broken = _fail_some(engine)
    assert engine.retry_failed(workflow="flaky", error_class="retryable") == 2
    for r in (flaky_a, flaky_b):
        assert engine.wait(r.id, timeout=10).status == "completed"
    assert engine.get(broken.id).status == "failed"
    assert engine.retry_failed(workflow="flaky") == 0  # none left


def test_retry_failed_refuses_another_status(engine):
    with pytest.raises(storyloom.InvalidArgument) as info:
        engine.retry_failed(status="completed")
    assert str(info.value) == (
        "retry by filter takes failed runs only; the filter asks for completed runs"
    )


def test_retry_failed_is_awaitable(engine):
    _fail_some(engine)
    assert asyncio.run(engine.aretry_failed(owner="bob")) == 1


def test_cancel_many_cancels_the_matching_unfinished_runs(engine):
    @engine.workflow("waiter")
    def waiter(ctx, input):
        ctx.wait_for_signal("go")
        return {}

    engine.launch()
    alice = [engine.start("waiter", {"i": i}, owner="alice") for i in range(2)]
    bob = engine.start("waiter", {}, owner="bob")
    for r in (*alice, bob):
        wait_status(engine, r.id, "waiting")
    cancelled = engine.cancel_many(owner="alice", status="waiting")
    assert sorted(cancelled) == sorted(r.id for r in alice)
    assert [engine.get(r.id).status for r in alice] == ["cancelled", "cancelled"]
    assert engine.get(bob.id).status == "waiting"
    assert asyncio.run(engine.acancel_many(workflow="waiter")) == [bob.id]


def test_cancel_many_refuses_a_finished_status(engine):
    with pytest.raises(storyloom.InvalidArgument) as info:
        engine.cancel_many(status="completed")
    assert "cancel by filter takes unfinished runs only" in str(info.value)


@pytest.mark.parametrize(
    "filters, error, message",
    [
        (
            {"error_class": "bogus"},
            storyloom.InvalidArgument,
            "error_class must be one of retryable, fatal, rate_limited, timeout; got 'bogus'",
        ),
        ({"status": "bogus"}, storyloom.InvalidArgument, "'bogus' is not a run status"),
        ({"finished_after_ms": 1.5}, TypeError, "finished_after_ms must be an int (epoch ms)"),
    ],
)
def test_bad_filters_are_refused_naming_them(engine, filters, error, message):
    with pytest.raises(error) as info:
        engine.list(**filters)
    assert message in str(info.value)


def test_set_priority_reorders_queued_runs(engine):
    gate = threading.Event()
    order = []

    @engine.workflow("one", max_running=1)
    def one(ctx, input):
        order.append(input["i"])
        ctx.step("gate", lambda: gate.wait(5))
        return {}

    engine.launch()
    first = engine.start("one", {"i": 0})
    wait_status(engine, first.id, "running")
    second, third = engine.start("one", {"i": 1}), engine.start("one", {"i": 2})
    engine.set_priority(third.id, 5)
    with pytest.raises(storyloom.InvalidState) as info:
        engine.set_priority(first.id, 5)
    assert str(info.value) == (
        f"run '{first.id}' is running; its priority can only be changed while it is queued"
    )
    gate.set()
    for r in (first, second, third):
        assert engine.wait(r.id, timeout=10).status == "completed"
    assert order == [0, 2, 1]
    assert engine.get(third.id).priority == 5
    priority = [e.data for e in engine.stored_events(third.id) if e.type == "run.priority"]
    assert priority == [{"priority": 5, "previous": 0}]


def test_set_priority_errors(engine):
    with pytest.raises(storyloom.NotFound, match="no run with id 'nope'"):
        engine.set_priority("nope", 1)
    with pytest.raises(TypeError, match="priority must be an int, got str"):
        engine.set_priority("nope", "high")


def test_rewind_redoes_a_step_and_the_later_ones(engine):
    calls = []

    @engine.workflow("abc")
    def abc(ctx, input):
        return [ctx.step(n, lambda n=n: calls.append(n) or f"{n}{len(calls)}") for n in "abc"]

    engine.launch()
    run = engine.wait(engine.start("abc", {}).id, timeout=10)
    assert run.output == ["a1", "b2", "c3"]
    engine.rewind(run.id, "b")
    time.sleep(0.05)  # the rewound run is queued again
    run = engine.wait(run.id, timeout=10)
    assert run.status == "completed"
    assert run.output == ["a1", "b4", "c5"]
    assert calls == ["a", "b", "c", "b", "c"]
    rewound = [e.data for e in engine.stored_events(run.id) if e.type == "run.rewound"]
    assert rewound == [{"step": "b", "invalidated": ["b", "c"]}]


def test_rewind_errors_name_the_run_and_step(engine):
    @engine.workflow("waiter")
    def waiter(ctx, input):
        ctx.step("one", lambda: 1)
        ctx.wait_for_signal("go")
        return {}

    engine.launch()
    run = engine.start("waiter", {})
    wait_status(engine, run.id, "waiting")
    with pytest.raises(storyloom.InvalidState) as info:
        engine.rewind(run.id, "one")
    assert str(info.value) == (
        f"run '{run.id}' is waiting; only completed or failed runs can be rewound"
    )
    engine.signal(run.id, "go")
    engine.wait(run.id, timeout=10)
    with pytest.raises(storyloom.NotFound) as info:
        asyncio.run(engine.arewind(run.id, "zzz"))
    assert str(info.value) == f"run '{run.id}' has no step named 'zzz'"
    with pytest.raises(storyloom.NotFound, match="no run with id 'nope'"):
        engine.rewind("nope", "one")
