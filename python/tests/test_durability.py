"""Durable before visible, launch(), and the durability option (docs/design.md rules 7 and 9):
a step returns only once its result is committed, so another engine on the store (a second
connection, never launched: it only reads) sees it inside the next step; no run executes
before launch(); async workflows with many concurrent steps do not deadlock on the GIL."""

import asyncio
import threading
import time

import pytest
import storyloom


def _step_one(snapshot):
    steps = {s.name: s for s in snapshot.steps}
    one = steps.get("one")
    return None if one is None else {"status": one.status, "result": one.result}


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_inside_step_two_another_engine_already_sees_step_one(engine, db, mode):
    with storyloom.Engine(db) as observer:  # never launched: reads only
        if mode == "sync":

            @engine.workflow("two-steps")
            def two_steps(ctx, input):
                ctx.step("one", lambda: {"page": 1})
                seen = ctx.step("two", lambda: _step_one(observer.snapshot(ctx.run_id)))
                return {"seen": seen}

        else:

            @engine.workflow("two-steps")
            async def two_steps(ctx, input):
                await ctx.step("one", lambda: {"page": 1})

                async def two():
                    return _step_one(await observer.asnapshot(ctx.run_id))

                return {"seen": await ctx.step("two", two)}

        engine.launch()
        run = engine.wait(engine.start("two-steps", {}).id, timeout=10)
    assert run.status == "completed", run
    assert run.output == {"seen": {"status": "completed", "result": {"page": 1}}}


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_signal_a_wait_returned_is_committed_before_the_run_goes_on(engine, db, mode):
    with storyloom.Engine(db) as observer:

        def seen(run_id):
            steps = {s.name: s for s in observer.snapshot(run_id).steps}
            return steps["approve"].status if "approve" in steps else None

        if mode == "sync":

            @engine.workflow("approve")
            def approve(ctx, input):
                got = ctx.wait_for_signal("approve")
                return {"got": got, "seen": ctx.step("look", lambda: seen(ctx.run_id))}

        else:

            @engine.workflow("approve")
            async def approve(ctx, input):
                got = await ctx.wait_for_signal("approve")
                return {"got": got, "seen": await ctx.step("look", lambda: seen(ctx.run_id))}

        engine.launch()
        run = engine.start("approve", {})
        engine.signal(run.id, "approve", {"by": "editor"})
        run = engine.wait(run.id, timeout=10)
    assert run.output == {"got": {"by": "editor"}, "seen": "completed"}, run


def test_nothing_runs_before_launch(engine):
    calls = []

    @engine.workflow("counted")
    def counted(ctx, input):
        calls.append(ctx.run_id)
        return {"n": ctx.step("n", lambda: 1)}

    # Reads, starts and signals work before launch; no workflow function is called.
    run = engine.start("counted", {})
    engine.signal(run.id, "hello", {})
    assert engine.snapshot(run.id).run.status == "queued"
    time.sleep(0.3)  # many poll intervals of the engine (0.01 s)
    assert calls == []
    assert engine.get(run.id).status == "queued"

    engine.launch()
    engine.launch()  # idempotent
    assert engine.wait(run.id, timeout=10).output == {"n": 1}
    assert calls == [run.id]


def test_launch_of_a_closed_engine_raises_closed(db):
    engine = storyloom.Engine(db)
    engine.close()
    with pytest.raises(storyloom.Closed, match="closed"):
        engine.launch()


def test_an_engine_that_is_not_launched_leaves_runs_to_one_that_is(db):
    calls = []
    with (
        storyloom.Engine(db, poll_interval=0.01) as idle,
        storyloom.Engine(db, poll_interval=0.01) as worker,
    ):
        idle.register("w", lambda ctx, input: calls.append("idle") or {"by": "idle"})
        worker.register("w", lambda ctx, input: calls.append("worker") or {"by": "worker"})
        worker.launch()
        runs = [idle.start("w", {"n": n}) for n in range(5)]
        outs = [worker.wait(r.id, timeout=10).output for r in runs]
    assert outs == [{"by": "worker"}] * 5
    assert calls == ["worker"] * 5


