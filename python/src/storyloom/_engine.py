"""Engine and workflow context over storyloom._native (which calls only the C ABI)."""

from __future__ import annotations

import asyncio
import atexit
import inspect
import json
import threading
import time
import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Callable, TypeVar

if TYPE_CHECKING:
    from typing_extensions import Self

from . import _native
from ._types import TERMINAL_STATUSES, Artifact, Event, Run, RunPage, Snapshot
from .errors import FATAL, StoryloomError, Timeout, _from_native

_native.set_error_factory(_from_native)

__all__ = ["Context", "Engine", "sse"]

F = TypeVar("F", bound=Callable[..., Any])
Workflow = Callable[["Context", Any], Any]


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _ms(seconds: float | None) -> int:
    return 0 if not seconds else max(1, round(seconds * 1000))  # 0: the engine's default


class _Parked(BaseException):
    """Unwinds a workflow whose wait is not satisfied yet. Derived from BaseException so
    that ``except Exception`` in workflow code lets it pass; do not catch it."""


class Context:
    """What a workflow function gets: durable steps and waits, and outside effects.
    Valid only during the call of the workflow function, on its thread."""

    def __init__(self, engine: weakref.ref[Engine], execution: _native.Execution) -> None:
        self._engine_ref = engine  # weak: the last reference must not die on an engine thread
        self._x = execution
        self.run_id: str = execution.run_id()
        self.workflow: str = execution.workflow()

    @property
    def engine(self) -> Engine:
        engine = self._engine_ref()
        if engine is None:
            raise RuntimeError("the engine of this workflow is gone")
        return engine

    @property
    def cancelled(self) -> bool:
        """True once the run was cancelled or the engine is closing: stop early."""
        return self._x.cancelled()

    def step(self, name: str, fn: Callable[[], Any]) -> Any:
        """Runs ``fn()`` once per run, ever: its JSON result is stored and returned again on
        every later execution without calling ``fn``. An exception from ``fn`` is recorded
        as the step's failure ("TypeName: message"), which fails the run, and re-raised."""
        seq, memoized, result = self._x.step_begin(name)
        if memoized:
            return json.loads(result) if result is not None else None
        try:
            value = fn()
            if inspect.isawaitable(value):
                value = _run_coroutine(value)
            text = _dumps(value)
        except Exception as e:
            self._x.step_fail(seq, FATAL, _describe(e))
            raise
        self._x.step_complete(seq, text)
        return json.loads(text)  # the same value a replay returns (tuples become lists)

    def sleep(self, name: str, seconds: float) -> None:
        """Durable sleep counted from the first call; parks the run until it is over."""
        if seconds < 0:
            raise ValueError(f"sleep '{name}': seconds is {seconds}; it must not be negative")
        state = self._x.sleep(name, round(seconds * 1000))
        if state == _native.WAIT_PARKED:
            raise _Parked()

    def wait_for_signal(self, name: str, timeout: float | None = None) -> Any:
        """Returns the payload of the signal ``name`` (sent before or after this call);
        parks the run until it comes. Raises storyloom.Timeout after ``timeout`` seconds."""
        timeout_ms = -1 if timeout is None else round(timeout * 1000)
        state, payload = self._x.wait_for_signal(name, timeout_ms)
        if state == _native.WAIT_PARKED:
            raise _Parked()
        if state == _native.WAIT_TIMED_OUT:
            raise Timeout(12, f"no signal '{name}' came within {timeout} s")
        return json.loads(payload) if payload is not None else None

    def invoke(self, name: str, workflow: str, input: dict[str, Any]) -> Any:
        """Starts ``workflow`` on ``input`` as a child run, once, and returns its output;
        parks the run until the child ends. Raises StepFailed when the child fails."""
        state, output = self._x.invoke(name, workflow, _dumps(input))
        if state == _native.WAIT_PARKED:
            raise _Parked()
        return json.loads(output) if output is not None else None

    def progress(self, value: Any) -> None:
        """Sets the run's progress (not repeated while replaying recorded steps)."""
        self._x.progress(_dumps(value))

    def artifact(self, key: str, value: Any) -> None:
        """Stores a new version of the artifact ``key``."""
        self._x.artifact(key, _dumps(value))

    def emit(self, type: str, data: Any = None) -> None:
        """A custom event; run.*, step.*, chunk, progress and artifact are reserved."""
        self._x.emit(type, _dumps({} if data is None else data))

    def chunk(self, stream: str, text: str) -> None:
        """Token text of ``stream``: delivered live at once, persisted coalesced."""
        self._x.chunk(stream, text)


