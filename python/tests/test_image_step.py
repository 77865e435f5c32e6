"""ctx.image against the fake images server on 127.0.0.1 (tests/support/
FAKE_LLM_SERVER.md, "Images"): each scenario (normal, 429 with Retry-After, 500 then ok,
a silent server, a malformed body), the key never in the store file, memoized across a
restart, the offline placeholder, async workflows, bad requests refused naming what is
wrong."""

import asyncio
import struct
import time
import zlib

import pytest

import storyloom

KEY = "test-key-not-a-secret-py-img"
FAST = storyloom.RetryPolicy(max_attempts=3, initial_backoff=0.01, max_backoff=0.02)


def _engine(store, fake_llm, scenario):
    return storyloom.Engine(
        store,
        workers=2,
        poll_interval=0.01,
        images={
            "use_environment": False,
            "default_provider": "fake",
            "providers": [
                {
                    "name": "fake",
                    "base_url": fake_llm.openai_url(scenario),
                    "api_key": KEY,
                    "model": "fake-image-model",
                    "size": "256x256",
                }
            ],
        },
    )


def _png_pixels(data: bytes):
    """(width, height, raw scanlines) of an 8-bit RGB PNG, every chunk's CRC checked."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    at, idat, size = 8, b"", None
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        (crc,) = struct.unpack(">I", data[at + 8 + length : at + 12 + length])
        assert zlib.crc32(kind + body) == crc, kind
        if kind == b"IHDR":
            size = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        at += 12 + length
    return size[0], size[1], zlib.decompress(idat)


SCENARIOS = [
    ("normal", "completed", 1, {}),
    ("rate_limited_then_ok;retry_after=1", "completed", 2, {}),
    ("server_error_then_ok", "completed", 2, {}),
    ("stall;stall_ms=4000", "failed", 3, {"idle_timeout": 0.2}),
    ("malformed_chunk", "failed", 3, {}),
]


@pytest.mark.parametrize("scenario,status,requests,options", SCENARIOS)
def test_each_scenario_and_the_key_is_never_stored(
    tmp_path, fake_llm, tag, scenario, status, requests, options
):
    name, _, params = scenario.partition(";")
    segment = f"{name}~{tag}" + (f";{params}" if params else "")
    store = f"sqlite:{tmp_path / 'images.db'}"
    started = time.monotonic()
    with _engine(store, fake_llm, segment) as engine:

        @engine.workflow("draw", retries=FAST)
        def draw(ctx, input):
            return ctx.image("picture", "A heron at dawn, woodcut", **options).__dict__

        engine.launch()
        run = engine.wait(engine.start("draw", {}).id, timeout=30)
        assert run.status == status, run
        assert fake_llm.requests_to(segment) == requests
        attempts = [e for e in engine.stored_events(run.id, limit=10000) if e.type == "image.attempt"]
        assert len(attempts) == requests
        if status == "completed":
            picture = engine.artifact_bytes(run.id, "picture", run.output["version"])
            assert isinstance(picture, bytes)
            assert len(picture) == run.output["bytes"]
        elif "stall" in scenario:
            assert run.error["code"] == "timeout", run.error
        else:
            assert "the images response is not JSON" in run.error["message"], run.error
    if "rate_limited" in scenario:
        assert time.monotonic() - started >= 0.9  # Retry-After: 1 replaced the backoff
    for path in tmp_path.iterdir():
        assert KEY.encode() not in path.read_bytes(), path


def test_the_picture_is_a_valid_png_and_is_not_asked_for_again_after_a_restart(
    tmp_path, fake_llm, tag
):
    segment = f"normal~{tag}"
    store = f"sqlite:{tmp_path / 'restart.db'}"

    def register(engine):
        @engine.workflow("draw")
        def draw(ctx, input):
            result = ctx.image("picture", "An owl reading", artifact="cover")
            ctx.wait_for_signal("go")
            return result.__dict__

    with _engine(store, fake_llm, segment) as engine:
        register(engine)
        engine.launch()
        run_id = engine.start("draw", {}).id
        deadline = time.monotonic() + 20
        while engine.get(run_id).status != "waiting":
            assert time.monotonic() < deadline
            time.sleep(0.02)
    with _engine(store, fake_llm, segment) as engine:
        register(engine)
        engine.launch()
        engine.signal(run_id, "go", {})
        run = engine.wait(run_id, timeout=20)
        assert run.status == "completed", run
        assert fake_llm.requests_to(segment) == 1
        assert run.output["artifact"] == "cover"
        width, height, raw = _png_pixels(engine.artifact_bytes(run_id, "cover"))
        assert (width, height) == (run.output["width"], run.output["height"])
        assert len(raw) == height * (1 + 3 * width)


def test_offline_pictures_async_workflows_and_bad_requests(tmp_path):
    store = f"sqlite:{tmp_path / 'offline.db'}"
    with storyloom.Engine(store, workers=2, poll_interval=0.01, images={"use_environment": False}) as engine:
        refusals = []

        @engine.workflow("offline")
        async def offline(ctx, input):
            for kwargs in ({"size": "huge"}, {"provider": "nowhere"}, {"extra": [1]}):
                try:
                    await ctx.image("bad", "x", **kwargs)
                    refusals.append("accepted")
                except (storyloom.StoryloomError, TypeError) as e:
                    refusals.append(f"{type(e).__name__}: {e}")
            result = await ctx.image("picture", "A lantern in the fog", size="320x240")
            assert isinstance(result, storyloom.ImageResult)
            return result.__dict__

        engine.launch()
        run = engine.wait(engine.start("offline", {}).id, timeout=20)
        assert run.status == "completed", run
        assert run.output["provider"] == "offline"
        assert (run.output["width"], run.output["height"]) == (320, 240)
        assert refusals[0].startswith("InvalidArgument: image request size is 'huge'"), refusals
        assert refusals[1].startswith("NotFound: no image provider 'nowhere' is configured"), refusals
        assert refusals[2] == "TypeError: image step 'bad': extra must be a dict, got list", refusals
    with pytest.raises(TypeError, match=r"images.providers\[0\] has an unknown key 'colour'"):
        storyloom.Engine(":memory:", images={"providers": [{"name": "x", "colour": "red"}]})