@pytest.mark.parametrize("durability", ["full", "normal"])
def test_both_durabilities_run_steps(db, durability):
    with storyloom.Engine(db, poll_interval=0.01, durability=durability) as engine:
        engine.register("w", lambda ctx, input: {"a": ctx.step("a", lambda: 1)})
        engine.launch()
        assert engine.wait(engine.start("w", {}).id, timeout=10).output == {"a": 1}


def test_a_bad_durability_is_refused_naming_the_parameter(db):
    with pytest.raises(storyloom.InvalidArgument, match="durability must be 'full' or 'normal'"):
        storyloom.Engine(db, durability="fsync")
    with pytest.raises(TypeError, match="durability must be a str"):
        storyloom.Engine(db, durability=1)
    with pytest.raises(storyloom.InvalidArgument, match="'FULL'"):
        storyloom.Engine(db, durability="FULL")


def test_many_async_runs_with_concurrent_steps_do_not_deadlock(db):
    """50 async runs x 5 steps (two of them awaited side by side) on the engine's loop,
    while sync runs on the worker threads begin steps too: every durability callback comes
    back through the loop and no engine thread waits for the GIL forever."""
    runs_n, steps_n = 50, 5
    with storyloom.Engine(db, workers=4, poll_interval=0.01) as engine:

        @engine.workflow("many")
        async def many(ctx, input):
            total = 0
            for s in range(steps_n - 2):
                ctx.progress({"step": s})  # a write step_begin must wait for
                total += await ctx.step(f"s{s}", lambda s=s: s)

            async def later(v):
                await asyncio.sleep(0)
                return v

            a, b = await asyncio.gather(
                ctx.step("pair/a", lambda: later(10)), ctx.step("pair/b", lambda: later(20))
            )
            return {"total": total + a + b}

        @engine.workflow("plain")
        def plain(ctx, input):
            return {"total": sum(ctx.step(f"s{s}", lambda s=s: s) for s in range(steps_n))}

        engine.launch()
        runs = [engine.start("many", {"n": n}) for n in range(runs_n)]
        plain_runs = [engine.start("plain", {"n": n}) for n in range(10)]
        outcome: dict = {}

        def wait_all():
            outcome["async"] = [engine.wait(r.id, timeout=90) for r in runs]
            outcome["plain"] = [engine.wait(r.id, timeout=90) for r in plain_runs]

        waiter = threading.Thread(target=wait_all, daemon=True)
        waiter.start()
        waiter.join(timeout=120)
        assert not waiter.is_alive(), [engine.get(r.id).status for r in runs + plain_runs]
    assert [r.output for r in outcome["async"]] == [{"total": 0 + 1 + 2 + 10 + 20}] * runs_n
    assert [r.output for r in outcome["plain"]] == [{"total": 10}] * 10


def test_a_step_of_a_cancelled_run_raises_cancelled_at_its_commit_or_next_call(engine):
    entered, proceed = threading.Event(), threading.Event()
    seen = []

    @engine.workflow("cancelled")
    def cancelled(ctx, input):
        try:
            ctx.step("first", lambda: entered.set() or (proceed.wait(5) and "late"))
            ctx.step("second", lambda: "never")
        except storyloom.StoryloomError as e:
            seen.append(type(e).__name__)
            raise
        return {}

    engine.launch()
    run = engine.start("cancelled", {})
    assert entered.wait(10)
    engine.cancel(run.id)
    proceed.set()
    done = engine.wait(run.id, timeout=10)
    assert done.status == "cancelled", done
    # The run is cancelled at once; its workflow sees it at its next commit, a moment later.
    deadline = time.monotonic() + 10
    while not seen and time.monotonic() < deadline:
        time.sleep(0.01)
    assert seen == ["Cancelled"]
