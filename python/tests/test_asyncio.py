"""asyncio: async iteration of events and SSE, a* calls that do not block the loop, async
workflows on the engine's own loop, and Ctrl-C (SIGINT) that stops a script cleanly."""

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import storyloom

HERE = Path(__file__).parent


async def _ticks_while(coro):
    """Runs coro while a ticker counts loop iterations: a blocked loop does not tick."""
    ticks = 0
    done = False

    async def ticker():
        nonlocal ticks
        while not done:
            ticks += 1
            await asyncio.sleep(0.005)

    t = asyncio.create_task(ticker())
    try:
        return await coro, ticks
    finally:
        done = True
        await t


def test_async_for_over_events_gets_stored_then_live_events(engine):
    gate = threading.Event()

    @engine.workflow("live")
    def live(ctx, input):
        ctx.step("one", lambda: 1)
        ctx.step("gate", lambda: gate.wait(5))
        ctx.chunk("page/1", "hello ")
        return {"ok": True}

    engine.launch()

    async def main():
        run = await engine.astart("live", {})
        seen = []
        async for e in engine.events(run.id):
            seen.append(e)
            if e.type == "step.completed" and e.data["name"] == "one":
                # the run waits 0.2 s for the gate while this loop keeps ticking
                asyncio.get_running_loop().call_later(0.2, gate.set)
        return run, seen

    (_, seen), ticks = asyncio.run(_ticks_while(main()))
    types = [e.type for e in seen]
    assert types[0] == "run.created", types
    assert types[-1] == "run.completed", types
    assert "chunk" in types
    stored = [e.id for e in seen if e.kind == "stored"]
    assert stored == sorted(set(stored))
    assert ticks > 5  # the loop went on while the feeder thread waited


def test_async_for_resumes_after_an_event_id_without_duplicates(engine):
    engine.register("two", lambda ctx, input: [ctx.step(s, lambda s=s: s) for s in "ab"] and {})
    engine.launch()
    run = engine.wait(engine.start("two", {}).id, timeout=10)
    all_ids = [e.id for e in engine.stored_events(run.id)]

    async def main():
        return [e.id async for e in engine.events(run.id, after=all_ids[2]) if e.kind == "stored"]

    assert asyncio.run(main()) == all_ids[3:]


def test_async_events_timeout_raises_timeout(engine):
    engine.register("parked", lambda ctx, input: ctx.wait_for_signal("never") and {})
    engine.launch()
    run = engine.start("parked", {})

    async def main():
        async for _ in engine.events(run.id, timeout=0.3):
            pass

    with pytest.raises(storyloom.Timeout, match="did not end within 0.3 s"):
        asyncio.run(main())


def test_a_stream_is_iterated_once(engine):
    engine.register("w", lambda ctx, input: {})
    engine.launch()
    run = engine.start("w", {})
    stream = engine.events(run.id)
    list(stream)
    stream2 = engine.events(run.id)
    iter(stream2)

    async def main():
        async for _ in stream2:
            pass

    with pytest.raises(RuntimeError, match="already being iterated"):
        asyncio.run(main())


def test_aclose_stops_the_feeder_thread(engine):
    engine.register("parked", lambda ctx, input: ctx.wait_for_signal("never") and {})
    engine.launch()
    run = engine.start("parked", {})

    async def main():
        stream = engine.events(run.id)
        async with stream:
            async for e in stream:
                if e.type == "run.waiting":
                    break
        await asyncio.sleep(0.3)

    asyncio.run(main())
    assert not [t for t in threading.enumerate() if t.name == "storyloom-events"]


def test_async_sse_yields_the_wire_format(engine):
    engine.register("w", lambda ctx, input: {"ok": ctx.step("s", lambda: 1)})
    engine.launch()
    run = engine.wait(engine.start("w", {}).id, timeout=10)

    async def main():
        return b"".join([b async for b in storyloom.sse(engine, run.id, retry=2)])

    body = asyncio.run(main())
    assert body.startswith(b"retry: 2000\n\n")
    assert b"event: run.completed\n" in body
    ids = [int(line[4:]) for line in body.split(b"\n") if line.startswith(b"id: ")]
    assert ids == [e.id for e in engine.stored_events(run.id)]


