"""A workflow's ``retries`` against the llm steps' default policy: None is unset (llm
steps retry, 3 attempts), False and RetryPolicy(max_attempts=1) are one attempt, a RetryPolicy with
more attempts is that policy (sl_workflow_options version 3)."""

import pytest
import storyloom

PROMPT = "Tell me a story"


def _attempts(db, fake_llm, retries, tag):
    scenario = f"server_error_then_ok~{tag};status=503"
    llm = {
        "use_environment": False,
        "default_provider": "f",
        "providers": [fake_llm.provider("f", scenario)],
    }
    with storyloom.Engine(db, workers=2, poll_interval=0.01, llm=llm) as engine:

        @engine.workflow("w", retries=retries)
        def wf(ctx, input):
            return ctx.llm("w", PROMPT).text

        engine.launch()
        run = engine.wait(engine.start("w", {}).id, timeout=20)
        return run.status, fake_llm.requests_to(scenario)


@pytest.mark.parametrize(
    "retries, tag, expected",
    [
        (None, "unset", ("completed", 2)),
        (False, "off", ("failed", 1)),
        (storyloom.RetryPolicy(max_attempts=1), "plain", ("failed", 1)),
        (storyloom.RetryPolicy(max_attempts=2, initial_backoff=0.001), "two", ("completed", 2)),
    ],
)
def test_the_workflow_policy_against_the_llm_default(db, fake_llm, retries, tag, expected):
    assert _attempts(db, fake_llm, retries, tag) == expected
