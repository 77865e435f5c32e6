"""ctx.llm against the project's fake LLM server program (tests/support/FAKE_LLM_SERVER.md):
OpenAI- and Anthropic-compatible streams, a 429 then success, a 401, a 5xx retried, a
cancelled slow stream, memoization; keys never leave the engine's memory."""

import json
import time

import pytest

import storyloom

FAST = storyloom.RetryPolicy(
    max_attempts=3, initial_backoff=0.01, multiplier=2.0, max_backoff=0.05, jitter=False
)
PROMPT = "Tell me a story about a lighthouse"


def _engine(db, *providers):
    # The first provider is the default, whatever STORYLOOM_LLM_PROVIDER says.
    llm = {"use_environment": False, "default_provider": providers[0]["name"]}
    return storyloom.Engine(db, workers=3, poll_interval=0.01, llm={**llm, "providers": providers})


def _events(engine, run_id):
    return engine.stored_events(run_id, limit=10000)


def _streamed(engine, run_id, stream="w"):
    return "".join(
        e.data["text"]
        for e in _events(engine, run_id)
        if e.type == "chunk" and e.data["stream"] == stream
    )


def _no_key_anywhere(engine, run_id, key):
    stored = json.dumps([e.data for e in _events(engine, run_id)]) + json.dumps(
        engine.get(run_id).error
    )
    assert key not in stored
    assert key not in repr(engine.llm_providers())


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_a_normal_stream_is_the_concatenated_chunk_events(db, fake_llm, tag, kind):
    scenario = f"normal~{tag};words=30"
    with _engine(db, fake_llm.provider("fake", scenario, kind=kind)) as engine:

        @engine.workflow("w")
        def wf(ctx, input):
            r = ctx.llm("w", PROMPT, max_tokens=100)
            return {
                "text": r.text,
                "usage": [r.usage.input_tokens, r.usage.output_tokens],
                "finish": r.finish_reason,
                "provider": r.provider,
                "model": r.model,
            }

        engine.launch()
        run = engine.wait(engine.start("w", {}).id, timeout=20)
        assert run.status == "completed", run
        text = run.output["text"]
        assert text.startswith("Fake reply to: «Tell me a story about a lighthouse» café")
        assert len(text.split()) == 30
        assert _streamed(engine, run.id) == text
        assert run.output["usage"] == [7, 30]
        assert run.output["finish"] == "stop"
        assert run.output["provider"] == "fake" and run.output["model"] == "fake-model"
        assert fake_llm.requests_to(scenario) == 1
        _no_key_anywhere(engine, run.id, fake_llm.key)


def test_a_memoized_llm_step_does_not_ask_the_provider_again(db, fake_llm, tag):
    scenario = f"normal~{tag}"
    with _engine(db, fake_llm.provider("fake", scenario)) as engine:

        @engine.workflow("w")
        async def wf(ctx, input):
            first = await ctx.llm("w", PROMPT)
            await ctx.wait_for_signal("go")
            return {"text": first.text}

        engine.launch()
        run = engine.start("w", {})
        deadline = time.monotonic() + 10
        while engine.get(run.id).status != "waiting":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        engine.signal(run.id, "go")
        done = engine.wait(run.id, timeout=10)
        assert done.status == "completed", done
        assert [e.type for e in _events(engine, run.id)].count("run.started") == 2
        assert fake_llm.requests_to(scenario) == 1


def test_a_429_then_ok_is_retried_after_its_retry_after(db, fake_llm, tag):
    scenario = f"rate_limited_then_ok~{tag};retry_after_ms=200"
    with _engine(db, fake_llm.provider("fake", scenario)) as engine:

        @engine.workflow("w", retries=FAST)
        def wf(ctx, input):
            return {"text": ctx.llm("w", PROMPT).text}

        engine.launch()
        run = engine.wait(engine.start("w", {}).id, timeout=20)
        assert run.status == "completed", run
        events = _events(engine, run.id)
        types = [e.type for e in events]
        retrying = next(e for e in events if e.type == "step.retrying")
        assert types.index("step.retrying") < types.index("step.completed")
        assert retrying.data["delay_ms"] == 200  # the provider's retry-after, not the backoff
        assert retrying.data["error"]["code"] == "provider"
        assert retrying.data["error"]["class"] == "rate_limited"
        assert "HTTP 429" in retrying.data["error"]["message"]
        assert [e.data["attempt"] for e in events if e.type == "llm.attempt"] == [1, 2]
        assert _streamed(engine, run.id) == run.output["text"]
        assert fake_llm.requests_to(scenario) == 2


def test_a_retried_failure_unwinds_the_workflow_with_will_retry(db, fake_llm, tag):
    scenario = f"server_error_then_ok~{tag};status=503"
    seen = []
    with _engine(db, fake_llm.provider("fake", scenario)) as engine:

        @engine.workflow("w", retries=FAST)
        def wf(ctx, input):
            try:
                return {"text": ctx.llm("w", PROMPT).text}
            except storyloom.ProviderError as e:
                seen.append(e)
                raise

        engine.launch()
        run = engine.wait(engine.start("w", {}).id, timeout=20)
        assert run.status == "completed", run
        (error,) = seen
        assert error.will_retry is True
        assert error.error_class == "retryable"
        assert "HTTP 503" in error.message


