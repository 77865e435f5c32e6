"""ctx.http against the fake server's /h/ echo on 127.0.0.1 (tests/support/
FAKE_LLM_SERVER.md, "The http step"): the response stored without secrets, memoized
across a crash (SIGKILL), retried on 503 with a step's own policy, cancelled mid-transfer,
bad requests refused naming what is wrong; async workflows too."""

import json
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
TOKEN = "tok-not-a-secret-3319"
FAST = storyloom.StepRetry(max_attempts=3, initial_backoff=0.01, max_backoff=0.02)


def _url(fake_llm, scenario, rest="/things"):
    return f"http://127.0.0.1:{fake_llm.port}/h/{scenario}{rest}"


def _requests(fake_llm):
    with __import__("urllib.request").request.urlopen(
        f"http://127.0.0.1:{fake_llm.port}/_requests", timeout=5
    ) as r:
        return json.loads(r.read())["requests"]


def test_the_response_is_stored_and_typed_and_secrets_are_not(engine, fake_llm, tag):
    url = _url(fake_llm, f"normal~{tag}", "/things?page=2")

    @engine.workflow("w")
    def wf(ctx, input):
        r = ctx.http(
            "call",
            url,
            method="POST",
            headers=[
                storyloom.HttpHeader("Authorization", f"Bearer {TOKEN}"),
                storyloom.HttpHeader("X-Plain", "visible"),
            ],
            json={"title": "The lighthouse"},
        )
        assert isinstance(r, storyloom.HttpResult)
        assert r.body == r.text.encode()
        return {"status": r.status, "headers": r.headers, "json": r.json}

    engine.launch()
    run = engine.wait(engine.start("w", {}).id, timeout=20)
    assert run.status == "completed", run
    out = run.output
    assert out["status"] == 200
    assert out["json"]["method"] == "POST"
    assert out["json"]["body"] == '{"title":"The lighthouse"}'
    assert out["json"]["headers"]["authorization"] == "[redacted]"
    assert out["json"]["headers"]["idempotency-key"] == f"{run.id}:0"
    assert out["headers"]["set-cookie"] == "[redacted]"
    sent = [r for r in _requests(fake_llm) if tag in r["path"]]
    assert sent[0]["headers"]["authorization"] == f"Bearer {TOKEN}"
    stored = json.dumps([e.data for e in engine.stored_events(run.id, limit=10000)])
    assert TOKEN not in stored
    assert '"host"' in stored


def test_an_http_step_is_not_sent_again_after_a_crash(tmp_path, fake_llm, tag):
    store = f"sqlite:{tmp_path / 'crash.db'}"
    ready = tmp_path / "ready"
    scenario = f"normal~{tag}"
    url = _url(fake_llm, scenario)
    child = subprocess.Popen(
        [sys.executable, str(HERE / "http_crash_worker.py"), store, url, str(ready)],
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

        @engine.workflow("fetchy")
        def fetchy(ctx, input):
            response = ctx.http("fetch", url, method="POST", json={"n": 1})
            ctx.step("hang", lambda: "resumed")
            return response.status

        engine.launch()
        run = engine.wait(run_id, timeout=30)
        assert run.status == "completed", run
        assert run.output == 200
    assert fake_llm.requests_to(scenario) == 1


def test_a_503_is_retried_per_the_steps_policy_and_retry_false_stops(engine, fake_llm, tag):
    retried = f"server_error_then_ok~{tag}a;times=2;status=503"
    once = f"server_error_then_ok~{tag}b;status=503"

    @engine.workflow("retried")
    def retried_wf(ctx, input):
        return ctx.http("call", _url(fake_llm, retried), retry=FAST).status

    @engine.workflow("once")
    def once_wf(ctx, input):
        try:
            ctx.http("call", _url(fake_llm, once), retry=False)
        except storyloom.StepFailed as e:
            return str(e)
        return "no error"

    engine.launch()
    a = engine.wait(engine.start("retried", {}).id, timeout=20)
    assert a.status == "completed", a
    assert a.output == 200
    assert fake_llm.requests_to(retried) == 3
    keys = {r["headers"]["idempotency-key"] for r in _requests(fake_llm) if f"{tag}a" in r["path"]}
    assert keys == {f"{a.id}:0"}
    b = engine.wait(engine.start("once", {}).id, timeout=20)
    assert b.status == "completed", b
    assert "answered HTTP 503" in b.output and "http step 'call': GET 127.0.0.1:" in b.output
    assert fake_llm.requests_to(once) == 1


def test_cancelling_the_run_stops_the_transfer_midway(engine, fake_llm, tag):
    scenario = f"stall~{tag};stall_ms=20000"
    raised = []

    @engine.workflow("w")
    def wf(ctx, input):
        try:
            return ctx.http("call", _url(fake_llm, scenario)).status
        except storyloom.StoryloomError as e:
            raised.append(e)
            raise

    engine.launch()
    run = engine.start("w", {})
    deadline = time.monotonic() + 10
    while fake_llm.requests_to(scenario) == 0:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    asked = time.monotonic()
    engine.cancel(run.id)
    done = engine.wait(run.id, timeout=10)
    assert done.status == "cancelled"
    assert time.monotonic() - asked < 3
    deadline = time.monotonic() + 5
    while not raised:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert isinstance(raised[0], storyloom.Cancelled), raised


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"url": "ftp://example.com/x"}, "must start with http:// or https://"),
        ({"url": "http://127.0.0.1:1/x", "method": "get"}, "method 'get' is not an HTTP method"),
        ({"url": "http://user:pw@example.com/"}, "credentials"),
        ({"url": "http://127.0.0.1:1/x", "body": b"x"}, "GET takes no body"),
    ],
)
def test_a_bad_request_is_refused_naming_what_is_wrong(engine, kwargs, words):
    @engine.workflow("w")
    def wf(ctx, input):
        url = kwargs.pop("url")
        try:
            ctx.http("call", url, **kwargs)
        except storyloom.InvalidArgument as e:
            return str(e)
        return "no error"

    engine.launch()
    run = engine.wait(engine.start("w", {}).id, timeout=20)
    assert run.status == "completed", run
    assert words in run.output
    assert "pw@" not in run.output


def test_type_errors_name_the_argument(engine):
    @engine.workflow("w")
    def wf(ctx, input):
        out = []
        for call in (
            lambda: ctx.http("call", 7),
            lambda: ctx.http("call", "http://a/", headers=[("X", "y")]),
            lambda: ctx.http("call", "http://a/", method="POST", json={}, body=b"x"),
            lambda: ctx.http("call", "http://a/", retry=3),
        ):
            try:
                call()
            except (TypeError, ValueError) as e:
                out.append(str(e))
        return out

    engine.launch()
    run = engine.wait(engine.start("w", {}).id, timeout=20)
    assert run.output == [
        "http step 'call': url must be a str, got int",
        "http step 'call': headers[0] must be a storyloom.HttpHeader, got tuple",
        "http step 'call': give json or body, not both",
        "http step 'call': retry must be a storyloom.StepRetry, False or None, got int",
    ]


def test_an_async_workflow_awaits_the_http_step(engine, fake_llm, tag):
    @engine.workflow("w")
    async def wf(ctx, input):
        r = await ctx.http("call", _url(fake_llm, f"normal~{tag}"), method="PUT", body=b"\x00hi")
        return {"status": r.status, "body": r.json["body"], "method": r.json["method"]}

    engine.launch()
    run = engine.wait(engine.start("w", {}).id, timeout=20)
    assert run.status == "completed", run
    assert run.output == {"status": 200, "body": "\x00hi", "method": "PUT"}
