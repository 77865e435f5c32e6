"""Resources: limits set at open (Engine(resources=...)) or later (configure_resource),
read back with resource_status, refused with messages naming the field, and a cap on
requests in flight that llm steps of several runs wait for (llm.waiting events)."""

import threading
import time

import pytest

import storyloom

SLOW = {
    "use_environment": False,
    "default_provider": "slow",
    "providers": [{"name": "slow", "kind": "offline", "model": "m", "offline_word_delay_ms": 5}],
}


def test_limits_given_at_open_show_in_the_resource_status(db):
    resources = {"llm:slow": {"requests": 5, "period_ms": 60000, "max_in_flight": 2}}
    with storyloom.Engine(db, llm=SLOW, resources=resources) as engine:
        status = engine.resource_status("llm:slow")
        assert status == storyloom.ResourceStatus(
            name="llm:slow",
            available_requests=5.0,
            available_tokens=None,
            in_flight=0,
            waiting=0,
            paused_until_ms=0,
        )


def test_configure_resource_sets_and_replaces_limits(engine):
    engine.configure_resource("image-api", {"requests": 2, "tokens_per_minute": 1000})
    status = engine.resource_status("image-api")
    assert status.available_requests == 2 and status.available_tokens == 1000
    engine.configure_resource("image-api", {"max_in_flight": 1})  # replaces: no rate now
    status = engine.resource_status("image-api")
    assert status.available_requests is None and status.available_tokens is None


def test_an_unknown_resource_is_reported_unlimited(engine):
    status = engine.resource_status("never-configured")
    assert (status.available_requests, status.available_tokens, status.in_flight) == (
        None,
        None,
        0,
    )


@pytest.mark.parametrize(
    "name, limits, message",
    [
        ("r", {"requests": -1}, "resource 'r': requests must be finite and at least 0, got -1"),
        ("r", {"period_ms": 0}, "resource 'r': period must be at least 1 ms, got 0 ms"),
        ("r", {"burst": 0.5}, "resource 'r': burst must be 0 (the size of requests) or at least 1"),
        ("r", {"max_in_flight": -2}, "resource 'r': max_in_flight must be at least 0, got -2"),
        ("", {"requests": 1}, "resource '': name must be 1 to 128 bytes, got 0"),
    ],
)
def test_bad_limits_are_refused_naming_the_field(engine, name, limits, message):
    with pytest.raises(storyloom.InvalidArgument) as info:
        engine.configure_resource(name, limits)
    assert message in str(info.value)


@pytest.mark.parametrize(
    "limits, message",
    [
        ({"requests": "5"}, "limits.requests must be a number, got str"),
        ({"max_in_flight": 1.0}, "limits.max_in_flight must be an int, got float"),
        ({"max_in_flight": True}, "limits.max_in_flight must be an int, got bool"),
        ({"rate": 1}, "limits has an unknown key 'rate' (known: requests, period_ms, burst, "),
        ([1], "limits must be a dict, got list"),
    ],
)
def test_limits_of_the_wrong_type_are_a_type_error_naming_the_field(engine, limits, message):
    with pytest.raises(TypeError) as info:
        engine.configure_resource("r", limits)
    assert str(info.value).startswith(message)


def test_a_resource_name_must_be_a_str(engine):
    with pytest.raises(TypeError, match="name must be a str, got int"):
        engine.resource_status(3)


def test_bad_resources_at_open_name_the_resource(db):
    with pytest.raises(storyloom.InvalidArgument, match="resource 'llm:x': period must be"):
        storyloom.Engine(db, resources={"llm:x": {"period_ms": 0}})
    with pytest.raises(TypeError, match=r"resources\['llm:x'\].burst must be a number, got str"):
        storyloom.Engine(db, resources={"llm:x": {"burst": "2"}})
    with pytest.raises(TypeError, match="resources must be a dict of name to limits, got list"):
        storyloom.Engine(db, resources=[("llm:x", {})])


def test_max_in_flight_one_admits_one_llm_request_at_a_time(db):
    with storyloom.Engine(
        db, workers=3, poll_interval=0.01, llm=SLOW, resources={"llm:slow": {"max_in_flight": 1}}
    ) as engine:

        @engine.workflow("page")
        def page(ctx, input):
            return {"text": ctx.llm("write", f"A story about {input['topic']}", max_tokens=40).text}

        engine.launch()
        runs = [engine.start("page", {"topic": t}) for t in ("owls", "foxes", "boats")]
        highest = {"in_flight": 0, "waiting": 0}
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                s = engine.resource_status("llm:slow")
                highest["in_flight"] = max(highest["in_flight"], s.in_flight)
                highest["waiting"] = max(highest["waiting"], s.waiting)
                time.sleep(0.002)

        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            done = [engine.wait(r.id, timeout=30) for r in runs]
        finally:
            stop.set()
            sampler.join()
        assert all(r.status == "completed" for r in done), done
        assert highest["in_flight"] == 1
        assert highest["waiting"] >= 1
        waiting = [
            e.data
            for r in runs
            for e in engine.stored_events(r.id, limit=10000)
            if e.type == "llm.waiting"
        ]
        assert waiting, "no llm step waited for the resource"
        assert all(w["resource"] == "llm:slow" and w["name"] == "write" for w in waiting)
        assert engine.resource_status("llm:slow").in_flight == 0


# ---- host steps that use a resource ----


class _Peak:
    def __init__(self):
        self.lock = threading.Lock()
        self.now = self.peak = 0

    def __call__(self, body):
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
        try:
            return body()
        finally:
            with self.lock:
                self.now -= 1


