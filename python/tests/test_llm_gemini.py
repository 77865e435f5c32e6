"""Gemini through Python: a streamed answer, its errors and an out-of-quota answer,
against the project's fake server (tests/support/FAKE_LLM_SERVER.md)."""

import storyloom
from conftest import FAKE_KEY

PROMPT = "Tell me a story about a lighthouse"


def _run(db, fake_llm, scenario, retries=None):
    provider = fake_llm.provider("g", scenario, kind="gemini")
    llm = {"use_environment": False, "default_provider": "g", "providers": [provider]}
    with storyloom.Engine(db, workers=2, poll_interval=0.01, llm=llm) as engine:

        @engine.workflow("w", retries=retries)
        def wf(ctx, input):
            try:
                r = ctx.llm("w", PROMPT)
                return {"text": r.text, "model": r.model, "finish": r.finish_reason,
                        "total": r.usage.total_tokens}
            except storyloom.StoryloomError as e:
                return {"error": type(e).__name__, "class": e.error_class, "message": str(e)}

        engine.launch()
        run = engine.wait(engine.start("w", {}).id, timeout=20)
        chunks = "".join(
            e.data["text"] for e in engine.stored_events(run.id) if e.type == "chunk"
        )
        return run, chunks


def test_a_gemini_stream_is_its_chunk_events(db, fake_llm):
    run, chunks = _run(db, fake_llm, "normal~py")
    assert run.status == "completed", run
    assert run.output["text"] and run.output["text"] == chunks
    assert run.output["model"] == "fake-model"
    assert run.output["finish"] == "stop"
    assert run.output["total"] > 0
    assert fake_llm.requests_to("normal~py") == 1


def test_gemini_errors_are_classified_with_the_providers_message(db, fake_llm):
    run, _ = _run(db, fake_llm, "in_stream_error~py", retries=False)
    assert run.output["class"] == "retryable", run
    assert "UNAVAILABLE" in run.output["message"]
    assert "The model is overloaded" in run.output["message"]
    run, _ = _run(db, fake_llm, "unauthorized~py")
    assert run.output["class"] == "fatal", run
    assert "API key not valid" in run.output["message"]
    assert FAKE_KEY not in repr(run)
    assert fake_llm.requests_to("unauthorized~py") == 1


def test_a_gemini_out_of_quota_answer_fails_after_one_request(db, fake_llm):
    run, _ = _run(db, fake_llm, "quota~py")
    assert run.output["error"] == "QuotaExceeded", run
    assert run.output["class"] == "fatal"
    assert fake_llm.requests_to("quota~py") == 1
