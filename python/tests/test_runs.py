"""Engine methods on runs: start, get, list, cancel, retry, delete; typed results; errors
with their messages."""

import threading

import pytest

import storyloom
from storyloom_test_support import wait_status


def test_version_matches_the_c_abi():
    assert storyloom.__version__ == "0.1.0"


def test_start_returns_a_typed_run(engine):
    @engine.workflow("echo")
    def echo(ctx, input):
        return {"echo": input}

    engine.launch()
    run = engine.start("echo", {"topic": "owls"}, owner="user-7", priority=3)
    assert isinstance(run, storyloom.Run)
    assert run.workflow == "echo"
    assert run.input == {"topic": "owls"}
    assert run.owner == "user-7"
    assert run.priority == 3
    assert run.status in ("queued", "running", "completed")
    done = engine.wait(run.id, timeout=10)
    assert done.status == "completed"
    assert done.output == {"echo": {"topic": "owls"}}
    assert done.finished and done.finished_at_ms > 0
    assert engine.get(run.id) == done


def test_idempotency_key_returns_the_existing_run(engine):
    engine.register("noop", lambda ctx, input: {})
    engine.launch()
    a = engine.start("noop", {"n": 1}, idempotency_key="k-1")
    b = engine.start("noop", {"n": 2}, idempotency_key="k-1")
    assert a.id == b.id
    assert b.idempotency_key == "k-1"


def test_list_filters_and_pages(engine):
    engine.register("a", lambda ctx, input: {})
    engine.register("b", lambda ctx, input: {})
    engine.launch()
    ids = [engine.start("a", {"i": i}, owner="alice").id for i in range(3)]
    other = engine.start("b", {}, owner="bob").id
    for i in ids + [other]:
        engine.wait(i, timeout=10)
    assert [r.id for r in engine.list(workflow="a").runs] == ids
    assert [r.id for r in engine.list(owner="bob").runs] == [other]
    assert len(engine.list(status="completed").runs) == 4
    assert engine.list(status="failed").runs == []
    page = engine.list(workflow="a", limit=2)
    assert [r.id for r in page.runs] == ids[:2] and page.next_cursor
    rest = engine.list(workflow="a", limit=2, after=page.next_cursor)
    assert [r.id for r in rest.runs] == ids[2:] and rest.next_cursor == ""


def test_list_rejects_a_bad_status_and_limit(engine):
    with pytest.raises(storyloom.InvalidArgument, match="bogus"):
        engine.list(status="bogus")
    with pytest.raises(storyloom.InvalidArgument, match="limit"):
        engine.list(limit=5000)


def test_unknown_run_is_not_found_with_its_id(engine):
    with pytest.raises(storyloom.NotFound) as e:
        engine.get("x")
    assert "no run with id 'x'" in str(e.value)
    assert e.value.code == 2 and e.value.message == str(e.value)
    for call in (engine.cancel, engine.retry, engine.snapshot, engine.artifacts, engine.delete):
        with pytest.raises(storyloom.NotFound, match="no run with id 'x'"):
            call("x")
    with pytest.raises(storyloom.NotFound, match="no run with id 'x'"):
        engine.signal("x", "approve", {})


def test_non_object_input_is_invalid(engine):
    engine.register("noop", lambda ctx, input: {})
    with pytest.raises(storyloom.InvalidArgument) as e:
        engine.launch()
        engine.start("noop", [1, 2])
    assert str(e.value) == "run input must be a JSON object, not an array"
    assert isinstance(e.value, ValueError)


def test_unknown_workflow_is_not_found(engine):
    with pytest.raises(storyloom.NotFound, match="nope"):
        engine.launch()
        engine.start("nope", {})


def test_cancelling_a_finished_run_is_an_invalid_state(engine):
    engine.register("noop", lambda ctx, input: {})
    engine.launch()
    run = engine.wait(engine.start("noop", {}).id, timeout=10)
    with pytest.raises(storyloom.InvalidState) as e:
        engine.cancel(run.id)
    assert str(e.value) == f"run '{run.id}' is already completed; it cannot be cancelled"


def test_cancel_a_waiting_run(engine):
    @engine.workflow("waits")
    def waits(ctx, input):
        return ctx.wait_for_signal("approve")

    engine.launch()
    run = engine.start("waits", {})
    wait_status(engine, run.id, "waiting")
    engine.cancel(run.id)
    assert engine.wait(run.id, timeout=10).status == "cancelled"