@pytest.mark.parametrize("asynchronous", [False, True])
def test_a_host_step_waits_for_its_resource(db, asynchronous):
    peak = _Peak()
    with storyloom.Engine(
        db, workers=3, poll_interval=0.01, resources={"image-api": {"max_in_flight": 1}}
    ) as engine:
        if asynchronous:

            @engine.workflow("art")
            async def art(ctx, input):
                async def draw():
                    return peak(lambda: time.sleep(0.03) or "png")  # blocks the loop briefly

                return {"image": await ctx.step("draw", draw, resource="image-api")}
        else:

            @engine.workflow("art")
            def art(ctx, input):
                draw = lambda: peak(lambda: time.sleep(0.03) or "png")
                return {"image": ctx.step("draw", draw, resource="image-api", tokens=0)}

        engine.launch()
        runs = [engine.start("art", {"i": i}) for i in range(3)]
        done = [engine.wait(r.id, timeout=20) for r in runs]
        assert all(r.status == "completed" for r in done), done
        assert peak.peak == 1
        assert engine.resource_status("image-api").in_flight == 0  # every use was returned


def test_a_rate_limited_step_waits_its_retry_after_and_pauses_the_resource(db):
    retry = storyloom.RetryPolicy(max_attempts=3, initial_backoff=0.01, jitter=False)
    attempts = []
    with storyloom.Engine(db, workers=2, poll_interval=0.01) as engine:
        engine.configure_resource("image-api", {"requests": 100})

        @engine.workflow("art", retries=retry)
        def art(ctx, input):
            def draw():
                attempts.append(time.monotonic())
                if len(attempts) == 1:
                    raise storyloom.RateLimited("HTTP 429 from the image API", retry_after=0.3)
                return "png"

            return {"image": ctx.step("draw", draw, resource="image-api")}

        engine.launch()
        run = engine.start("art", {})
        deadline = time.monotonic() + 10
        while not attempts:
            assert time.monotonic() < deadline
            time.sleep(0.005)
        done = engine.wait(run.id, timeout=20)
        assert done.status == "completed", done
        retrying = [e.data for e in engine.stored_events(run.id) if e.type == "step.retrying"]
        assert [(r["delay_ms"], r["error"]["class"]) for r in retrying] == [(300, "rate_limited")]
        assert retrying[0]["error"]["message"] == "RateLimited: HTTP 429 from the image API"
        assert attempts[1] - attempts[0] >= 0.25


def test_a_rate_limited_failure_pauses_the_resource_for_other_steps(db):
    with storyloom.Engine(db, workers=2, poll_interval=0.01) as engine:
        engine.configure_resource("image-api", {"requests": 100})

        @engine.workflow("art")
        def art(ctx, input):
            def draw():
                raise storyloom.RateLimited("slow down", retry_after=30)

            return ctx.step("draw", draw, resource="image-api")

        before_ms = int(time.time() * 1000)
        engine.launch()
        run = engine.wait(engine.start("art", {}).id, timeout=10)
        assert run.status == "failed" and run.error["class"] == "rate_limited"
        paused = engine.resource_status("image-api").paused_until_ms
        assert before_ms + 25_000 <= paused <= before_ms + 35_000


def test_cancelling_a_run_that_waits_for_a_resource_ends_it_at_once(db):
    gate = threading.Event()
    with storyloom.Engine(
        db, workers=3, poll_interval=0.01, resources={"image-api": {"max_in_flight": 1}}
    ) as engine:
        seen = []

        @engine.workflow("art")
        def art(ctx, input):
            try:
                ctx.step("draw", lambda: gate.wait(5), resource="image-api")
            except storyloom.Cancelled as e:
                seen.append(str(e))
                raise
            return {}

        engine.launch()
        holder = engine.start("art", {"i": 0})
        deadline = time.monotonic() + 10
        while engine.resource_status("image-api").in_flight != 1:
            assert time.monotonic() < deadline
            time.sleep(0.005)
        waiter = engine.start("art", {"i": 1})
        while engine.resource_status("image-api").waiting != 1:
            assert time.monotonic() < deadline
            time.sleep(0.005)
        engine.cancel(waiter.id)
        assert engine.wait(waiter.id, timeout=2).status == "cancelled"
        deadline = time.monotonic() + 2
        while not seen:
            assert time.monotonic() < deadline
            time.sleep(0.005)
        assert "resource 'image-api'" in seen[0]
        gate.set()
        assert engine.wait(holder.id, timeout=10).status == "completed"


def test_bad_step_resources_are_refused(engine):
    seen = []

    @engine.workflow("bad")
    def bad(ctx, input):
        for name, kwargs in (
            ("a", {"resource": "", "tokens": 0}),
            ("b", {"resource": "r", "tokens": -1}),
            ("c", {"resource": "r", "tokens": "1"}),
        ):
            try:
                ctx.step(name, lambda: 1, **kwargs)
            except (storyloom.InvalidArgument, TypeError) as e:
                seen.append((type(e).__name__, str(e)))
        return {}

    engine.launch()
    engine.wait(engine.start("bad", {}).id, timeout=10)
    assert seen[0] == ("InvalidArgument", "resource name is empty")
    assert seen[1][0] == "InvalidArgument" and "-1" in seen[1][1]
    assert seen[2] == ("TypeError", "tokens must be a number, got str")


def test_rate_limited_needs_a_number_of_seconds():
    with pytest.raises(TypeError, match="retry_after must be a number of seconds, got str"):
        storyloom.RateLimited("x", retry_after="1s")
