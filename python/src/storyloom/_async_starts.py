"""Starts awaited on any asyncio loop without a thread per start.

``Engine.astart`` queues the start with ``sl_engine_start_async``: the engine commits it
with the other writes of its batch and calls back on its writer thread, which must never
wait for the GIL. The native module copies that outcome into an :class:`_native.Inbox`;
one feeder thread per engine (started on first use) drains it a batch at a time and
settles the batch's futures with one call per loop that awaits them (one wake-up of that
loop, not one per start). So an event-loop host keeps many starts in flight and
they share commits, where a thread per start would serialize them."""

from __future__ import annotations

import asyncio
import itertools
import threading
from typing import Callable

from . import _native
from .errors import FATAL, _from_native

Outcome = tuple  # (status, error_class, message, run JSON or None, memoized, will_retry)
_Waiter = tuple  # (loop, future)


class AsyncStarts:
    def __init__(self) -> None:
        self._inbox = _native.Inbox()
        self._tokens = itertools.count(1)
        self._lock = threading.Lock()
        self._waiting: dict[int, _Waiter] = {}
        self._thread: threading.Thread | None = None

    async def start(self, begin: Callable[[_native.Inbox, int], None]) -> str:
        """Runs ``begin(inbox, token)`` (which raises at once for bad arguments) and
        returns the run JSON once the start is durable; raises its error otherwise. A
        cancelled await does not undo the start: the run is created all the same."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Outcome] = loop.create_future()
        token = next(self._tokens)
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._feed, name="storyloom-starts", daemon=True
                )
                self._thread.start()
            self._waiting[token] = (loop, future)
        try:
            begin(self._inbox, token)
        except BaseException:
            with self._lock:
                self._waiting.pop(token, None)
            raise
        status, _cls, message, run_json, *_ = await future
        if status != _native.OK or run_json is None:
            raise _from_native(status, FATAL, message)
        return str(run_json)

    def close(self) -> None:
        """After the engine closed (every queued start has had its outcome): stops the
        feeder once it has handed out what is left."""
        self._inbox.close()
        thread = self._thread
        if thread is not None:
            thread.join(timeout=5)

    def _feed(self) -> None:
        inbox = self._inbox
        while True:
            batch = inbox.next_batch(-1, 256)
            if not batch:
                if inbox.closed:
                    return
                continue
            by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Outcome], Outcome]]]
            by_loop = {}
            with self._lock:
                for token, outcome in batch:
                    waiter = self._waiting.pop(token, None)
                    if waiter is not None:
                        loop, future = waiter
                        by_loop.setdefault(loop, []).append((future, outcome))
            for loop, settled in by_loop.items():
                try:
                    loop.call_soon_threadsafe(_settle, settled)
                except RuntimeError:  # that loop is closed: nobody is waiting
                    pass


def _settle(settled: list[tuple[asyncio.Future[Outcome], Outcome]]) -> None:
    for future, outcome in settled:
        if not future.done():  # done: its task was cancelled
            future.set_result(outcome)
