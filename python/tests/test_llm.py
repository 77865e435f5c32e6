"""ctx.llm with the core's offline provider (placeholder text, not a language model): the
built-in llm step streamed as chunk events, memoized on replay, in sync and async
workflows; bad requests, unknown providers and cancellation."""

import asyncio
import time

import pytest

import storyloom
from storyloom_test_support import wait_status

# No provider from the environment: the tests never reach a real LLM, whatever keys are set.
OFFLINE = {
    "use_environment": False,
    "default_provider": "offline",
    "providers": [{"name": "offline", "kind": "offline", "model": "offline-placeholder"}],
}
SLOW_OFFLINE = {
    "use_environment": False,
    "default_provider": "offline",
    "providers": [
        {"name": "offline", "kind": "offline", "model": "offline-placeholder"},
        {"name": "slow", "kind": "offline", "model": "slow", "offline_word_delay_ms": 50},
    ],
}
PROMPT = "Tell a story about a lighthouse cat in two sentences."


@pytest.fixture
def offline(db):
    with storyloom.Engine(db, workers=2, poll_interval=0.01, llm=SLOW_OFFLINE) as e:
        yield e



def _streamed(engine, run_id, stream):
    return "".join(
        e.data["text"]
        for e in engine.stored_events(run_id, limit=10000)
        if e.type == "chunk" and e.data["stream"] == stream
    )


def _types(engine, run_id):
    return [e.type for e in engine.stored_events(run_id, limit=10000)]


def test_a_sync_llm_step_streams_chunks_and_is_memoized_after_a_wait(offline):
    got = []

    @offline.workflow("story")
    def story(ctx, input):
        answer = ctx.llm(
            "page/1",
            [
                {"role": "system", "content": "You write short stories."},
                {"role": "user", "content": PROMPT},
            ],
            max_tokens=120,
        )
        got.append(answer)
        approval = ctx.wait_for_signal("approve")  # the second execution replays the step
        return {"text": answer.text, "by": approval["by"]}

    offline.launch()
    run = offline.start("story", {})
    wait_status(offline, run.id, "waiting")
    offline.signal(run.id, "approve", {"by": "editor"})
    done = offline.wait(run.id, timeout=10)
    assert done.status == "completed", done

    first, replayed = got
    assert replayed == first  # the stored result, not a second call
    assert isinstance(first, storyloom.LlmResult)
    assert first.provider == "offline" and first.model == "offline-placeholder"
    assert first.finish_reason == "stop"
    assert first.usage.output_tokens > 0 and first.usage.input_tokens > 0
    assert first.text.count(".") == 2  # the offline provider honours "two sentences"
    assert done.output == {"text": first.text, "by": "editor"}
    assert _streamed(offline, run.id, "page/1") == first.text
    types = _types(offline, run.id)
    assert types.count("llm.attempt") == 1
    assert types.count("run.started") == 2
    attempt = next(e for e in offline.stored_events(run.id) if e.type == "llm.attempt")
    assert attempt.data == {
        "seq": 0,
        "name": "page/1",
        "stream": "page/1",
        "attempt": 1,
        "provider": "offline",
        "model": "offline-placeholder",
        "offset": 0,  # where this attempt's text begins in the stream
    }
    snap = offline.snapshot(run.id)
    assert snap.streams == {"page/1": {"attempt_start": 0, "end": len(first.text.encode())}}
    step = snap.steps[0]
    assert step.name == "page/1" and step.kind == "llm" and step.result["text"] == first.text


def test_llm_chunks_arrive_live_in_engine_events(offline):
    @offline.workflow("live")
    def live(ctx, input):
        return {"text": ctx.llm("write", PROMPT, provider="slow", max_tokens=40).text}

    offline.launch()
    run = offline.start("live", {})
    live_text = ""
    for e in offline.events(run.id, timeout=20):
        if e.type == "chunk" and e.kind != "cursor":
            live_text += e.data["text"]
    assert live_text == offline.get(run.id).output["text"]