def test_sse_rejects_a_bad_last_event_id(engine):
    with pytest.raises(ValueError, match="last_event_id must be an event id"):
        storyloom.sse(engine, "run-x", "abc")
    with pytest.raises(ValueError, match="last_event_id must not be negative"):
        storyloom.sse(engine, "run-x", -3)


def test_async_calls_do_not_block_the_loop_and_raise_engine_errors(engine):
    gate = threading.Event()

    @engine.workflow("approve")
    def approve(ctx, input):
        return {"by": ctx.wait_for_signal("approve")["by"]}

    engine.register("fail", lambda ctx, input: ctx.step("boom", lambda: 1 / 0))
    engine.launch()
    threads = set()
    for name in ("start", "get", "list", "signal", "snapshot", "artifacts", "cancel"):

        def spy(*a, _real=getattr(engine, name), **k):
            threads.add(threading.current_thread())
            return _real(*a, **k)

        setattr(engine, name, spy)

    async def main():
        run = await engine.astart("approve", {"t": 1}, idempotency_key="k1")
        again = await engine.astart("approve", {"t": 1}, idempotency_key="k1")
        assert again.id == run.id
        while (await engine.aget(run.id)).status != "waiting":
            await asyncio.sleep(0.01)
        await engine.asignal(run.id, "approve", {"by": "ed"})
        done = await engine.await_run(run.id, timeout=10)
        snap = await engine.asnapshot(run.id)
        page = await engine.alist(workflow="approve")
        events = await engine.astored_events(run.id, limit=2)
        assert await engine.aartifacts(run.id) == []
        failed = await engine.await_run((await engine.astart("fail", {})).id, timeout=10)
        await engine.aretry(failed.id)
        parked = await engine.astart("approve", {})
        await engine.acancel(parked.id)
        cancelled = await engine.await_run(parked.id, timeout=10)
        await engine.adelete(cancelled.id)
        with pytest.raises(storyloom.NotFound, match="nope"):
            await engine.aget("nope")
        gate.set()
        return done, snap, page, events, cancelled

    (done, snap, page, events, cancelled), _ = asyncio.run(_ticks_while(main()))
    assert done.output == {"by": "ed"}
    assert snap.run.status == "completed"
    assert page.runs[0].id == done.id
    assert len(events) == 2
    assert cancelled.status == "cancelled"
    assert threads and threading.main_thread() not in threads  # the loop's thread never blocked


def test_async_workflow_runs_on_the_engines_loop_and_frees_the_worker(db):
    loops = []
    with storyloom.Engine(db, workers=1, poll_interval=0.01) as engine:

        @engine.workflow("slow-async")
        async def slow(ctx, input):
            assert isinstance(ctx, storyloom.AsyncContext)
            loops.append((threading.current_thread().name, id(asyncio.get_running_loop())))

            async def nap():
                await asyncio.sleep(0.3)
                return input["n"]

            return {"n": await ctx.step("nap", nap)}

        # One worker thread: four async runs overlap only if the worker is not held.
        started = time.monotonic()
        engine.launch()
        runs = [engine.start("slow-async", {"n": n}) for n in range(4)]
        outs = [engine.wait(r.id, timeout=10).output for r in runs]
        elapsed = time.monotonic() - started
    assert outs == [{"n": n} for n in range(4)]
    assert elapsed < 1.0, elapsed
    assert {name for name, _ in loops} == {"storyloom-asyncio"}
    assert len({loop for _, loop in loops}) == 1
    assert not [t for t in threading.enumerate() if t.name == "storyloom-asyncio"]


