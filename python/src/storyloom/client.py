"""storyloom.client: reading a run's server-sent events from another program, over httpx
(``pip install httpx``; not needed by the rest of storyloom). The Python twin of the npm
package's ``storyloom/client``.

:class:`RunReader` follows an SSE endpoint of a run (e.g. one answering with
:func:`storyloom.sse`), reconnects after a dropped connection sending ``Last-Event-ID``,
skips stored events it has applied (by id) and chunk bytes it has (by offset), resets a
stream at a new llm attempt (``attempt_start``), and keeps the run's status, progress and
each stream's current text::

    async with httpx.AsyncClient() as http:
        reader = RunReader(f"{base}/api/events/{run_id}", http)
        async for view in reader:            # after each event, until the run ends
            print(view.status, reader.text("page/1")[-40:])

The pure functions :func:`apply_chunk` and :func:`apply_event` hold the rules; use them
with events you receive otherwise."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

__all__ = ["RunReader", "RunView", "StreamText", "apply_attempt", "apply_chunk", "apply_event"]


@dataclass(frozen=True)
class StreamText:
    """The current attempt's bytes [start, end) of a stream (offsets count UTF-8 bytes)."""

    text: str = ""
    start: int = 0
    end: int = 0


@dataclass(frozen=True)
class RunView:
    """What a reader knows of the run; ``last_event_id`` is the last stored event applied."""

    status: str = ""
    progress: Any = None
    streams: Mapping[str, StreamText] = field(default_factory=dict)
    active_stream: str | None = None
    output: Any = None
    error: Any = None
    last_event_id: int = 0
    gaps: int = 0  # chunks that started past their stream's end (never expected)

    @property
    def finished(self) -> bool:
        return self.status in ("completed", "failed", "cancelled")


_STATUS_OF = {
    "run.created": "queued",
    "run.queued": "queued",
    "run.resumed": "queued",
    "run.retried": "queued",
    "run.released": "queued",
    "run.recovered": "queued",
    "run.rewound": "queued",
    "run.started": "running",
    "run.waiting": "waiting",
    "run.sleeping": "sleeping",
    "run.completed": "completed",
    "run.failed": "failed",
    "run.cancelled": "cancelled",
}


def _for_attempt(current: StreamText, attempt_start: int) -> StreamText:
    return current if attempt_start <= current.start else StreamText("", attempt_start, attempt_start)


def apply_chunk(
    streams: Mapping[str, StreamText], chunk: Mapping[str, Any]
) -> tuple[Mapping[str, StreamText], bool, bool]:
    """Applies a chunk {stream, offset, text, attempt_start} once; returns (streams,
    changed, gap). A newer attempt first clears its stream, an older one is dropped, and
    only the bytes past what the stream has are appended."""
    name = str(chunk["stream"])
    known = streams.get(name, StreamText())
    attempt = chunk.get("attempt_start")
    attempt_start = attempt if isinstance(attempt, int) else known.start
    if attempt_start < known.start:
        return streams, False, False
    current = _for_attempt(known, attempt_start)
    data = str(chunk["text"]).encode()
    offset = int(chunk["offset"])
    end = offset + len(data)
    if end <= current.end:
        if current is known:
            return streams, False, False
        return {**streams, name: current}, True, False
    gap = offset > current.end
    fresh = data[current.end - offset :] if offset < current.end else data
    text = current.text + fresh.decode(errors="replace")
    return {**streams, name: StreamText(text, current.start, end)}, True, gap


def apply_attempt(
    streams: Mapping[str, StreamText], stream: Any, offset: Any
) -> Mapping[str, StreamText]:
    """An llm.attempt {stream, offset}: a stream showing an older attempt is cleared."""
    if not isinstance(stream, str) or not isinstance(offset, int) or stream not in streams:
        return streams
    current = _for_attempt(streams[stream], offset)
    return streams if current is streams[stream] else {**streams, stream: current}


def apply_event(view: RunView, event_id: int, event_type: str, data: Any) -> RunView:
    """One event applied to a view (the same view when nothing changed); ``event_id`` 0 for
    a transient chunk. A stored event at or before ``last_event_id`` is a duplicate."""
    if 0 < event_id <= view.last_event_id:
        return view
    d = data if isinstance(data, dict) else {}
    changes: dict[str, Any] = {}
    if event_type == "chunk":
        streams, changed, gap = apply_chunk(view.streams, d)
        if changed:
            changes.update(streams=streams, active_stream=d.get("stream"))
        if gap:
            changes["gaps"] = view.gaps + 1
    else:
        if event_type in _STATUS_OF:
            changes["status"] = _STATUS_OF[event_type]
        if event_type == "progress":
            changes["progress"] = data
        if event_type == "run.completed":
            changes["output"] = d.get("output")
        if event_type == "run.failed":
            changes["error"] = d.get("error")
        if event_type == "llm.attempt":
            changes["streams"] = apply_attempt(view.streams, d.get("stream"), d.get("offset"))
    if event_id > 0:
        changes["last_event_id"] = event_id
    return dataclasses.replace(view, **changes) if changes else view


class RunReader:
    """Follows a run's SSE endpoint ``url`` with ``client`` (an ``httpx.AsyncClient``)
    until the run ends. Iterate it (``async for view in reader``) to get the view after
    each event, or ``await reader.follow()`` for the final one. ``retry``: seconds between
    reconnections; ``max_reconnects``: give up (raising the last error) after that many
    failed connections in a row."""

    def __init__(
        self,
        url: str,
        client: httpx.AsyncClient,
        *,
        view: RunView | None = None,
        retry: float = 0.5,
        max_reconnects: int = 20,
    ) -> None:
        self.url = url
        self.view = view or RunView()
        self.connections = 0
        self._client = client
        self._retry = retry
        self._max_reconnects = max_reconnects
        self._last_id = str(self.view.last_event_id) if self.view.last_event_id else ""

    def text(self, stream: str) -> str:
        """The current text of ``stream`` ("" when none yet)."""
        found = self.view.streams.get(stream)
        return found.text if found else ""

    async def follow(self) -> RunView:
        """Reads until the run ends; returns the final view."""
        async for _ in self:
            pass
        return self.view

    async def __aiter__(self) -> AsyncIterator[RunView]:
        import httpx

        failures = 0
        while not self.view.finished:
            headers = {"Accept": "text/event-stream"}
            if self._last_id:
                headers["Last-Event-ID"] = self._last_id
            try:
                async with self._client.stream("GET", self.url, headers=headers) as response:
                    response.raise_for_status()
                    self.connections += 1
                    failures = 0
                    async for view in self._read(response):
                        yield view
            except (httpx.TransportError, httpx.HTTPStatusError):
                failures += 1
                if failures > self._max_reconnects:
                    raise
            if not self.view.finished:
                await asyncio.sleep(self._retry)

    async def _read(self, response: httpx.Response) -> AsyncIterator[RunView]:
        event_type, data = "message", []
        async for line in response.aiter_lines():
            if line == "":
                if data:
                    before = self.view
                    event_id = 0 if event_type == "chunk" else _int(self._last_id)
                    payload = json.loads("\n".join(data))
                    self.view = apply_event(self.view, event_id, event_type, payload)
                    if self.view is not before:
                        yield self.view
                    if self.view.finished:
                        return
                event_type, data = "message", []
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "event":
                event_type = value
            elif name == "data":
                data.append(value)
            elif name == "id":
                self._last_id = value


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 0
