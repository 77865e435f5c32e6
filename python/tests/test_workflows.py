"""The workflow context: memoized steps, durable sleep, signals, child runs, outside
effects, parking, step failures, async workflows."""

import threading
import time

import pytest

import storyloom
from storyloom_test_support import wait_status


def test_steps_are_memoized_across_a_sleep(engine):
    calls = []

    @engine.workflow("story")
    def story(ctx, input):
        outline = ctx.step("outline", lambda: calls.append("outline") or ["p1", "p2"])
        ctx.sleep("nap", 0.05)
        page = ctx.step("page/1", lambda: calls.append("page") or f"{outline[0]} text")
        return {"outline": outline, "page": page}

    engine.launch()
    run = engine.wait(engine.start("story", {}).id, timeout=10)
    assert run.status == "completed", run
    assert run.output == {"outline": ["p1", "p2"], "page": "p1 text"}
    assert calls == ["outline", "page"]  # the second execution replayed "outline"
    types = [e.type for e in engine.stored_events(run.id)]
    assert types.count("run.started") == 2
    assert "run.sleeping" in types


def test_parking_passes_through_except_exception(engine):
    @engine.workflow("careless")
    def careless(ctx, input):
        try:
            ctx.sleep("nap", 0.05)
        except Exception:  # noqa: BLE001 - the point of the test
            return {"caught": True}
        return {"caught": False}

    engine.launch()
    run = engine.wait(engine.start("careless", {}).id, timeout=10)
    assert run.output == {"caught": False}


def test_a_failing_step_fails_the_run_with_type_and_message(engine):
    seen = []

    @engine.workflow("broken")
    def broken(ctx, input):
        try:
            ctx.step("page/1", lambda: 1 / 0)
        except ZeroDivisionError as e:  # re-raised to the workflow
            seen.append(type(e))
            raise

    engine.launch()
    run = engine.wait(engine.start("broken", {}).id, timeout=10)
    assert run.status == "failed"
    assert run.error["message"] == "ZeroDivisionError: division by zero"
    assert run.error["code"] == "step_failed"
    assert run.error["step"] == "page/1"
    assert seen == [ZeroDivisionError]


def test_a_workflow_exception_outside_steps_fails_the_run(engine):
    @engine.workflow("raises")
    def raises(ctx, input):
        raise KeyError("topic")

    engine.launch()
    run = engine.wait(engine.start("raises", {}).id, timeout=10)
    assert run.status == "failed"
    assert run.error["message"] == "KeyError: 'topic'"


def test_output_that_is_not_json_fails_the_run(engine):
    engine.register("bad", lambda ctx, input: {"when": object()})
    engine.launch()
    run = engine.wait(engine.start("bad", {}).id, timeout=10)
    assert run.status == "failed"
    assert "not JSON serializable" in run.error["message"]


def test_signal_sent_before_the_wait_is_kept(engine):
    gate = threading.Event()

    @engine.workflow("approve")
    def approve(ctx, input):
        ctx.step("gate", lambda: gate.wait(10))
        return {"approval": ctx.wait_for_signal("approve")}

    engine.launch()
    run = engine.start("approve", {})
    engine.signal(run.id, "approve", {"ok": True})
    gate.set()
    done = engine.wait(run.id, timeout=10)
    assert done.output == {"approval": {"ok": True}}
    assert "run.waiting" not in [e.type for e in engine.stored_events(run.id)]


def test_wait_for_signal_parks_until_the_signal(engine):
    @engine.workflow("approve")
    def approve(ctx, input):
        return {"approval": ctx.wait_for_signal("approve")}

    engine.launch()
    run = engine.start("approve", {})
    wait_status(engine, run.id, "waiting")
    engine.signal(run.id, "approve", {"by": "editor"})
    assert engine.wait(run.id, timeout=10).output == {"approval": {"by": "editor"}}


def test_wait_for_signal_times_out(engine):
    @engine.workflow("impatient")
    def impatient(ctx, input):
        try:
            ctx.wait_for_signal("approve", timeout=0.05)
        except storyloom.Timeout as e:
            return {"timed_out": str(e)}
        return {"timed_out": None}

    engine.launch()
    run = engine.wait(engine.start("impatient", {}).id, timeout=10)
    assert run.output == {"timed_out": "no signal 'approve' came within 0.05 s"}


def test_signal_to_a_finished_run_is_an_invalid_state(engine):
    engine.register("noop", lambda ctx, input: {})
    engine.launch()
    run = engine.wait(engine.start("noop", {}).id, timeout=10)
    with pytest.raises(storyloom.InvalidState, match=run.id):
        engine.signal(run.id, "approve", {})