def test_a_401_fails_at_once_with_a_provider_error_without_the_key(db, fake_llm, tag):
    scenario = f"unauthorized~{tag}"
    seen = []
    with _engine(db, fake_llm.provider("fake", scenario)) as engine:

        @engine.workflow("w", retries=FAST)
        def wf(ctx, input):
            try:
                return ctx.llm("w", PROMPT).text
            except storyloom.StoryloomError as e:
                seen.append(e)
                raise

        engine.launch()
        run = engine.wait(engine.start("w", {}).id, timeout=20)
        assert run.status == "failed"
        (error,) = seen
        assert type(error) is storyloom.ProviderError
        assert error.code == 14 and error.code_name == "provider"
        assert error.error_class == "fatal" and error.will_retry is False
        assert error.message == (
            "fake (fake-model): the provider refused the credentials (HTTP 401): "
            "Incorrect API key provided"
        )
        assert run.error["code"] == "provider" and run.error["message"] == error.message
        assert fake_llm.requests_to(scenario) == 1  # fatal: not retried
        assert "step.retrying" not in [e.type for e in _events(engine, run.id)]
        _no_key_anywhere(engine, run.id, fake_llm.key)


def test_a_400_fails_with_the_providers_message(db, fake_llm, tag):
    with _engine(db, fake_llm.provider("fake", f"bad_request~{tag}")) as engine:

        @engine.workflow("w", retries=FAST)
        async def wf(ctx, input):
            return (await ctx.llm("w", PROMPT)).text

        engine.launch()
        run = engine.wait(engine.start("w", {}).id, timeout=20)
        assert run.status == "failed"
        assert run.error["class"] == "fatal"
        assert "(HTTP 400): max_tokens: 999999 is too large" in run.error["message"]


@pytest.mark.parametrize("asynchronous", [False, True])
def test_cancel_during_a_slow_trickle_stream_cancels_the_run_promptly(
    db, fake_llm, tag, asynchronous
):
    scenario = f"slow_trickle~{tag};delay_ms=100;words=200"
    with _engine(db, fake_llm.provider("fake", scenario)) as engine:
        if asynchronous:

            @engine.workflow("w")
            async def wf_async(ctx, input):
                return (await ctx.llm("w", PROMPT, max_tokens=1000)).text
        else:

            @engine.workflow("w")
            def wf_sync(ctx, input):
                return ctx.llm("w", PROMPT, max_tokens=1000).text

        engine.launch()
        run = engine.start("w", {})
        deadline = time.monotonic() + 10
        while "chunk" not in [e.type for e in _events(engine, run.id)]:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        t0 = time.monotonic()
        engine.cancel(run.id)
        done = engine.wait(run.id, timeout=5)
        assert done.status == "cancelled"
        assert time.monotonic() - t0 < 1.0  # not the ~20 s the whole stream takes
        assert "step.completed" not in [e.type for e in _events(engine, run.id)]


def test_the_providers_are_listed_without_their_keys(db, fake_llm):
    with _engine(
        db,
        fake_llm.provider("fake", "normal"),
        {"name": "offline", "kind": "offline", "model": "offline-placeholder"},
    ) as engine:
        providers = engine.llm_providers()
        assert providers.default == "fake"
        fake = providers["fake"]
        assert fake.kind == "openai" and fake.has_key is True
        assert fake.base_url == fake_llm.openai_url("normal")
        assert fake.model == "fake-model" and fake.resource == "llm:fake"
        assert providers["offline"].has_key is False
        assert fake_llm.key not in repr(providers)
        with pytest.raises(KeyError, match="no LLM provider 'x' \\(known: fake, offline\\)"):
            providers["x"]


def test_a_retried_stream_marks_where_the_current_attempts_text_begins(db, fake_llm, tag):
    # Every request breaks after 4 words: two attempts, each streaming text, then failed.
    scenario = f"break_midway~{tag};after=4"
    retries = storyloom.RetryPolicy(max_attempts=2, initial_backoff=0.01, jitter=False)
    with _engine(db, fake_llm.provider("fake", scenario)) as engine:
        engine.register(
            "w", lambda ctx, input: {"text": ctx.llm("w", PROMPT).text}, retries=retries
        )
        engine.launch()
        run = engine.wait(engine.start("w", {}).id, timeout=20)
        assert run.status == "failed", run
        events = _events(engine, run.id)
        starts = [e.data["offset"] for e in events if e.type == "llm.attempt"]
        assert len(starts) == 2 and starts[0] == 0 < starts[1], starts
        chunks = [e.data for e in events if e.type == "chunk"]
        assert {c["attempt_start"] for c in chunks} == set(starts)
        first = "".join(c["text"] for c in chunks if c["attempt_start"] == 0)
        assert len(first.encode()) == starts[1]  # the second attempt starts at the stream's end
        snap = engine.snapshot(run.id)
        end = starts[1] + sum(len(c["text"].encode()) for c in chunks if c["attempt_start"])
        assert snap.streams == {"w": {"attempt_start": starts[1], "end": end}}