def test_an_async_llm_step_is_awaited_streamed_and_memoized(offline):
    got = []

    @offline.workflow("astory")
    async def astory(ctx, input):
        # two llm steps side by side, then a wait that ends this execution
        a, b = await asyncio.gather(
            ctx.llm("a", PROMPT, provider="slow", max_tokens=30),
            ctx.llm("b", "A poem about owls in one sentence.", stream_name="poem"),
        )
        got.append((a, b))
        await ctx.wait_for_signal("go")
        return {"a": a.text, "b": b.text}

    offline.launch()
    run = offline.start("astory", {})
    wait_status(offline, run.id, "waiting")
    offline.signal(run.id, "go")
    done = offline.wait(run.id, timeout=10)
    assert done.status == "completed", done
    (a, b), replayed = got
    assert replayed == (a, b)
    assert a.text and b.text and a.text != b.text
    assert _streamed(offline, run.id, "a") == a.text
    assert _streamed(offline, run.id, "poem") == b.text
    assert _types(offline, run.id).count("llm.attempt") == 2


def test_async_llm_steps_share_the_engines_loop(offline):
    @offline.workflow("many")
    async def many(ctx, input):
        return {"text": (await ctx.llm("w", PROMPT, provider="slow", max_tokens=10)).text}

    t0 = time.monotonic()
    offline.launch()
    runs = [offline.start("many", {"i": i}) for i in range(6)]
    done = [offline.wait(r.id, timeout=20) for r in runs]
    assert all(r.status == "completed" for r in done), done
    # ~10 words x 50 ms each: side by side on one loop, not one after the other.
    assert time.monotonic() - t0 < 6 * 0.5


def test_stream_false_writes_no_chunk_events(offline):
    @offline.workflow("quiet")
    def quiet(ctx, input):
        return {"text": ctx.llm("w", PROMPT, stream=False).text}

    offline.launch()
    run = offline.wait(offline.start("quiet", {}).id, timeout=10)
    assert run.status == "completed" and run.output["text"]
    assert "chunk" not in _types(offline, run.id)


def _failure_in_workflow(engine, **llm_kwargs):
    """The exception ctx.llm raised inside a workflow, and the run."""
    seen = []

    def wf(ctx, input):
        try:
            ctx.llm("w", **llm_kwargs)
        except Exception as e:  # noqa: BLE001 - what the workflow sees is the test
            seen.append(e)
        return {}

    name = f"wf-{time.monotonic_ns()}"
    engine.register(name, wf)
    engine.launch()
    run = engine.wait(engine.start(name, {}).id, timeout=10)
    return seen[0], run


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (
            {"messages": PROMPT, "provider": "nope"},
            storyloom.NotFound,
            "llm provider 'nope' is not configured (configured: offline, slow)",
        ),
        (
            {"messages": [{"role": "system", "content": "x"}]},
            storyloom.InvalidArgument,
            "llm request: messages need at least one user message",
        ),
        ({"messages": []}, storyloom.InvalidArgument, "llm request: messages must not be empty"),
        (
            {"messages": [{"role": "robot", "content": "x"}]},
            storyloom.InvalidArgument,
            "llm request: messages[0].role must be system, user or assistant, got 'robot'",
        ),
        (
            {"messages": PROMPT, "max_tokens": 0},
            storyloom.InvalidArgument,
            "llm request: max_tokens must be between 1 and 1000000, got 0",
        ),
        (
            {"messages": PROMPT, "temperature": 2.5},
            storyloom.InvalidArgument,
            "llm request: temperature must be between 0 and 2",
        ),
    ],
)
def test_a_bad_llm_request_raises_naming_what_is_wrong(offline, kwargs, error, message):
    e, run = _failure_in_workflow(offline, **kwargs)
    assert type(e) is error
    assert message in str(e)
    assert run.status == "completed"  # the workflow caught it; nothing was recorded
    assert "llm.attempt" not in _types(offline, run.id)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"messages": 5},
            "llm step: messages must be a list of {'role', 'content'} dicts, got int",
        ),
        ({"messages": ["hi"]}, "llm step: messages[0] must be a dict with 'role' and 'content'"),
        (
            {"messages": [{"role": "user"}]},
            "llm step: messages[0]['content'] must be a str, got NoneType",
        ),
        ({"messages": PROMPT, "max_tokens": "10"}, "llm step: max_tokens must be an int, got str"),
        ({"messages": PROMPT, "max_tokens": True}, "llm step: max_tokens must be an int, got bool"),
        ({"messages": PROMPT, "temperature": "hot"}, "llm step: temperature must be a number"),
        ({"messages": PROMPT, "stream": "yes"}, "llm step: stream must be True or False, got str"),
        ({"messages": PROMPT, "provider": 1}, "llm step: provider must be a str, got int"),
    ],
)
def test_an_argument_of_the_wrong_type_is_a_type_error_naming_it(offline, kwargs, message):
    e, _ = _failure_in_workflow(offline, **kwargs)
    assert type(e) is TypeError
    assert str(e).startswith(message)


