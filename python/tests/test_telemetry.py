"""OpenTelemetry: with opentelemetry-api installed and a tracer provider set, runs and step
attempts become spans, children of the span current at start(), also after a kill -9 and a
resume in another process. Uses the SDK's in-memory exporter."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

import storyloom

HERE = Path(__file__).parent
_exporter = InMemorySpanExporter()


@pytest.fixture(scope="module")
def exporter():
    # One provider for the process (OpenTelemetry allows setting it once).
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(_exporter))
        trace.set_tracer_provider(provider)
    return _exporter


def spans_until(exporter, predicate, what):
    deadline = time.monotonic() + 10
    while True:
        spans = exporter.get_finished_spans()
        if predicate(spans):
            return spans
        assert time.monotonic() < deadline, f"no {what}: {[s.name for s in spans]}"
        time.sleep(0.01)


def test_a_run_and_each_step_attempt_are_spans_under_the_current_span(exporter, engine):
    exporter.clear()
    tries = []

    def call():
        tries.append(1)
        if len(tries) == 1:
            raise ConnectionError("first try fails")
        return "ok"

    @engine.workflow("flaky", retries=storyloom.RetryPolicy(max_attempts=2, initial_backoff=0.001))
    def flaky(ctx, input):
        return ctx.step("call", call)

    engine.launch()
    with trace.get_tracer("test").start_as_current_span("request") as request_span:
        request = request_span.get_span_context()
        run = engine.start("flaky", {})
    flags = int(request.trace_flags)
    assert run.trace_parent == f"00-{request.trace_id:032x}-{request.span_id:016x}-{flags:02x}"
    assert engine.wait(run.id, timeout=10).status == "completed"
    spans = spans_until(
        exporter,
        lambda s: len([x for x in s if x.name == "storyloom.run flaky"]) == 2,
        "two run spans",
    )
    runs = [s for s in spans if s.name == "storyloom.run flaky"]
    steps = [s for s in spans if s.name == "storyloom.step call"]
    # One span per execution: the first ends queued for the retry, the second completed.
    assert sorted(s.attributes["storyloom.run.outcome"] for s in runs) == ["completed", "queued"]
    for s in runs:
        assert s.context.trace_id == request.trace_id
        assert s.parent.span_id == request.span_id
        assert s.attributes["storyloom.run.id"] == run.id
        assert s.attributes["storyloom.workflow"] == "flaky"
    assert len(steps) == 2
    by_attempt = {s.attributes["storyloom.step.attempt"]: s for s in steps}
    assert by_attempt[1].attributes["storyloom.error.class"] == "retryable"
    assert by_attempt[1].attributes["storyloom.step.will_retry"] is True
    assert by_attempt[1].status.status_code == StatusCode.ERROR
    assert "storyloom.error.class" not in by_attempt[2].attributes
    assert by_attempt[2].attributes["storyloom.step.kind"] == "step"
    run_span_ids = {s.context.span_id for s in runs}
    for s in steps:
        assert s.parent.span_id in run_span_ids  # a step is a child of its execution's span
        assert s.context.trace_id == request.trace_id
    # No payloads: the error message is nowhere in the spans.
    assert "first try fails" not in repr([dict(s.attributes) for s in spans])


def test_after_a_kill_the_resumed_run_is_still_a_child_of_the_callers_span(exporter, tmp_path):
    exporter.clear()
    store = f"sqlite:{tmp_path / 'trace.db'}"
    ready = tmp_path / "ready"
    trace_id, span_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    child = subprocess.Popen(
        [sys.executable, str(HERE / "trace_crash_worker.py"), store, f"00-{trace_id}-{span_id}-01",
         str(ready)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        run_id = child.stdout.readline().strip()
        deadline = time.monotonic() + 30
        while not ready.exists():
            assert child.poll() is None, "the worker process died on its own"
            assert time.monotonic() < deadline, "the second step never started"
            time.sleep(0.02)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        child.stdout.close()

    with storyloom.Engine(store, poll_interval=0.01) as engine:

        @engine.workflow("traced")
        def traced(ctx, input):
            ctx.step("first", lambda: 1)
            return ctx.step("second", lambda: 2)

        engine.launch()
        assert engine.wait(run_id, timeout=30).status == "completed"
        spans = spans_until(
            exporter, lambda s: any(x.name == "storyloom.run traced" for x in s), "run span"
        )
    run = next(s for s in spans if s.name == "storyloom.run traced")
    assert run.context.trace_id == int(trace_id, 16)
    assert run.parent.span_id == int(span_id, 16)
    second = next(s for s in spans if s.name == "storyloom.step second")
    assert second.parent.span_id == run.context.span_id
    assert not any(s.name == "storyloom.step first" for s in spans)  # memoized: no attempt


def test_telemetry_false_makes_no_spans_and_a_bad_trace_parent_is_refused(exporter, db):
    exporter.clear()
    with storyloom.Engine(db, poll_interval=0.01, telemetry=False) as engine:

        @engine.workflow("quiet")
        def quiet(ctx, input):
            return ctx.step("s", lambda: 1)

        engine.launch()
        with trace.get_tracer("test").start_as_current_span("request"):
            run = engine.start("quiet", {})
        assert run.trace_parent == ""  # nothing taken from the current span either
        assert engine.wait(run.id, timeout=10).status == "completed"
        time.sleep(0.05)
        assert [s.name for s in exporter.get_finished_spans()] == ["request"]
        with pytest.raises(storyloom.InvalidArgument) as bad:
            engine.start("quiet", {}, trace_parent="nope")
        assert str(bad.value) == (
            "trace_parent 'nope' is not a W3C traceparent (00-<32 hex>-<16 hex>-<2 hex>)"
        )
    with pytest.raises(TypeError, match="Engine: telemetry must be a bool, got str"):
        storyloom.Engine(db, telemetry="yes")


def test_an_llm_attempt_span_carries_the_model_and_its_tokens(exporter, db, fake_llm, tag):
    exporter.clear()
    llm = {
        "use_environment": False,
        "default_provider": "fake",
        "providers": [fake_llm.provider("fake", f"normal~{tag};words=12")],
    }
    with storyloom.Engine(db, poll_interval=0.01, llm=llm) as engine:

        @engine.workflow("told")
        def told(ctx, input):
            usage = ctx.llm("story", "Tell me a story").usage
            return [usage.input_tokens, usage.output_tokens, usage.total_tokens]

        engine.launch()
        run = engine.wait(engine.start("told", {}).id, timeout=20)
        assert run.status == "completed", run
    spans = spans_until(
        exporter, lambda s: any(x.name == "storyloom.step story" for x in s), "llm span"
    )
    step = next(s for s in spans if s.name == "storyloom.step story")
    assert step.attributes["storyloom.step.kind"] == "llm"
    assert step.attributes["storyloom.llm.model"] == "fake-model"
    got = [step.attributes[f"storyloom.llm.{k}_tokens"] for k in ("input", "output", "total")]
    assert got == run.output and run.output[1] == 12
