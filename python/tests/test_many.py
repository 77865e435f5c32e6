"""start_many and signal_many: many runs started or signalled in one commit, each checked
alone (a refused item is returned as its error, the others go on)."""

import asyncio

import pytest
import storyloom


def test_start_many_starts_each_and_returns_refusals_in_order(engine):
    engine.register("w", lambda ctx, input: {"n": input["n"]})
    engine.launch()
    first = engine.start("w", {"n": 0}, idempotency_key="k0")
    got = engine.start_many(
        [
            {"workflow": "w", "input": {"n": 1}, "owner": "alice", "priority": 2},
            {"workflow": "w", "input": {"n": 0}, "idempotency_key": "k0"},
            {"workflow": "w", "input": {"n": 3}, "idempotency_key": None},
            {"workflow": "", "input": {}},
        ]
    )
    assert len(got) == 4
    assert isinstance(got[0], storyloom.Run) and got[0].owner == "alice"
    assert got[1].id == first.id  # the idempotency key was seen
    assert isinstance(got[2], storyloom.Run)
    assert isinstance(got[3], storyloom.InvalidArgument), got[3]
    assert got[3].message
    outs = [engine.wait(r.id, timeout=10).output for r in got[:3]]
    assert outs == [{"n": 1}, {"n": 0}, {"n": 3}]


def test_signal_many_delivers_each_and_returns_refusals(engine):
    engine.register("wait", lambda ctx, input: {"got": ctx.wait_for_signal("go")})
    engine.launch()
    a, b = engine.start("wait", {}), engine.start("wait", {})
    got = engine.signal_many(
        [
            {"run_id": a.id, "name": "go", "payload": {"to": "a"}},
            {"run_id": "missing-run", "name": "go"},
            {"run_id": b.id, "name": "go"},
        ]
    )
    assert got[0] is None and got[2] is None
    assert isinstance(got[1], storyloom.NotFound) and "missing-run" in got[1].message
    assert engine.wait(a.id, timeout=10).output == {"got": {"to": "a"}}
    assert engine.wait(b.id, timeout=10).output == {"got": {}}


def test_many_calls_refuse_what_is_not_a_list_of_dicts(engine):
    with pytest.raises(TypeError, match="requests must be a list of dicts"):
        engine.start_many({"workflow": "w"})
    with pytest.raises(TypeError, match=r"signals\[1\] must be a dict"):
        engine.signal_many([{"run_id": "x", "name": "n"}, "go"])
    with pytest.raises(storyloom.InvalidArgument, match="priority"):
        engine.start_many([{"workflow": "w", "priority": "high"}])


def test_start_many_and_signal_many_are_awaitable(engine):
    engine.register("wait", lambda ctx, input: {"got": ctx.wait_for_signal("go")})
    engine.launch()

    async def main():
        (run,) = await engine.astart_many([{"workflow": "wait"}])
        assert await engine.asignal_many([{"run_id": run.id, "name": "go", "payload": 1}]) == [
            None
        ]
        return await engine.await_run(run.id, timeout=10)

    assert asyncio.run(main()).output == {"got": 1}
