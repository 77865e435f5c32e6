"""events(): stored-then-live events ending at the run's end; sse(): the wire format."""

import threading

import pytest

import storyloom


def _gated(engine):
    gate = threading.Event()

    @engine.workflow("gated")
    def gated(ctx, input):
        ctx.step("one", lambda: 1)
        gate.wait(10)
        ctx.step("two", lambda: 2)
        ctx.progress({"done": True})
        return {"ok": True}

    return gate


def test_events_iterator_equals_the_stored_events(engine):
    gate = _gated(engine)
    engine.launch()
    run = engine.start("gated", {})
    seen = []
    for event in engine.events(run.id, timeout=10):
        seen.append(event)
        if event.type == "step.completed" and event.data["name"] == "one":
            gate.set()  # the rest arrives live
    assert all(isinstance(e, storyloom.Event) for e in seen)
    assert seen[-1].type == "run.completed" and seen[-1].ends_run
    stored = engine.stored_events(run.id)
    assert [e for e in seen if e.kind == "stored"] == stored
    ids = [e.id for e in stored]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


def test_events_after_an_id_resume_there(engine):
    gate = _gated(engine)
    gate.set()
    engine.launch()
    run = engine.wait(engine.start("gated", {}).id, timeout=10)
    stored = engine.stored_events(run.id)
    middle = stored[2].id
    assert list(engine.events(run.id, after=middle, timeout=10)) == stored[3:]


def test_events_after_the_last_event_of_a_finished_run_end(engine):
    gate = _gated(engine)
    gate.set()
    engine.launch()
    run = engine.wait(engine.start("gated", {}).id, timeout=10)
    last = engine.snapshot(run.id).last_event_id
    assert list(engine.events(run.id, after=last, timeout=10)) == []


def test_events_of_an_unknown_run_raise_not_found(engine):
    with pytest.raises(storyloom.NotFound, match="no run with id 'x'"):
        next(engine.events("x"))


def test_events_time_out_while_the_run_waits(engine):
    engine.register("waits", lambda ctx, input: ctx.wait_for_signal("never"))
    engine.launch()
    run = engine.start("waits", {})
    with pytest.raises(storyloom.Timeout, match=run.id):
        for _ in engine.events(run.id, timeout=0.3):
            pass


def test_chunks_arrive_live_as_transient_events(engine):
    @engine.workflow("streamer")
    def streamer(ctx, input):
        ctx.chunk("page/1", "Once ")
        ctx.chunk("page/1", "upon")
        return {}

    engine.launch()
    run = engine.start("streamer", {})
    events = list(engine.events(run.id, timeout=10))
    live = "".join(e.data["text"] for e in events if e.type == "chunk" and e.kind != "cursor")
    assert "Once upon" in live or live == ""  # live text, or stored if subscribed late
    stored = "".join(e.data["text"] for e in engine.stored_events(run.id) if e.type == "chunk")
    assert stored == "Once upon"


def test_sse_bytes_format(engine):
    gate = _gated(engine)
    gate.set()
    engine.launch()
    run = engine.wait(engine.start("gated", {}).id, timeout=10)
    stored = engine.stored_events(run.id)
    frames = list(storyloom.sse(engine, run.id))
    assert len(frames) == len(stored)
    assert all(isinstance(f, bytes) and f.endswith(b"\n\n") for f in frames)
    first = stored[0]
    assert frames[0].startswith(f"id: {first.id}\nevent: run.created\ndata: ".encode())
    assert (
        frames[-1]
        == (
            f'id: {stored[-1].id}\nevent: run.completed\ndata: {{"output":{{"ok":true}}}}\n\n'
        ).encode()
    )
    # Last-Event-ID as the header string resumes after it.
    resumed = list(storyloom.sse(engine, run.id, last_event_id=str(stored[2].id)))
    assert resumed == frames[3:]


def test_sse_retry_and_heartbeat(engine):
    engine.register("waits", lambda ctx, input: ctx.wait_for_signal("go"))
    engine.launch()
    run = engine.start("waits", {})
    stream = storyloom.sse(engine, run.id, retry=3, heartbeat=0.2)
    assert next(stream) == b"retry: 3000\n\n"
    frames = []
    for frame in stream:
        frames.append(frame)
        if frame == b": heartbeat\n\n":
            break
    engine.signal(run.id, "go", {})
    rest = list(stream)
    assert rest[-1].startswith(b"id: ") and b"event: run.completed\n" in rest[-1]


def test_event_to_sse_of_a_cursor_is_id_only():
    ev = storyloom.Event(42, "cursor", "r", "chunk", None, 0, "null")
    assert storyloom.event_to_sse(ev) == b"id: 42\n\n"


def test_events_of_a_retried_run_end_at_its_last_end(engine):
    attempts = []

    @engine.workflow("second-time")
    def second_time(ctx, input):
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("first attempt")
        return {"attempts": len(attempts)}

    engine.launch()
    run = engine.wait(engine.start("second-time", {}).id, timeout=10)
    assert run.status == "failed"
    engine.retry(run.id)
    types = [e.type for e in engine.events(run.id, timeout=10)]
    assert types.count("run.failed") == 1 and types[-1] == "run.completed", types
    assert engine.get(run.id).output == {"attempts": 2}
