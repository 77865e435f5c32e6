"""storyloom.client: chunk text deduplicated by offset and reset at a new attempt (pure
functions), and a RunReader over httpx following a run through dropped connections shows
the text the run wrote, byte for byte."""

import asyncio
import time

import pytest

import storyloom
from storyloom.client import RunReader, RunView, StreamText, apply_attempt, apply_chunk, apply_event

httpx = pytest.importorskip("httpx")


def chunk(offset, text, attempt_start=0):
    return {"stream": "s", "offset": offset, "text": text, "attempt_start": attempt_start}


def test_chunks_seen_twice_or_overlapping_add_only_their_new_bytes():
    streams = {}
    for c in (chunk(0, "Once "), chunk(0, "Once "), chunk(5, "upon"), chunk(3, "e upon a"),
              chunk(9, " a tĩme")):
        streams, _, _ = apply_chunk(streams, c)
    assert streams["s"].text == "Once upon a tĩme"
    streams, changed, gap = apply_chunk(streams, chunk(12, "tĩme!"))
    assert (streams["s"], changed, gap) == (StreamText("Once upon a tĩme!", 0, 18), True, False)
    same, changed, _ = apply_chunk(streams, chunk(0, "Once"))
    assert same is streams and not changed


def test_a_newer_attempt_replaces_the_text_and_an_older_one_is_dropped():
    streams, _, _ = apply_chunk({}, chunk(0, "first try"))
    streams, _, _ = apply_chunk(streams, chunk(9, "second", 9))
    assert streams["s"] == StreamText("second", 9, 15)
    assert apply_chunk(streams, chunk(0, "first try more", 0))[1] is False
    assert apply_chunk(streams, chunk(20, "later", 9))[2] is True  # a gap
    assert apply_attempt(streams, "s", 30)["s"] == StreamText("", 30, 30)


def test_a_stored_event_at_or_before_the_last_id_is_a_duplicate():
    view = apply_event(RunView(), 3, "run.started", {})
    view = apply_event(view, 4, "progress", {"pages": 1})
    assert apply_event(view, 3, "run.queued", {}) is view
    view = apply_event(view, 5, "run.completed", {"output": {"ok": 1}})
    assert (view.status, view.progress, view.output, view.last_event_id) == (
        "completed", {"pages": 1}, {"ok": 1}, 5)


def test_a_reader_resumed_after_dropped_connections_shows_the_text_byte_for_byte(engine):
    words = [f"wörd{i} " for i in range(60)]

    @engine.workflow("writer")
    def writer(ctx, input):
        for i, w in enumerate(words):
            ctx.chunk("page/1", w)
            if i % 6 == 5:
                ctx.progress({"words": i + 1})
                time.sleep(0.03)  # lets the text be stored in pieces
        return {"words": len(words)}

    engine.launch()
    run = engine.start("writer", {})

    async def main():
        served = 0

        async def handle(reader, writer):
            nonlocal served
            served += 1
            headers = {}
            while (line := (await reader.readline()).decode().strip()):
                name, _, value = line.partition(":")
                headers[name.lower()] = value.strip()
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                         b"connection: close\r\n\r\n")
            # The first three connections drop mid-stream, as a network would, after a
            # few events (the replay of stored events on reconnecting gives them).
            writes = 0
            async for data in storyloom.sse(engine, run.id, headers.get("last-event-id")):
                writer.write(data)
                await writer.drain()
                writes += 1
                if served <= 3 and writes == 4:
                    break
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server, httpx.AsyncClient(timeout=10) as http:
            reader = RunReader(f"http://127.0.0.1:{port}/events", http, retry=0.05)
            return reader, await asyncio.wait_for(reader.follow(), 30)

    reader, view = asyncio.run(main())
    assert reader.connections >= 4
    assert reader.text("page/1") == "".join(words)
    assert view.gaps == 0
    assert view.status == "completed" and view.output == {"words": 60}
    assert view.progress == {"words": 60}