def test_invoke_runs_a_child_and_returns_its_output(engine):
    @engine.workflow("page")
    def page(ctx, input):
        return {"text": ctx.step("write", lambda: f"page {input['n']}")}

    @engine.workflow("book")
    def book(ctx, input):
        first = ctx.invoke("page-1", "page", {"n": 1})
        second = ctx.invoke("page-2", "page", {"n": 2})
        return {"pages": [first["text"], second["text"]]}

    engine.launch()
    run = engine.wait(engine.start("book", {}).id, timeout=10)
    assert run.status == "completed", run
    assert run.output == {"pages": ["page 1", "page 2"]}
    children = engine.list(workflow="page").runs
    assert len(children) == 2 and all(c.parent_id == run.id for c in children)


def test_invoke_of_a_failing_child_raises_step_failed(engine):
    @engine.workflow("child")
    def child(ctx, input):
        raise RuntimeError("no ink")

    @engine.workflow("parent")
    def parent(ctx, input):
        try:
            ctx.invoke("c", "child", {})
        except storyloom.StepFailed as e:
            return {"error": str(e)}
        return {"error": None}

    engine.launch()
    run = engine.wait(engine.start("parent", {}).id, timeout=10)
    assert run.status == "completed", run
    assert "no ink" in run.output["error"]


def test_invoke_of_an_unknown_workflow_raises_not_found(engine):
    @engine.workflow("parent")
    def parent(ctx, input):
        try:
            ctx.invoke("c", "missing", {})
        except storyloom.NotFound as e:
            return {"error": str(e)}

    engine.launch()
    run = engine.wait(engine.start("parent", {}).id, timeout=10)
    assert "missing" in run.output["error"]


def test_progress_artifacts_emit_and_chunks(engine):
    @engine.workflow("writer")
    def writer(ctx, input):
        ctx.progress({"pages": 0})
        ctx.chunk("page/1", "Once upon ")
        ctx.chunk("page/1", "a time")
        ctx.artifact("page/1", {"text": "draft"})
        ctx.artifact("page/1", {"text": "final"})
        ctx.emit("page.ready", {"page": 1})
        ctx.progress({"pages": 1})
        return {}

    engine.launch()
    run = engine.wait(engine.start("writer", {}).id, timeout=10)
    assert run.progress == {"pages": 1}
    snap = engine.snapshot(run.id)
    assert isinstance(snap, storyloom.Snapshot)
    assert snap.run.id == run.id and snap.last_event_id > 0
    assert [(a.key, a.version, a.value) for a in snap.artifacts] == [
        ("page/1", 2, {"text": "final"})
    ]
    assert [(a.key, a.version, a.value) for a in engine.artifacts(run.id)] == [
        ("page/1", 1, {"text": "draft"}),
        ("page/1", 2, {"text": "final"}),
    ]
    events = engine.stored_events(run.id)
    types = [e.type for e in events]
    assert "progress" in types and "artifact" in types and "page.ready" in types
    text = "".join(e.data["text"] for e in events if e.type == "chunk")
    assert text == "Once upon a time"
    assert events[-1].id == snap.last_event_id


def test_reserved_event_type_is_invalid(engine):
    @engine.workflow("emitter")
    def emitter(ctx, input):
        try:
            ctx.emit("run.completed", {})
        except storyloom.InvalidArgument as e:
            return {"error": str(e)}

    engine.launch()
    run = engine.wait(engine.start("emitter", {}).id, timeout=10)
    assert "run.completed" in run.output["error"]


def test_replaying_steps_in_another_order_is_nondeterminism(engine):
    executions = []

    @engine.workflow("fickle")
    def fickle(ctx, input):
        executions.append(1)
        ctx.step("first" if len(executions) == 1 else "other", lambda: 1)
        ctx.sleep("nap", 0.02)
        return {}

    engine.launch()
    run = engine.wait(engine.start("fickle", {}).id, timeout=10)
    assert run.status == "failed"
    assert "first" in run.error["message"] and "other" in run.error["message"]


def test_async_workflow(engine):
    @engine.workflow("async")
    async def story(ctx, input):
        a = await ctx.step("a", lambda: 1)
        await ctx.sleep("nap", 0.02)
        return {"a": a}

    engine.launch()
    run = engine.wait(engine.start("async", {}).id, timeout=10)
    assert run.status == "completed", run
    assert run.output == {"a": 1}


def test_workflows_run_on_engine_threads_while_python_threads_go_on(engine):
    threads = []
    ticks = []
    stop = threading.Event()

    def ticker():
        while not stop.is_set():
            ticks.append(1)
            time.sleep(0.005)

    @engine.workflow("where")
    def where(ctx, input):
        threads.append(threading.get_ident())
        ctx.step("slow", lambda: time.sleep(0.2))
        return {}

    t = threading.Thread(target=ticker)
    t.start()
    try:
        engine.launch()
        engine.wait(engine.start("where", {}).id, timeout=10)
    finally:
        stop.set()
        t.join()
    assert threads and threads[0] != threading.get_ident()
    assert len(ticks) > 5