def _describe(e: BaseException) -> str:
    text = str(e)
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def _run_coroutine(awaitable: Any) -> Any:
    """Runs an awaitable to its end on this engine thread (in a helper thread when an event
    loop already runs here, as inside an async workflow)."""

    async def main() -> Any:
        return await awaitable

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(main())
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = asyncio.run(main())
        except BaseException as e:  # noqa: BLE001 - handed back to the caller below
            outcome["error"] = e

    helper = threading.Thread(target=run, name="storyloom-step")
    helper.start()
    helper.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


_in_workflow = threading.local()


def _finish(execution: _native.Execution, finish: Callable[..., None], *args: Any) -> None:
    # A finish call ends the execution even when it fails (the run then fails with that
    # error, or goes back to the queue when the engine is closing): nobody to tell here.
    if execution.finished:
        return
    try:
        finish(*args)
    except StoryloomError:
        pass


_open_engines: weakref.WeakSet[Engine] = weakref.WeakSet()


@atexit.register
def _close_open_engines() -> None:
    # Engine threads must not wait for the GIL of an interpreter that is finalizing.
    for engine in list(_open_engines):
        engine.close()


class Engine:
    """One open store plus its worker threads. Use as a context manager or call close().

    store: "sqlite:PATH", a PATH, or ":memory:". Times are in seconds; None or 0 means
    the engine's default (workers 4, poll_interval 0.05, lease_ttl 10, drain_timeout 5).
    Workflow functions run on the engine's worker threads."""

    def __init__(
        self,
        store: str = ":memory:",
        *,
        workers: int = 0,
        max_executions: int = 0,
        max_payload_bytes: int = 0,
        poll_interval: float | None = None,
        lease_ttl: float | None = None,
        drain_timeout: float | None = None,
    ) -> None:
        self._native = _native.Engine(
            store,
            workers,
            max_executions,
            max_payload_bytes,
            _ms(poll_interval),
            _ms(lease_ttl),
            _ms(drain_timeout),
        )
        self._workflows: dict[str, Workflow] = {}
        self._close_lock = threading.Lock()
        _open_engines.add(self)

    # ---- lifecycle ----

    def close(self) -> None:
        """Stops claiming runs, waits up to drain_timeout for executions in flight and puts
        the rest back in the queue. Idempotent. Not from inside a workflow function."""
        if getattr(_in_workflow, "active", False):
            raise RuntimeError("Engine.close() cannot be called from inside a workflow function")
        with self._close_lock:
            self._native.close()
        _open_engines.discard(self)

    @property
    def closed(self) -> bool:
        return self._native.closed

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- workflows ----

    def workflow(self, name: str) -> Callable[[F], F]:
        """Registers ``fn(ctx, input)`` (plain or ``async def``) as the workflow ``name``."""

        def register(fn: F) -> F:
            self.register(name, fn)
            return fn

        return register

    def register(self, name: str, fn: Workflow) -> None:
        self._native.register_workflow(name, self._handler_for(fn))
        self._workflows[name] = fn

    def _handler_for(self, fn: Workflow) -> Callable[[_native.Execution], None]:
        engine_ref = weakref.ref(self)

        def handle(execution: _native.Execution) -> None:
            # On an engine worker thread, GIL held: drive the whole execution here.
            _in_workflow.active = True
            try:
                ctx = Context(engine_ref, execution)
                value = fn(ctx, json.loads(execution.input()))
                if inspect.isawaitable(value):
                    value = _run_coroutine(value)
                output = _dumps(value)
            except _Parked:
                _finish(execution, execution.finish_parked)
                return
            except BaseException as e:  # noqa: BLE001 - the run must end whatever happened
                _finish(execution, execution.finish_failed, FATAL, _describe(e))
                return
            finally:
                _in_workflow.active = False
            _finish(execution, execution.finish_completed, output)

        return handle

    # ---- runs ----

    def start(
        self,
        workflow: str,
        input: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        owner: str | None = None,
        priority: int = 0,
    ) -> Run:
        """Starts a run of ``workflow`` on ``input`` (a JSON object); durable on return.
        The same idempotency_key returns the existing run."""
        text = _dumps({} if input is None else input)
        return Run._from(
            json.loads(self._native.start(workflow, text, idempotency_key, owner, priority))
        )

    def get(self, run_id: str) -> Run:
        return Run._from(json.loads(self._native.get_run(run_id)))

    def list(
        self,
        *,
        status: str | None = None,
        workflow: str | None = None,
        owner: str | None = None,
        limit: int = 0,
        after: str | None = None,
    ) -> RunPage:
        """A page of runs, oldest first; empty filters do not filter; limit 1..1000 [100]."""
        page = json.loads(self._native.list_runs(status, workflow, owner, limit, after))
        return RunPage([Run._from(r) for r in page["runs"]], page.get("next_cursor", ""))

    def delete(self, run_id: str) -> None:
        self._native.delete_run(run_id)

    def cancel(self, run_id: str) -> None:
        self._native.cancel(run_id)

    def retry(self, run_id: str) -> None:
        self._native.retry(run_id)

    def signal(self, run_id: str, name: str, payload: Any = None) -> None:
        self._native.signal(run_id, name, _dumps({} if payload is None else payload))

    def snapshot(self, run_id: str) -> Snapshot:
        return Snapshot._from(json.loads(self._native.snapshot(run_id)))

    def artifacts(self, run_id: str) -> list[Artifact]:
        return [Artifact._from(a) for a in json.loads(self._native.artifacts(run_id))]

    def stored_events(self, run_id: str, after: int = 0, limit: int = 0) -> list[Event]:
        """Stored events with id > after, at most limit (0: 1000)."""
        return [Event._from_json(e) for e in json.loads(self._native.events(run_id, after, limit))]

    def events(
        self, run_id: str, after: int = 0, *, timeout: float | None = None
    ) -> Iterator[Event]:
        """The run's stored events after ``after``, then live ones (transient chunks and
        cursors included), ending with the event that ends the run. Raises
        storyloom.Timeout when the run has not ended within ``timeout`` seconds."""
        for event in self._follow(run_id, after, timeout=timeout, idle=None):
            if event is not None:
                yield event

    def wait(self, run_id: str, timeout: float | None = None) -> Run:
        """Blocks until the run ends; returns it. Raises storyloom.Timeout."""
        for _ in self.events(run_id, timeout=timeout):
            pass
        return self.get(run_id)

    def _follow(
        self, run_id: str, after: int, *, timeout: float | None, idle: float | None
    ) -> Iterator[Event | None]:
        # Yields events, and None after each `idle` seconds without one.
        deadline = None if timeout is None else time.monotonic() + timeout
        sub = self._native.subscribe(run_id, int(after))
        last_id = int(after)
        quiet_since = last_check = time.monotonic()
        try:
            while True:
                raw = sub.next(0.1)
                now = time.monotonic()
                if raw is None:
                    if deadline is not None and now >= deadline:
                        raise Timeout(12, f"run '{run_id}' did not end within {timeout} s")
                    if idle is not None and now - quiet_since >= idle:
                        quiet_since = now
                        yield None
                    if now - last_check >= 0.5:
                        # Subscribed after the run's last event: nothing more will come.
                        last_check = now
                        if self._ended(run_id, last_id):
                            return
                    continue
                quiet_since = now
                event = Event._from_native(raw)
                if event.kind != "transient":
                    last_id = max(last_id, event.id)
                yield event
                if event.ends_run and self._ended(run_id, event.id):
                    return
        finally:
            sub.close()

    def _ended(self, run_id: str, last_id: int) -> bool:
        # A failed run that was retried has more events after its run.failed.
        return self.get(run_id).status in TERMINAL_STATUSES and not json.loads(
            self._native.events(run_id, last_id, 1)
        )


def sse(
    engine: Engine,
    run_id: str,
    last_event_id: int | str | None = 0,
    *,
    heartbeat: float = 15.0,
    retry: float | None = None,
) -> Iterator[bytes]:
    """Server-sent events of a run as bytes, resuming after ``last_event_id`` (the
    Last-Event-ID header), until the run ends; ``: heartbeat`` comments while idle."""
    after = int(last_event_id) if last_event_id not in (None, "") else 0
    if retry is not None:
        yield _native.sse_retry(int(retry * 1000))
    for event in engine._follow(run_id, after, timeout=None, idle=heartbeat):
        if event is None:
            yield _native.sse_heartbeat()
        else:
            yield event_to_sse(event)


def event_to_sse(event: Event) -> bytes:
    """One event in the SSE wire format (``id:``, ``event:``, ``data:`` lines)."""
    kind = {
        "stored": _native.EVENT_STORED,
        "transient": _native.EVENT_TRANSIENT,
        "cursor": _native.EVENT_CURSOR,
    }[event.kind]
    return _native.event_to_sse(
        event.id, kind, event.run_id, event.type, event._data_json, event.created_at_ms
    )