def test_async_workflow_waits_park_and_resume(engine):
    @engine.workflow("async-wait")
    async def wf(ctx, input):
        a = await ctx.step("a", lambda: 1)
        await ctx.sleep("nap", 0.02)
        got = await ctx.wait_for_signal("go")
        return {"a": a, "got": got}

    engine.launch()
    run = engine.start("async-wait", {})
    deadline = time.monotonic() + 10
    while engine.get(run.id).status != "waiting":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    engine.signal(run.id, "go", {"x": 1})
    assert engine.wait(run.id, timeout=10).output == {"a": 1, "got": {"x": 1}}


def test_an_async_workflow_stopped_by_close_resumes_in_the_next_engine(db):
    calls = []
    with storyloom.Engine(db, poll_interval=0.01, drain_timeout=0.2) as engine:

        @engine.workflow("long")
        async def long(ctx, input):
            await ctx.step("first", lambda: calls.append("first") or 1)
            await ctx.step("forever", lambda: asyncio.sleep(30))
            return {}

        engine.launch()
        run = engine.start("long", {})
        while not calls:
            time.sleep(0.01)
        time.sleep(0.1)
    with storyloom.Engine(db, poll_interval=0.01) as engine:

        @engine.workflow("long")
        async def long2(ctx, input):
            first = await ctx.step("first", lambda: calls.append("again") or 2)
            return {"first": first, "then": await ctx.step("forever", lambda: "quick")}

        engine.launch()
        done = engine.wait(run.id, timeout=10)
    assert done.status == "completed", done
    assert done.output == {"first": 1, "then": "quick"}
    assert calls == ["first"]


def test_async_with_engine_closes_it(db):
    async def main():
        async with storyloom.Engine(db) as engine:
            engine.register("w", lambda ctx, input: {})
            await engine.alaunch()
            await engine.await_run((await engine.astart("w", {})).id, timeout=10)
        return engine

    assert asyncio.run(main()).closed


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_ctrl_c_stops_the_script_and_the_run_resumes_next_time(tmp_path, mode):
    store = f"sqlite:{tmp_path / 'sigint.db'}"
    log = tmp_path / "steps.log"
    script = HERE / "sigint_worker.py"

    def launch():
        return subprocess.Popen(
            [sys.executable, str(script), store, str(log), mode],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    child = launch()
    try:
        deadline = time.monotonic() + 30
        while not (log.exists() and "page/2" in log.read_text()):
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline, "page 2 never started"
            time.sleep(0.02)
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            os.kill(child.pid, signal.SIGKILL)
            child.wait()
    assert child.returncode == 130, (child.returncode, out, err)
    assert "interrupted" in out
    assert "Traceback" not in err, err
    pages_before = log.read_text().splitlines()

    child = launch()
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0, (out, err)
    assert "completed" in out
    lines = log.read_text().splitlines()
    # page/1 finished before Ctrl-C and is not written again; page/2 started again.
    assert lines.count("page/1") == 1, lines
    assert lines[: len(pages_before)] == pages_before
    assert lines.count("page/3") == 1, lines


def test_cancelling_a_run_cancels_the_async_step_it_awaits(engine):
    state = {}

    async def slow_call():
        state["started"] = time.monotonic()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            state["cancelled_after"] = time.monotonic() - state["started"]
            raise
        return "never"

    @engine.workflow("slow-call")
    async def wf(ctx, input):
        return {"text": await ctx.step("call", slow_call)}

    engine.launch()
    run = engine.start("slow-call", {})
    deadline = time.monotonic() + 10
    while "started" not in state:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    engine.cancel(run.id)
    done = engine.wait(run.id, timeout=10)
    assert done.status == "cancelled"
    deadline = time.monotonic() + 5
    while "cancelled_after" not in state:
        assert time.monotonic() < deadline, "the step's coroutine was not cancelled"
        time.sleep(0.01)
    assert state["cancelled_after"] < 2
