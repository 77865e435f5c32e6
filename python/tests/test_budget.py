"""A run's LLM budget from Python: the llm step stops after exactly the affordable
calls (counted by the fake LLM server), BudgetExceeded for the run, usage per
provider and model in the snapshot, bad budgets named."""

import pytest

import storyloom


def _story_engine(db, fake_llm, scenario):
    llm = {"use_environment": False, "default_provider": "fake"}
    engine = storyloom.Engine(
        db,
        workers=3,
        poll_interval=0.01,
        llm={**llm, "providers": [fake_llm.provider("fake", scenario)]},
    )

    @engine.workflow("story")
    def story(ctx, input):
        for i in range(1, input["pages"] + 1):
            ctx.llm(f"page-{i}", f"Write page {i} of a story", max_tokens=40)
        return input["pages"]

    engine.launch()
    return engine


def test_a_call_budget_fails_the_run_after_exactly_the_affordable_calls(db, fake_llm, tag):
    scenario = f"normal~{tag}"
    with _story_engine(db, fake_llm, scenario) as engine:
        started = engine.start("story", {"pages": 4}, budget={"llm_calls": 3})
        assert started.budget == storyloom.RunBudget(llm_calls=3)
        run = engine.wait(started.id, timeout=20)
        assert run.status == "failed"
        assert run.error["code"] == "budget_exceeded"
        assert run.error["step"] == "page-4"
        assert run.error["message"] == (
            "llm step 'page-4' was not sent: the run's budget is spent "
            "(its 3 of 3 LLM calls are used)"
        )
        assert issubclass(storyloom.BudgetExceeded, storyloom.StoryloomError)
        assert storyloom.BudgetExceeded.code == 16
        assert fake_llm.requests_to(scenario) == 3

        snap = engine.snapshot(run.id)
        assert snap.usage.llm_calls == 3
        assert [(m.provider, m.model, m.calls) for m in snap.usage.by_model] == [
            ("fake", "fake-model", 3)
        ]
        assert snap.usage.total_tokens == snap.usage.input_tokens + snap.usage.output_tokens > 0
        assert snap.budget == storyloom.BudgetStatus(
            llm_calls=3,
            llm_tokens=0,
            spent_llm_calls=3,
            spent_llm_tokens=snap.usage.total_tokens,
            remaining_llm_calls=0,
            remaining_llm_tokens=None,
            exceeded=True,
        )


def test_a_token_budget_and_start_many(db, fake_llm, tag):
    scenario = f"normal~{tag}"
    with _story_engine(db, fake_llm, scenario) as engine:
        # One token: the first call is allowed (its cost is unknown before it
        # ends), the second is not.
        [a, b] = engine.start_many(
            [
                {"workflow": "story", "input": {"pages": 3}, "budget": {"llm_tokens": 1}},
                {"workflow": "story", "input": {"pages": 2}},
            ]
        )
        ra, rb = engine.wait(a.id, timeout=20), engine.wait(b.id, timeout=20)
        assert ra.error and ra.error["code"] == "budget_exceeded", ra
        assert "LLM tokens are used" in ra.error["message"]
        assert rb.status == "completed"
        assert fake_llm.requests_to(scenario) == 1 + 2


@pytest.mark.parametrize(
    "budget, message",
    [
        (
            {"llm_calls": -1},
            "start: budget.llm_calls must be a whole number >= 0 (0: no limit), got -1",
        ),
        ({"calls": 2}, "start: budget has an unknown field 'calls' (known: llm_calls, llm_tokens)"),
        (5, "start: budget must be a RunBudget or a dict with llm_calls / llm_tokens, got 5"),
    ],
)
def test_a_bad_budget_is_refused_by_name(db, fake_llm, tag, budget, message):
    with _story_engine(db, fake_llm, f"normal~{tag}") as engine:
        with pytest.raises(storyloom.InvalidArgument) as e:
            engine.start("story", {"pages": 1}, budget=budget)
        assert str(e.value) == message
