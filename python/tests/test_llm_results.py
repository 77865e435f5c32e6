"""What an llm step's result and errors say in Python, against the fake LLM server:
finish_reason, stop_reason, truncated and usage; structured output parsed into ``json``
(from the server and offline); the quota error class; default retries and a step's own
policy (retry=False)."""

import pytest

import storyloom

PROMPT = "Tell me a story about a lighthouse"
SCHEMA = {
    "type": "object",
    "properties": {
        "title": {"type": "string"},
        "chapters": {"type": "array", "items": {"type": "string"}, "minItems": 3},
    },
    "required": ["title", "chapters"],
    "additionalProperties": False,
}


def _engine(db, *providers):
    llm = {"use_environment": False, "default_provider": providers[0]["name"]}
    return storyloom.Engine(db, workers=3, poll_interval=0.01, llm={**llm, "providers": providers})


def test_a_truncated_answer_is_flagged_with_its_reasons_and_not_retried(db, fake_llm, tag):
    scenario = f"truncated~{tag}"
    with _engine(db, fake_llm.provider("cut", scenario)) as engine:
        seen = {}

        @engine.workflow("w")
        def wf(ctx, input):
            r = ctx.llm("w", PROMPT, max_tokens=20)
            seen["r"] = r
            return r.text

        engine.launch()
        run = engine.wait(engine.start("w", {}).id, timeout=20)
        assert run.status == "completed", run
        r = seen["r"]
        assert isinstance(r, storyloom.LlmResult)
        assert r.finish_reason == "length" and r.stop_reason == "length" and r.truncated
        assert r.usage.total_tokens == r.usage.input_tokens + r.usage.output_tokens > 0
        assert r.json is None
        assert fake_llm.requests_to(scenario) == 1


@pytest.mark.parametrize("provider", ["fake", "offline"])
def test_structured_output_comes_back_parsed(db, fake_llm, tag, provider):
    with _engine(db, fake_llm.provider("fake", f"normal~{tag}")) as engine:
        seen = []

        @engine.workflow("w")
        def wf(ctx, input):
            r = ctx.llm("w", PROMPT, provider=provider, json_schema=SCHEMA)
            seen.append(r)
            return r.json

        engine.launch()
        run = engine.wait(engine.start("w", {}).id, timeout=20)
        assert run.status == "completed", run
        r = seen[0]
        assert sorted(r.json) == ["chapters", "title"] and len(r.json["chapters"]) == 3
        assert not r.truncated and r.finish_reason == "stop"


def test_an_out_of_quota_answer_raises_quota_exceeded_after_one_request(db, fake_llm, tag):
    scenario = f"quota~{tag}"
    with _engine(db, fake_llm.provider("broke", scenario)) as engine:

        @engine.workflow("w")
        def wf(ctx, input):
            try:
                ctx.llm("w", PROMPT)
            except storyloom.QuotaExceeded as e:
                return {"message": str(e), "class": e.error_class}
            return "no error"

        engine.launch()
        run = engine.wait(engine.start("w", {}).id, timeout=20)
        assert run.status == "completed", run
        assert "You exceeded your current quota" in run.output["message"]
        assert fake_llm.key not in run.output["message"]
        assert fake_llm.requests_to(scenario) == 1


def test_default_retries_and_retry_false(db, fake_llm, tag):
    flaky = f"server_error_then_ok~{tag}a;status=503"
    once = f"server_error_then_ok~{tag}b;status=503"
    with _engine(db, fake_llm.provider("flaky", flaky), fake_llm.provider("once", once)) as engine:

        @engine.workflow("flaky")
        def flaky_wf(ctx, input):
            return ctx.llm("w", PROMPT, provider="flaky").text  # no policy: 3 attempts

        @engine.workflow("once")
        def once_wf(ctx, input):
            try:
                ctx.llm("w", PROMPT, provider="once", retry=False)
            except storyloom.ProviderError as e:
                return str(e)
            return "no error"

        engine.launch()
        a = engine.wait(engine.start("flaky", {}).id, timeout=30)
        assert a.status == "completed", a
        assert fake_llm.requests_to(flaky) == 2
        b = engine.wait(engine.start("once", {}).id, timeout=30)
        assert "HTTP 503" in b.output, b
        assert fake_llm.requests_to(once) == 1