def test_a_step_name_seen_out_of_order_is_nondeterminism(offline):
    first = []

    @offline.workflow("drift")
    def drift(ctx, input):
        if not first:
            first.append(1)
            ctx.step("write", lambda: "host text")
        else:
            ctx.llm("write", PROMPT)  # the code changed between executions
        ctx.wait_for_signal("go")
        return {}

    offline.launch()
    run = offline.start("drift", {})
    wait_status(offline, run.id, "waiting")
    offline.signal(run.id, "go")
    done = offline.wait(run.id, timeout=10)
    assert done.status == "failed"
    assert "Nondeterminism" in done.error["message"] or done.error["code"] == "nondeterminism"
    assert "write" in done.error["message"]


@pytest.mark.parametrize("asynchronous", [False, True])
def test_cancelling_a_run_mid_stream_ends_it_promptly(offline, asynchronous):
    seen = []
    if asynchronous:

        @offline.workflow("long")
        async def long_async(ctx, input):
            try:
                await ctx.llm("w", PROMPT, provider="slow", max_tokens=2000)
            except storyloom.Cancelled as e:
                seen.append(e)
                raise
            return {}
    else:

        @offline.workflow("long")
        def long_sync(ctx, input):
            try:
                ctx.llm("w", PROMPT, provider="slow", max_tokens=2000)
            except storyloom.Cancelled as e:
                seen.append(e)
                raise
            return {}

    offline.launch()
    run = offline.start("long", {})
    deadline = time.monotonic() + 10
    while "chunk" not in _types(offline, run.id):
        assert time.monotonic() < deadline, _types(offline, run.id)
        time.sleep(0.02)
    t0 = time.monotonic()
    offline.cancel(run.id)
    done = offline.wait(run.id, timeout=5)
    assert done.status == "cancelled"
    deadline = time.monotonic() + 2
    while not seen:  # the workflow saw Cancelled at once, not after the whole stream
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert time.monotonic() - t0 < 1.0
    assert "step.completed" not in _types(offline, run.id)


def test_closing_the_engine_during_an_llm_step_puts_the_run_back(db):
    engine = storyloom.Engine(
        db, workers=2, poll_interval=0.01, drain_timeout=0.2, llm=SLOW_OFFLINE
    )

    @engine.workflow("long")
    def long_wf(ctx, input):
        return {"text": ctx.llm("w", PROMPT, provider="slow", max_tokens=2000).text}

    engine.launch()
    run = engine.start("long", {})
    deadline = time.monotonic() + 10
    while "llm.attempt" not in _types(engine, run.id):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    t0 = time.monotonic()
    engine.close()
    assert time.monotonic() - t0 < 3
    with storyloom.Engine(db, poll_interval=0.01, llm=OFFLINE) as again:
        status = again.get(run.id).status
        assert status in ("queued", "running"), status  # resumed by the next engine