def test_async_step_function_in_a_plain_workflow_runs_on_the_engines_loop(engine):
    where = []

    async def fetch():
        import asyncio

        where.append(threading.current_thread().name)
        await asyncio.sleep(0.01)
        return "fetched"

    @engine.workflow("sync-async-step")
    def story(ctx, input):
        return {"page": ctx.step("fetch", fetch)}

    engine.launch()
    run = engine.wait(engine.start("sync-async-step", {}).id, timeout=10)
    assert run.output == {"page": "fetched"}
    assert where == ["storyloom-asyncio"]


def test_duplicate_workflow_name_is_invalid(engine):
    engine.register("twice", lambda ctx, input: {})
    with pytest.raises(storyloom.InvalidArgument, match="twice"):
        engine.register("twice", lambda ctx, input: {})



def test_async_step_function_inside_an_async_workflow(engine):
    async def fetch():
        import asyncio

        await asyncio.sleep(0.01)
        return "fetched"

    @engine.workflow("async-steps")
    async def story(ctx, input):
        return {"page": await ctx.step("fetch", fetch)}

    engine.launch()
    run = engine.wait(engine.start("async-steps", {}).id, timeout=10)
    assert run.status == "completed", run
    assert run.output == {"page": "fetched"}


def test_closing_the_engine_from_inside_a_workflow_is_refused(engine):
    @engine.workflow("closer")
    def closer(ctx, input):
        try:
            ctx.engine.close()
        except RuntimeError as e:
            return {"error": str(e)}

    engine.launch()
    run = engine.wait(engine.start("closer", {}).id, timeout=10)
    assert run.output == {
        "error": "Engine.close() cannot be called from inside a workflow function"
    }
    assert not engine.closed


def test_context_knows_its_run(engine):
    @engine.workflow("who")
    def who(ctx, input):
        return {"run_id": ctx.run_id, "workflow": ctx.workflow}

    engine.launch()
    run = engine.start("who", {}, "key-who", "owner-1", 5)
    assert engine.wait(run.id, timeout=10).output == {"run_id": run.id, "workflow": "who"}


def test_an_open_engine_reruns_queued_work_after_close(db):
    gate = threading.Event()
    with storyloom.Engine(db, poll_interval=0.01, drain_timeout=0.2) as engine:
        engine.register("slow", lambda ctx, input: ctx.step("wait", lambda: gate.wait(0.5)) and {})
        engine.launch()
        run = engine.start("slow", {})
        wait_status(engine, run.id, "running")
    gate.set()
    with storyloom.Engine(db, poll_interval=0.01) as engine:
        engine.register("slow", lambda ctx, input: {"done": ctx.step("wait", lambda: True)})
        engine.launch()
        done = engine.wait(run.id, timeout=10)
        assert done.status == "completed", done


def test_a_step_result_that_is_not_json_fails_the_step(engine):
    @engine.workflow("bad-step")
    def bad_step(ctx, input):
        ctx.step("when", lambda: {1, 2})

    engine.launch()
    run = engine.wait(engine.start("bad-step", {}).id, timeout=10)
    assert run.status == "failed"
    assert run.error["step"] == "when"
    assert run.error["message"] == (
        "TypeError: the result of step 'when' is not JSON: Object of type set is not JSON "
        "serializable"
    )


def test_a_step_returns_what_its_replay_returns(engine):
    firsts = []

    @engine.workflow("shapes")
    def shapes(ctx, input):
        got = [
            ctx.step("tuple", lambda: (1, 2)),
            ctx.step("int-keys", lambda: {1: "a"}),
            ctx.step("flat", lambda: {"a": 1, "b": None}),
            ctx.step("text", lambda: "page"),
        ]
        if not firsts:
            firsts.append(got)
            ctx.sleep("replay", 0.01)
        return {"first": firsts[0], "replayed": got}

    engine.launch()
    run = engine.wait(engine.start("shapes", {}).id, timeout=10)
    expected = [[1, 2], {"1": "a"}, {"a": 1, "b": None}, "page"]
    assert run.output == {"first": expected, "replayed": expected}
    assert firsts[0] == expected  # in process, before any JSON round trip of the output


def test_a_caught_step_failure_lets_a_compensating_step_complete_the_run(engine):
    calls = []

    def charge():
        calls.append("charge")
        raise RuntimeError("card declined")

    @engine.workflow("trip")
    def trip(ctx, input):
        ctx.step("book", lambda: calls.append("book") or "booked")
        try:
            ctx.step("charge", charge)
        except Exception as e:  # noqa: BLE001 - a replay raises it as StepFailed
            refund = ctx.step("refund", lambda: calls.append("refund") or "refunded")
            ctx.sleep("settle", 0.05)  # parks: the next execution replays the failure
            return {"outcome": refund, "because": str(e)}
        return {"outcome": "charged"}

    engine.launch()
    run = engine.wait(engine.start("trip", {}).id, timeout=10)
    assert run.status == "completed", run
    assert run.output["outcome"] == "refunded"
    assert "card declined" in run.output["because"]
    assert calls == ["book", "charge", "refund"]  # the failure and the refund are replayed
    steps = {s.name: s.status for s in engine.snapshot(run.id).steps}
    assert steps["charge"] == "failed" and steps["refund"] == "completed"
