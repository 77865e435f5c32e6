"""Engine.astart queues the start with the engine's other writes (sl_engine_start_async)
and is awaited until durable, without a thread per call."""

import asyncio
import threading

import pytest
import storyloom


def test_many_astarts_in_flight_share_commits_and_are_durable(engine, tmp_path):
    @engine.workflow("noop")
    def noop(ctx, input):
        return {"n": input["n"]}

    engine.launch()
    seen_threads = set()
    real_to_thread = asyncio.to_thread

    async def no_threads(fn, *a, **k):  # astart must not fall back to a thread per call
        seen_threads.add(getattr(fn, "__name__", repr(fn)))
        return await real_to_thread(fn, *a, **k)

    async def main():
        asyncio.to_thread = no_threads
        try:
            return await asyncio.gather(*(engine.astart("noop", {"n": i}) for i in range(300)))
        finally:
            asyncio.to_thread = real_to_thread

    runs = asyncio.run(main())
    assert seen_threads == set()
    assert len({r.id for r in runs}) == 300
    assert [r.input["n"] for r in runs] == list(range(300))
    assert all(r.workflow == "noop" for r in runs)
    for r in runs:  # durable on return: a second reader sees every run
        assert engine.get(r.id).id == r.id
    done = [engine.wait(r.id, timeout=10) for r in runs[:20]]
    assert all(d.status == "completed" for d in done)


def test_astart_idempotency_key_returns_the_existing_run(engine):
    @engine.workflow("elsewhere")
    def elsewhere(ctx, input):
        return {}

    engine.launch()

    async def main():
        first = await engine.astart("elsewhere", {"a": 1}, idempotency_key="same")
        again = await engine.astart("elsewhere", {"a": 2}, idempotency_key="same")
        return first, again

    first, again = asyncio.run(main())
    assert again.id == first.id
    assert again.input == {"a": 1}


def test_astart_bad_arguments_raise_at_once_naming_them(engine):
    @engine.workflow("w")
    def w(ctx, input):
        return {}

    async def main():
        with pytest.raises(TypeError, match="workflow"):
            await engine.astart(3, {})  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="input is not JSON"):
            await engine.astart("w", {"x": float("nan")})
        with pytest.raises(storyloom.InvalidArgument, match="workflow name"):
            await engine.astart("", {})
        with pytest.raises(storyloom.NotFound, match="nowhere"):
            await engine.astart("nowhere", {})  # refused by the engine, through the callback

    asyncio.run(main())


def test_astart_after_close_raises_closed(tmp_path):
    engine = storyloom.Engine(str(tmp_path / "s.db"))
    engine.close()

    async def main():
        with pytest.raises(storyloom.Closed):
            await engine.astart("w", {})

    asyncio.run(main())


def test_astarts_on_two_loops_in_two_threads_each_get_their_own_runs(engine):
    @engine.workflow("x")
    def x(ctx, input):
        return {}

    engine.launch()
    results = {}

    def in_thread(name):
        async def main():
            return await asyncio.gather(*(engine.astart("x", {"t": name}) for _ in range(50)))

        results[name] = asyncio.run(main())

    threads = [threading.Thread(target=in_thread, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert {r.input["t"] for r in results["a"]} == {"a"}
    assert {r.input["t"] for r in results["b"]} == {"b"}
    assert len({r.id for r in results["a"] + results["b"]}) == 100
