"""Outcomes of the engine's asynchronous calls (llm steps, resource admissions, commits of
step results) brought to the asyncio loop of an engine's async workflows.

The callbacks of those calls run on engine threads (the LLM client's I/O thread, the
resource limiter's, the store's writer thread) that must never wait for the GIL: the native module copies each
outcome into an :class:`_native.Inbox`, which one feeder thread per engine drains and
hands to the engine's loop with ``loop.call_soon_threadsafe``, as the event streams do. An
outcome known before the call returns (a memoized step, an admission at once) is returned
directly. Sync workflows do not come here: their worker thread waits in the native module
with the GIL released."""

from __future__ import annotations

import asyncio
import itertools
import threading
from typing import Callable

from . import _http, _image, _llm, _native
from .errors import FATAL, _from_native

Outcome = tuple  # (status, error_class, message, result JSON or None, memoized, will_retry)


def admitted(outcome: Outcome) -> None:
    """Returns when the call succeeded (a resource admitted the step, a write was
    committed); raises its error (Cancelled, Closed, StoreError...) otherwise."""
    status, _cls, message, *_ = outcome
    if status != _native.OK:
        raise _from_native(status, FATAL, message)


class Completions:
    """Awaitable engine calls for the async workflows of one engine, on its loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._inbox = _native.Inbox()
        self._tokens = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[Outcome]] = {}  # touched on the loop only
        self._thread = threading.Thread(target=self._feed, name="storyloom-outcomes", daemon=True)
        self._thread.start()

    async def llm(
        self, execution: _native.Execution, name: str, request: str, retry: str = ""
    ) -> _llm.LlmResult:
        """The llm step ``name``'s result (or its error raised)."""
        return _llm.settle(
            await self._outcome(
                lambda inbox, token: execution.llm_begin(name, request, inbox, token, retry)
            )
        )

    async def http(
        self, execution: _native.Execution, name: str, request: str, retry: str
    ) -> _http.HttpResult:
        """The http step ``name``'s result (or its error raised)."""
        return _http.settle(
            await self._outcome(
                lambda inbox, token: execution.http_begin(name, request, retry, inbox, token)
            )
        )

    async def image(
        self, execution: _native.Execution, name: str, request: str, retry: str
    ) -> _image.ImageResult:
        """The image step ``name``'s result (or its error raised)."""
        return _image.settle(
            await self._outcome(
                lambda inbox, token: execution.image_begin(name, request, retry, inbox, token)
            )
        )

    async def acquire(
        self, execution: _native.Execution, seq: int, resource: str, tokens: float
    ) -> None:
        """Returns once ``resource`` admitted the host step ``seq``."""
        admitted(
            await self._outcome(
                lambda inbox, token: execution.acquire_begin(seq, resource, tokens, inbox, token)
            )
        )

    async def step_complete(self, execution: _native.Execution, seq: int, text: str) -> None:
        """Records the host step ``seq``'s result; returns once it is committed (raises
        StoreError, Cancelled or InvalidState when it never will be)."""
        admitted(
            await self._outcome(
                lambda inbox, token: execution.step_complete_begin(seq, text, inbox, token)
            )
        )

    async def durable(self, execution: _native.Execution) -> None:
        """Returns once everything ``execution`` wrote so far is committed (at once when
        nothing is pending); raises like :meth:`step_complete`."""
        admitted(await self._outcome(execution.when_durable_begin))

    async def _outcome(self, begin: Callable[[_native.Inbox, int], Outcome | None]) -> Outcome:
        token = next(self._tokens)
        future: asyncio.Future[Outcome] = self._loop.create_future()
        self._waiting[token] = future
        try:
            early = begin(self._inbox, token)
            return early if early is not None else await future
        finally:
            self._waiting.pop(token, None)

    def close(self) -> None:
        """Stops the feeder; calls still in flight are never settled (their tasks are
        cancelled with the loop)."""
        self._inbox.close()
        self._thread.join(timeout=5)

    def _feed(self) -> None:
        inbox = self._inbox
        while True:
            batch = inbox.next_batch(-1, 256)
            if not batch:
                if inbox.closed:
                    return
                continue
            try:
                self._loop.call_soon_threadsafe(self._deliver, batch)
            except RuntimeError:  # the loop is closed: nobody is waiting
                return

    def _deliver(self, batch: list[tuple[int, Outcome]]) -> None:
        for token, outcome in batch:
            future = self._waiting.pop(token, None)
            if future is not None and not future.done():  # done: its task was cancelled
                future.set_result(outcome)
