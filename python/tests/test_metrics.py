"""OpenTelemetry metrics: with opentelemetry-api installed and a meter provider set, real
runs are counted by workflow, step attempts timed by kind and outcome, llm tokens counted
by model, 429s counted as rate-limit pauses and the queue observed, under the names the
README documents. Read with the SDK's in-memory metric reader."""

import dataclasses
import time

import pytest
from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

import storyloom

PROMPT = "Tell me a story about a lighthouse"
FAST = storyloom.RetryPolicy(max_attempts=3, initial_backoff=0.01, jitter=False)
_reader = InMemoryMetricReader()


@pytest.fixture(scope="module")
def reader():
    # One provider for the process (OpenTelemetry allows setting it once).
    if not isinstance(metrics.get_meter_provider(), MeterProvider):
        metrics.set_meter_provider(MeterProvider(metric_readers=[_reader]))
    return _reader


def points(reader, name):
    """Every data point of the metric `name` in a new collection."""
    data = reader.get_metrics_data()
    out = []
    for rm in data.resource_metrics if data else []:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                if m.name == name:
                    out.extend(m.data.data_points)
    return out


def point_at(reader, name, **attrs):
    """The point of `name` whose attributes include `attrs` (dots for underscores), or None."""
    want = {k.replace("__", "."): v for k, v in attrs.items()}
    for p in points(reader, name):
        if all(p.attributes.get(k) == v for k, v in want.items()):
            return p
    return None


def eventually(reader, name, ok, **attrs):
    deadline = time.monotonic() + 10
    while True:
        p = point_at(reader, name, **attrs)
        if p is not None and ok(p):
            return p
        assert time.monotonic() < deadline, f"{name} {attrs}: {p}"
        time.sleep(0.02)


def _llm_engine(db, provider):
    llm = {"use_environment": False, "default_provider": provider["name"], "providers": [provider]}
    return storyloom.Engine(db, workers=2, poll_interval=0.01, llm=llm)


def test_runs_are_counted_by_workflow_and_attempts_timed_by_kind_and_outcome(reader, engine):
    tries = []

    def call():
        tries.append(1)
        if len(tries) == 1:
            raise ConnectionError("first try fails")
        return "ok"

    twice = storyloom.RetryPolicy(max_attempts=2, initial_backoff=0.001)

    @engine.workflow("py-flaky", retries=twice)
    def flaky(ctx, input):
        return ctx.step("call", call)

    @engine.workflow("py-broken")
    def broken(ctx, input):
        return ctx.step("boom", lambda: 1 / 0)

    engine.launch()
    ok = engine.wait(engine.start("py-flaky", {}).id, timeout=20)
    bad = engine.wait(engine.start("py-broken", {}).id, timeout=20)
    assert ok.status == "completed" and bad.status == "failed"

    w = {"storyloom__workflow": "py-flaky"}
    # Reports reach the metrics on the reporter thread, after wait() returned: wait for
    # each run's last one; what a run reported before it has been recorded by then.
    eventually(reader, "storyloom.runs.completed", lambda p: p.value == 1, **w)
    failed = eventually(
        reader, "storyloom.runs.failed", lambda p: p.value == 1, storyloom__workflow="py-broken"
    )
    # Two executions (the retry's backoff parks the run), one run started.
    assert point_at(reader, "storyloom.runs.started", **w).value == 1
    assert point_at(reader, "storyloom.runs.started", storyloom__workflow="py-broken").value == 1
    assert failed.attributes["storyloom.error.class"] in ("fatal", "retryable")
    assert point_at(reader, "storyloom.runs.failed", **w) is None

    def attempts(workflow, outcome):
        p = point_at(
            reader,
            "storyloom.step.duration",
            storyloom__workflow=workflow,
            storyloom__step__kind="step",
            storyloom__step__outcome=outcome,
        )
        return p.count if p else 0

    assert attempts("py-flaky", "retrying") == 1
    assert attempts("py-flaky", "completed") == 1
    assert attempts("py-broken", "failed") == 1
    # No payloads in the attributes: not the error message.
    every = [dict(p.attributes) for p in points(reader, "storyloom.step.duration")]
    assert "first try fails" not in repr(every)


def test_an_llm_step_counts_its_input_and_output_tokens_by_model(reader, db, fake_llm, tag):
    with _llm_engine(db, fake_llm.provider("fake", f"normal~{tag};words=30")) as engine:

        @engine.workflow("py-tell")
        def tell(ctx, input):
            return {"usage": dataclasses.asdict(ctx.llm("story", PROMPT).usage)}

        engine.launch()
        run = engine.wait(engine.start("py-tell", {}).id, timeout=20)
        assert run.status == "completed", run
        usage = run.output["usage"]
        assert usage["output_tokens"] == 30 and usage["input_tokens"] > 0
        model = {"storyloom__workflow": "py-tell", "storyloom__llm__model": "fake-model"}
        out = eventually(
            reader,
            "storyloom.llm.tokens",
            lambda p: p.value == usage["output_tokens"],
            storyloom__llm__token__type="output",
            **model,
        )
        assert out.value == 30
        inp = point_at(reader, "storyloom.llm.tokens", storyloom__llm__token__type="input", **model)
        assert inp.value == usage["input_tokens"]


def test_a_429_counts_one_rate_limit_pause(reader, db, fake_llm, tag):
    scenario = f"rate_limited_then_ok~{tag};retry_after_ms=200"
    with _llm_engine(db, fake_llm.provider("fake", scenario)) as engine:

        @engine.workflow("py-busy", retries=FAST)
        def busy(ctx, input):
            return ctx.llm("story", PROMPT).text

        engine.launch()
        assert engine.wait(engine.start("py-busy", {}).id, timeout=20).status == "completed"
        step = {"storyloom__workflow": "py-busy", "storyloom__step__kind": "llm"}
        eventually(reader, "storyloom.rate_limit.pauses", lambda p: p.value == 1, **step)
        retrying = point_at(
            reader, "storyloom.step.duration", storyloom__step__outcome="retrying", **step
        )
        assert retrying.count == 1


def test_the_queue_depth_gauge_reads_queued_runs_by_workflow_down_to_0(reader, engine):
    engine.workflow("py-queued-a")(lambda ctx, input: "a")
    engine.workflow("py-queued-b")(lambda ctx, input: "b")
    # Not launched yet: started runs stay queued.
    ids = [engine.start("py-queued-a", {}).id for _ in range(3)]
    ids += [engine.start("py-queued-b", {}).id for _ in range(2)]
    assert point_at(reader, "storyloom.queue.depth", storyloom__workflow="py-queued-a").value == 3
    assert point_at(reader, "storyloom.queue.depth", storyloom__workflow="py-queued-b").value == 2
    engine.launch()
    for run_id in ids:
        assert engine.wait(run_id, timeout=20).status == "completed"
    assert point_at(reader, "storyloom.queue.depth", storyloom__workflow="py-queued-a").value == 0
    engine.close()
    points(reader, "storyloom.queue.depth")  # a closed engine is not read: no error


def test_telemetry_false_records_no_metrics(reader, db):
    with storyloom.Engine(db, poll_interval=0.01, telemetry=False) as engine:

        @engine.workflow("py-quiet")
        def quiet(ctx, input):
            return ctx.step("s", lambda: 1)

        engine.launch()
        assert engine.wait(engine.start("py-quiet", {}).id, timeout=20).status == "completed"
        time.sleep(0.05)
        for name in ("storyloom.runs.started", "storyloom.step.duration"):
            assert point_at(reader, name, storyloom__workflow="py-quiet") is None