def test_running_workflow_sees_cancelled(engine):
    started = threading.Event()
    saw = threading.Event()

    @engine.workflow("loop")
    def loop(ctx, input):
        started.set()
        while not ctx.cancelled:
            threading.Event().wait(0.01)
        saw.set()
        return {}

    engine.launch()
    run = engine.start("loop", {})
    assert started.wait(10)
    engine.cancel(run.id)
    assert engine.wait(run.id, timeout=10).status == "cancelled"
    assert saw.wait(10)


def test_retry_runs_only_the_failed_and_later_steps(engine):
    calls = {"a": 0, "b": 0}

    @engine.workflow("flaky")
    def flaky(ctx, input):
        def a():
            calls["a"] += 1
            return 1

        def b():
            calls["b"] += 1
            if calls["b"] == 1:
                raise ConnectionError("provider down")
            return 2

        return {"sum": ctx.step("a", a) + ctx.step("b", b)}

    engine.launch()
    run = engine.wait(engine.start("flaky", {}).id, timeout=10)
    assert run.status == "failed"
    assert run.error["message"] == "ConnectionError: provider down"
    assert run.error["step"] == "b"
    assert engine.list(status="failed").runs[0].id == run.id
    engine.retry(run.id)
    run = engine.wait(run.id, timeout=10)
    assert run.status == "completed" and run.output == {"sum": 3}
    assert calls == {"a": 1, "b": 2}


def test_retrying_a_run_that_did_not_fail_is_an_invalid_state(engine):
    engine.register("noop", lambda ctx, input: {})
    engine.launch()
    run = engine.wait(engine.start("noop", {}).id, timeout=10)
    with pytest.raises(storyloom.InvalidState, match=run.id):
        engine.retry(run.id)


def test_delete_a_finished_run(engine):
    engine.register("noop", lambda ctx, input: {})
    engine.launch()
    run = engine.wait(engine.start("noop", {}).id, timeout=10)
    engine.delete(run.id)
    with pytest.raises(storyloom.NotFound):
        engine.get(run.id)


def test_payload_over_the_limit_is_too_large(db):
    with storyloom.Engine(db, max_payload_bytes=1024) as engine:
        engine.register("noop", lambda ctx, input: {})
        with pytest.raises(storyloom.PayloadTooLarge) as e:
            engine.launch()
            engine.start("noop", {"text": "x" * 2000})
        assert "1024" in str(e.value)
    with pytest.raises(storyloom.InvalidArgument, match="max_payload_bytes"):
        storyloom.Engine(db, max_payload_bytes=64)


def test_closed_engine_raises_closed(db):
    engine = storyloom.Engine(db)
    engine.close()
    engine.close()  # idempotent
    assert engine.closed
    with pytest.raises(storyloom.Closed, match="closed"):
        engine.get("x")


def test_not_a_database(tmp_path):
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite at all, just some bytes" * 100)
    with pytest.raises(storyloom.StoryloomError) as e:
        storyloom.Engine(f"sqlite:{path}")
    assert isinstance(e.value, (storyloom.NotADatabase, storyloom.StoreError))
    assert str(e.value)


def test_error_classes_follow_the_c_codes():
    expected = {
        storyloom.InvalidArgument: 1,
        storyloom.NotFound: 2,
        storyloom.InvalidState: 3,
        storyloom.PayloadTooLarge: 4,
        storyloom.StoreError: 5,
        storyloom.NotADatabase: 6,
        storyloom.SchemaTooNew: 7,
        storyloom.Nondeterminism: 8,
        storyloom.Cancelled: 9,
        storyloom.StepFailed: 10,
        storyloom.Closed: 11,
        storyloom.Timeout: 12,
        storyloom.InternalError: 13,
    }
    for cls, code in expected.items():
        assert issubclass(cls, storyloom.StoryloomError) and cls.code == code
        err = cls(code, "message intact")
        assert str(err) == "message intact" and err.message == "message intact"


def test_close_while_other_threads_call_the_engine(db):
    engine = storyloom.Engine(db, poll_interval=0.01)
    engine.register("noop", lambda ctx, input: {})
    outcomes = []

    def hammer():
        while True:
            try:
                engine.start("noop", {})
                engine.list(limit=1)
            except storyloom.Closed:
                outcomes.append("closed")
                return

    threads = [threading.Thread(target=hammer) for _ in range(3)]
    for t in threads:
        t.start()
    threading.Event().wait(0.1)
    engine.close()
    for t in threads:
        t.join(10)
    assert outcomes == ["closed"] * 3


def test_signal_with_a_bad_name_is_invalid(engine):
    engine.register("waits", lambda ctx, input: ctx.wait_for_signal("go"))
    engine.launch()
    run = engine.start("waits", {})
    with pytest.raises(storyloom.InvalidArgument) as e:
        engine.signal(run.id, "", {})
    assert "name" in str(e.value)
    engine.cancel(run.id)
