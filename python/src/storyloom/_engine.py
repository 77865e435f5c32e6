"""Engine and workflow context over storyloom._native (which calls only the C ABI).

Threads and event loops (the model every docstring below refers to):

- Plain workflow functions run on the engine's worker threads, holding the GIL only while
  Python runs; every blocking engine call releases it.
- ``async def`` workflow functions run on one asyncio loop that the engine owns (a thread
  named ``storyloom-asyncio``, started on first use and stopped by ``close()``). The worker
  thread that received the execution hands it to that loop and is free at once; the
  workflow gets an :class:`AsyncContext` whose steps and waits are awaited. The loop is
  shared by every async workflow of the engine: do not block it (use
  ``asyncio.to_thread`` for blocking work inside a step).
- An ``async def`` step function given to the plain :meth:`Context.step` runs on that loop
  too, while the worker thread waits for it.
- Your own event loop is never used by the engine: the ``a*`` methods of :class:`Engine`
  run the blocking call in a thread (GIL released) and are awaited, and
  ``async for`` over :meth:`Engine.events` / :func:`sse` gets each event from a feeder
  thread through ``loop.call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import atexit
import builtins
import contextvars
import inspect
import json
import os
import sys
import threading
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Callable, Generic, Literal, TypeVar, Union, cast, overload

if TYPE_CHECKING:
    from typing_extensions import Self

from . import (
    _args,
    _async_starts,
    _completions,
    _config,
    _http,
    _image,
    _llm,
    _metrics,
    _native,
    _origin,
    _telemetry,
    _webhooks,
)
from ._budget import _NO_BUDGET, RunBudget
from ._webhooks import InboundResult, WebhookDelivery, WebhookSubscription
from ._config import ImageConfig, LlmConfig, ResourceLimits
from ._image import ImageResult
from ._http import HttpHeader, HttpResult, StepRetry
from ._llm import LlmMessage, LlmResult
from ._options import Concurrency, RetryPolicy, Throttle, checked_ms, native_limits, native_retry
from ._types import (
    TERMINAL_STATUSES,
    Artifact,
    Event,
    LlmProviders,
    ResourceStatus,
    Run,
    RunPage,
    Snapshot,
)
from .errors import (
    FATAL,
    RATE_LIMITED,
    RETRYABLE,
    TIMEOUT,
    Cancelled,
    FatalError,
    WorkflowFailed,
    InvalidArgument,
    RateLimited,
    StoryloomError,
    Timeout,
    _from_json,
    _from_native,
)

_native.set_error_factory(_from_native)

__all__ = ["AsyncContext", "Context", "Engine", "EventStream", "event_to_sse", "sse"]

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")
# A workflow: fn(ctx, input) with a Context, or an async def one with an AsyncContext.
Workflow = Union[Callable[["Context", Any], Any], Callable[["AsyncContext", Any], Awaitable[Any]]]


# allow_nan=False: NaN and infinities are not JSON; refused here, naming the value's
# place, rather than by the engine's parser with a C-level "not valid JSON".
_encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _json_text(what: str, value: Any) -> str:
    """``value`` as JSON text; TypeError naming ``what`` when it is not JSON (a set, an
    object, NaN or an infinity)."""
    try:
        return _encoder.encode(value)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{what} is not JSON: {e}") from None


def _dumps(value: Any) -> str:
    return _json_text("the value", value)


def _ms(seconds: float | None, name: str) -> int:
    return 0 if not seconds else max(1, checked_ms(name, seconds))  # 0: the engine's default


# ctx.http's json= default: None is a JSON body (null), so absence needs its own marker.
_NO_JSON: Any = object()


class _Parked(BaseException):
    """Unwinds a workflow whose wait is not satisfied yet. Derived from BaseException so
    that ``except Exception`` in workflow code lets it pass; do not catch it."""


class Context:
    """What a workflow function gets: durable steps and waits, and outside effects.
    Valid only during the call of the workflow function, on its thread."""

    def __init__(self, engine: weakref.ref[Engine], execution: _native.Execution) -> None:
        self._engine_ref = engine  # weak: the last reference must not die on an engine thread
        self._x = execution
        self._running_seq: int | None = None  # the host step whose fn runs now (heartbeat)
        self._parked_at: str | None = None  # the wait that raised _Parked, if any
        self.run_id: str = execution.run_id()
        self.workflow: str = execution.workflow()

    def _park(self) -> _Parked:
        # Remembered: a workflow that catches _Parked (except BaseException) and returns
        # anyway is failed, saying so, instead of completing with its wait pending.
        self._parked_at = sys._getframe(1).f_code.co_name  # sleep, wait_for_signal, invoke
        return _Parked()

    def _swallowed_park(self) -> str | None:
        """The message for a workflow that returned after a wait parked it, else None."""
        if self._parked_at is None:
            return None
        return (
            f"workflow '{self.workflow}' returned after ctx.{self._parked_at}() parked run "
            f"'{self.run_id}': it caught storyloom's internal _Parked exception (a "
            "BaseException that unwinds the workflow until the wait is over); do not catch "
            "BaseException around engine calls, or re-raise it"
        )

    @property
    def engine(self) -> Engine:
        """The engine running this workflow (to start other runs, send signals...)."""
        engine = self._engine_ref()
        if engine is None:
            raise RuntimeError("the engine of this workflow is gone")
        return engine

    @property
    def cancelled(self) -> bool:
        """True once the run was cancelled or the engine is closing: stop early."""
        return self._x.cancelled()

    @overload
    def step(
        self,
        name: str,
        fn: Callable[[], Awaitable[T]],
        *,
        resource: str | None = None,
        tokens: float = 0.0,
    ) -> T: ...

    @overload
    def step(
        self,
        name: str,
        fn: Callable[[], T],
        *,
        resource: str | None = None,
        tokens: float = 0.0,
    ) -> T: ...

    def step(
        self,
        name: str,
        fn: Callable[[], Any],
        *,
        resource: str | None = None,
        tokens: float = 0.0,
        retry: StepRetry | bool | None = None,
    ) -> Any:
        """Runs ``fn()`` once per run, ever: its JSON result is stored and returned again on
        every later execution without calling ``fn``. An ``async def`` fn runs on the
        engine's asyncio loop while this thread waits. An exception from ``fn`` is recorded
        as a failed attempt ("TypeName: message") and re-raised: when the workflow's
        RetryPolicy retries it, the run is queued again after the backoff and this step runs
        again; otherwise the run fails. FatalError is never retried; raise
        :class:`storyloom.RateLimited` to retry after the API's retry-after instead.

        ``resource``: ``fn`` runs once that resource (e.g. "image-api", limited with
        :meth:`Engine.configure_resource`) admits the step, costing about ``tokens`` of its
        token budget; this thread waits meanwhile (the engine holds none) and the use is
        returned when ``fn`` returns or raises. A RateLimited failure pauses the resource
        for its retry-after. Raises Cancelled if the run is cancelled while it waits.

        Durable before visible: the call returns ``fn``'s result only once it is committed
        to the store (this thread waits, GIL released). When that commit fails it raises
        storyloom.StoreError (the run goes back to the queue and this step runs again), or
        Cancelled / InvalidState when the run was cancelled or taken over meanwhile; let
        it propagate: every later engine call of this execution fails the same way."""
        _args.text("ctx.step", "name", name)
        _args.function(f"ctx.step '{name}'", "fn", fn)
        seq, memoized, result = self._x.step_begin(name, _http.retry_json(f"step '{name}'", retry))
        if memoized:
            return json.loads(result) if result is not None else None
        if resource is not None:
            _completions.admitted(self._x.acquire(seq, resource, _tokens(tokens)))
        self._running_seq = seq
        try:
            value = fn()
            if type(value) not in _JSON_TYPES and inspect.isawaitable(value):
                value = self.engine._run_on_loop(value)
            text = _json_text(f"the result of step '{name}'", value)
        except Exception as e:
            _fail_step(self._x, seq, e)
            raise
        finally:
            self._running_seq = None
        self._x.step_complete(seq, text)  # returns once the result is committed
        return _as_replayed(value, text)

    def heartbeat(self) -> None:
        """Tells the engine that the step being run (from its ``fn``) is alive: the
        workflow's ``step_timeout`` counts again from now. A step silent past its timeout
        loses its attempt (retried per the policy; the late result is refused). Raises
        RuntimeError outside a step function."""
        self._x.heartbeat(self._heartbeat_seq())

    def _heartbeat_seq(self) -> int:
        seq = self._running_seq
        if seq is None:
            raise RuntimeError(
                f"ctx.heartbeat() outside a step of run '{self.run_id}': call it from the "
                "function given to ctx.step while it runs"
            )
        return seq

    def llm(
        self,
        name: str,
        messages: Sequence[LlmMessage] | str,
        *,
        provider: str | None = None,
        model: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        stream: bool = True,
        stream_name: str | None = None,
        stop: str | Sequence[str] | None = None,
        idle_timeout: float | None = None,
        total_timeout: float | None = None,
        extra: Mapping[str, Any] | None = None,
        json_schema: Mapping[str, Any] | None = None,
        retry: StepRetry | bool | None = None,
    ) -> LlmResult:
        """The built-in llm step ``name``: a chat completion run by the engine (no Python
        on its I/O thread), memoized like :meth:`step`: once it completed, every later
        execution gets the stored :class:`LlmResult` without asking the provider again.

        ``messages``: ``[{"role": "system"|"user"|"assistant", "content": str}, ...]`` with
        at least one user message, or a str (one user message). ``provider``: a configured
        provider's name (None: the engine's default); ``model`` None: the provider's;
        ``max_tokens`` None: 1024; ``stream``: the text arrives as chunk events of
        ``stream_name`` (None: the step's name) while it is written. ``stop``: stop
        sequences; ``idle_timeout`` / ``total_timeout`` (seconds): this request's timeouts;
        ``extra``: provider-specific fields merged into the request body; ``json_schema``:
        structured output, the answer parsed into ``result.json`` and checked against it
        (docs/llm.md); ``retry``: this step's own :class:`StepRetry` (``False``: one
        attempt), replacing the default of 3 attempts. The call waits for the
        provider's resource (holding no engine thread) and blocks this worker thread, GIL
        released, until the answer is complete.

        Raises TypeError for an argument of the wrong type; InvalidArgument (bad request),
        NotFound (unknown provider); ProviderError when the provider refuses or fails
        (401/403/400 at once; 429, 5xx and broken streams after the workflow's retries),
        Timeout, Cancelled when the run is cancelled (at once, mid-stream too). When the
        retry policy tries the step again the error has ``will_retry`` True: let it
        propagate and the run is queued again after the backoff, as for a failed step."""
        request = _llm.request_json(
            name,
            messages,
            provider=provider,
            model=model,
            max_tokens=max_tokens,
            temperature=temperature,
            stream=stream,
            stream_name=stream_name,
            stop=stop,
            idle_timeout=idle_timeout,
            total_timeout=total_timeout,
            extra=extra,
            json_schema=json_schema,
        )
        return _llm.settle(
            self._x.llm(name, request, _http.retry_json(f"llm step '{name}'", retry))
        )

    def http(
        self,
        name: str,
        url: str,
        *,
        method: str = "GET",
        headers: Mapping[str, str] | Sequence[HttpHeader] | None = None,
        json: Any = _NO_JSON,
        body: bytes | str | None = None,
        resource: str | None = None,
        connect_timeout: float | None = None,
        idle_timeout: float | None = None,
        total_timeout: float | None = None,
        idempotency_header: str | None = None,
        retry: StepRetry | bool | None = None,
    ) -> HttpResult:
        """The built-in http step ``name``: one HTTP request sent by the engine, memoized
        like :meth:`step` (a replay, also after a crash, returns the stored
        :class:`HttpResult` without sending it again). Every attempt carries an
        ``Idempotency-Key`` header (``run_id:seq``, the same on every retry; rename it
        with ``idempotency_header``, "" sends none). ``json`` is sent as
        application/json, ``body`` as it is; ``headers`` a dict, or a list of
        :class:`HttpHeader` to mark some secret (Authorization, Cookie, X-Api-Key, ... are
        secret anyway): secret values never reach the store. Timeouts in seconds
        (connect 10, idle 30, total none).

        A 2xx or 3xx answer is returned. 408/409/425/429/5xx and broken connections are
        retried per ``retry`` (else the workflow's policy): the error then has
        ``will_retry`` True, let it propagate. Other 4xx raise StepFailed naming the
        status; InvalidArgument for a bad method, URL or header; Timeout; Cancelled when
        the run is cancelled (at once, mid-transfer too)."""
        request = _http.request_json(
            name, url, method=method, headers=headers, json_body=None if json is _NO_JSON else json,
            body=body, resource=resource, connect_timeout=connect_timeout,
            idle_timeout=idle_timeout, total_timeout=total_timeout,
            idempotency_header=idempotency_header, has_json=json is not _NO_JSON,
        )
        return _http.settle(
            self._x.http(name, request, _http.retry_json(f"http step '{name}'", retry))
        )

    def image(
        self,
        name: str,
        prompt: str,
        *,
        provider: str | None = None,
        model: str | None = None,
        size: str | None = None,
        artifact: str | None = None,
        extra: Mapping[str, Any] | None = None,
        idle_timeout: float | None = None,
        total_timeout: float | None = None,
        retry: StepRetry | bool | None = None,
    ) -> ImageResult:
        """The built-in image step ``name``: one picture from the engine's image provider
        (an OpenAI-compatible images API, or "offline": a labelled placeholder picture),
        memoized like :meth:`step`. The picture is stored as the binary artifact
        ``artifact`` (default: ``name``) in the same commit as the :class:`ImageResult`,
        which names its version. ``size`` is "WxH" (each 64..4096); ``extra`` fields are
        merged into the provider's request; timeouts in seconds.

        429 (after its Retry-After), 5xx, timeouts and malformed answers are retried per
        ``retry`` (else the workflow's policy, else 3 attempts): the error then has
        ``will_retry`` True, let it propagate. 400/401/403 raise StepFailed; InvalidArgument
        for a bad request, NotFound for an unknown provider; Cancelled when the run is
        cancelled (at once, mid-transfer too)."""
        request = _image.request_json(
            name, prompt, provider=provider, model=model, size=size, artifact=artifact,
            extra=extra, idle_timeout=idle_timeout, total_timeout=total_timeout,
        )
        return _image.settle(
            self._x.image(name, request, _http.retry_json(f"image step '{name}'", retry))
        )

    def sleep(self, name: str, seconds: float) -> None:
        """Durable sleep counted from the first call; parks the run until it is over."""
        _args.text("ctx.sleep", "name", name)
        _args.number(f"ctx.sleep '{name}'", "seconds", seconds)
        if seconds < 0:
            raise ValueError(f"sleep '{name}': seconds is {seconds}; it must not be negative")
        state = self._x.sleep(name, checked_ms(f"sleep '{name}'", seconds))
        if state == _native.WAIT_PARKED:
            raise self._park()
        self._x.wait_durable()  # a wait just satisfied is committed before the run goes on

    def wait_for_signal(self, name: str, timeout: float | None = None) -> Any:
        """Returns the payload of the signal ``name`` (sent before or after this call);
        parks the run until it comes. Raises storyloom.Timeout after ``timeout`` seconds."""
        _args.text("ctx.wait_for_signal", "name", name)
        timeout_ms = -1 if timeout is None else checked_ms(f"wait_for_signal '{name}': timeout", timeout)
        state, payload = self._x.wait_for_signal(name, timeout_ms)
        if state == _native.WAIT_PARKED:
            raise self._park()
        self._x.wait_durable()  # the consumed signal is committed before the run goes on
        return _signal_payload(name, timeout, state, payload)

    def invoke(self, name: str, workflow: str, input: dict[str, Any]) -> Any:
        """Starts ``workflow`` on ``input`` as a child run, once, and returns its output;
        parks the run until the child ends. Raises StepFailed when the child fails."""
        _args.text("ctx.invoke", "name", name)
        _args.text(f"ctx.invoke '{name}'", "workflow", workflow)
        state, output = self._x.invoke(name, workflow, _json_text(f"invoke '{name}': input", input))
        if state == _native.WAIT_PARKED:
            raise self._park()
        self._x.wait_durable()  # the child's output is committed before the run goes on
        return json.loads(output) if output is not None else None

    def progress(self, value: Any) -> None:
        """Sets the run's progress (not repeated while replaying recorded steps)."""
        self._x.progress(_json_text("ctx.progress: value", value))

    def artifact(self, key: str, value: Any) -> None:
        """Stores a new version of the artifact ``key``."""
        _args.text("ctx.artifact", "key", key)
        self._x.artifact(key, _json_text(f"artifact '{key}': value", value))

    def binary_artifact(self, key: str, content_type: str, data: bytes) -> None:
        """Stores a new version of the binary artifact ``key`` (a picture): ``data`` with a
        media type such as ``"image/png"``. Raises PayloadTooLarge over the engine's
        ``max_artifact_bytes``, InvalidArgument for a bad key or media type."""
        self._x.binary_artifact(key, content_type, bytes(data))

    def emit(self, type: str, data: Any = None) -> None:
        """A custom event; run.*, step.*, chunk, progress and artifact are reserved."""
        _args.text("ctx.emit", "type", type)
        self._x.emit(type, _json_text(f"emit '{type}': data", {} if data is None else data))

    def chunk(self, stream: str, text: str) -> None:
        """Token text of ``stream``: delivered live at once, persisted coalesced."""
        _args.text("ctx.chunk", "stream", stream)
        _args.text(f"ctx.chunk '{stream}'", "text", text)
        self._x.chunk(stream, text)


def _page_limit(call: str, limit: Any) -> int:
    """The native page size for ``limit`` (None: 0, the engine's default of 100)."""
    if limit is None:
        return 0
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise TypeError(f"{call}: limit must be an int from 1 to 1000, got {type(limit).__name__}")
    if not 1 <= limit <= 1000:
        raise InvalidArgument(
            InvalidArgument.code, f"{call}: limit must be from 1 to 1000 (None: 100), got {limit}"
        )
    return limit


def _outcome(run: Run) -> Any:
    """The output of a finished run, or the exception saying why it has none."""
    if run.status == "failed":
        raise WorkflowFailed(run.id, run.error if isinstance(run.error, dict) else {})
    if run.status == "cancelled":
        raise Cancelled(Cancelled.code, f"run '{run.id}' was cancelled")
    return run.output


def _signal_payload(name: str, timeout: float | None, state: int, payload: str | None) -> Any:
    if state == _native.WAIT_TIMED_OUT:
        raise Timeout(12, f"no signal '{name}' came within {timeout} s")
    return json.loads(payload) if payload is not None else None


def _describe(e: BaseException) -> str:
    text = str(e)
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


_SCALARS = frozenset({str, int, bool, type(None)})
# Never awaitable: spares inspect.isawaitable (an ABC check) for the usual step results.
_JSON_TYPES = frozenset({str, int, bool, type(None), float, dict, list})


def _as_replayed(value: Any, text: str) -> Any:
    """The value a replay of the step returns: the JSON text parsed again (tuples become
    lists, keys strings), skipped when ``value`` is already exactly that (the common small
    results), which saves a json.loads per step."""
    t = type(value)
    if t in _SCALARS:
        return value
    if t is dict and len(value) <= 16:
        if all(type(k) is str and type(v) in _SCALARS for k, v in value.items()):
            return value
    elif t is list and len(value) <= 16:
        if all(type(v) in _SCALARS for v in value):
            return value
    return json.loads(text)


def _tokens(tokens: Any) -> float:
    if isinstance(tokens, bool) or not isinstance(tokens, (int, float)):
        raise TypeError(f"tokens must be a number, got {type(tokens).__name__}")
    return float(tokens)


def _fail_step(x: _native.Execution, seq: int, e: BaseException) -> None:
    """Records a failed attempt of the host step ``seq``."""
    if isinstance(e, RateLimited):
        x.step_rate_limited(seq, max(0, round(e.retry_after * 1000)), _describe(e))
    else:
        x.step_fail(seq, _error_class(e), _describe(e), *_origin_of(e))


def _origin_of(e: BaseException) -> tuple[str, str]:
    """(class name, traceback) stored with a failure; a replayed step error keeps the
    class and traceback of its first raise."""
    if isinstance(e, StoryloomError) and e.origin_type:
        return e.origin_type, e.traceback or _origin.trace_of(e)
    return _origin.type_name(e), _origin.trace_of(e)


def _error_class(e: BaseException) -> int:
    if isinstance(e, (FatalError, TypeError)):
        return FATAL  # TypeError: a result that is not JSON fails the same way every time
    if isinstance(e, StoryloomError):
        return {"retryable": RETRYABLE, "fatal": FATAL}.get(e.error_class, FATAL)
    return RETRYABLE


class AsyncContext(Context):
    """The context of an ``async def`` workflow: the same calls as :class:`Context`, with
    steps and waits awaited. It runs on the engine's asyncio loop (see the module
    docstring): do not block it. Once the run is cancelled (or the engine closes), an
    ``async def`` step function being awaited is cancelled within 0.1 s and the step raises
    storyloom.Cancelled; later engine calls raise Cancelled too, so the workflow ends at its
    next await."""

    @overload  # type: ignore[override]
    async def step(
        self,
        name: str,
        fn: Callable[[], Awaitable[T]],
        *,
        resource: str | None = None,
        tokens: float = 0.0,
    ) -> T: ...

    @overload
    async def step(
        self,
        name: str,
        fn: Callable[[], T],
        *,
        resource: str | None = None,
        tokens: float = 0.0,
    ) -> T: ...

    async def step(
        self,
        name: str,
        fn: Callable[[], Any],
        *,
        resource: str | None = None,
        tokens: float = 0.0,
        retry: StepRetry | bool | None = None,
    ) -> Any:
        """Like :meth:`Context.step`; ``fn`` may be ``async def`` (awaited on the loop) or
        plain (called inline on the loop, so keep it quick or use asyncio.to_thread). With
        ``resource``, the wait for its admission is awaited: the loop runs other
        workflows meanwhile. The result is returned once it is committed; that wait is
        awaited too (the engine's writer thread completes it through
        ``loop.call_soon_threadsafe``), with the errors of :meth:`Context.step`."""
        calls = self.engine._async_calls()
        # step_begin waits for this run's earlier writes (progress, artifacts, events):
        # await them first so that the loop never blocks on a commit.
        _args.text("ctx.step", "name", name)
        _args.function(f"ctx.step '{name}'", "fn", fn)
        await calls.durable(self._x)
        seq, memoized, result = self._x.step_begin(name, _http.retry_json(f"step '{name}'", retry))
        if memoized:
            return json.loads(result) if result is not None else None
        if resource is not None:
            await calls.acquire(self._x, seq, resource, _tokens(tokens))
        # Steps awaited side by side (asyncio.gather) each run in their own task, so the
        # step a heartbeat belongs to is a context variable of that task.
        running = _running_step.set((self, seq))
        try:
            value = fn()
            if inspect.isawaitable(value):
                value = await self._unless_cancelled(value)
            text = _json_text(f"the result of step '{name}'", value)
        except Exception as e:
            _fail_step(self._x, seq, e)
            raise
        finally:
            _running_step.reset(running)
        await calls.step_complete(self._x, seq, text)  # resumes once the result is committed
        return _as_replayed(value, text)

    def _heartbeat_seq(self) -> int:
        running = _running_step.get()
        if running is None or running[0] is not self:
            raise RuntimeError(
                f"ctx.heartbeat() outside a step of run '{self.run_id}': call it from the "
                "function given to ctx.step (or the tasks it awaits) while it runs"
            )
        return running[1]

    async def llm(  # type: ignore[override]
        self,
        name: str,
        messages: Sequence[LlmMessage] | str,
        *,
        provider: str | None = None,
        model: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        stream: bool = True,
        stream_name: str | None = None,
        stop: str | Sequence[str] | None = None,
        idle_timeout: float | None = None,
        total_timeout: float | None = None,
        extra: Mapping[str, Any] | None = None,
        json_schema: Mapping[str, Any] | None = None,
        retry: StepRetry | bool | None = None,
    ) -> LlmResult:
        """:meth:`Context.llm`, awaited: the engine's loop runs other workflows while the
        provider answers (the outcome comes back through ``loop.call_soon_threadsafe``).
        Several llm steps may be awaited at once (``asyncio.gather``)."""
        request = _llm.request_json(
            name,
            messages,
            provider=provider,
            model=model,
            max_tokens=max_tokens,
            temperature=temperature,
            stream=stream,
            stream_name=stream_name,
            stop=stop,
            idle_timeout=idle_timeout,
            total_timeout=total_timeout,
            extra=extra,
            json_schema=json_schema,
        )
        return await self.engine._async_calls().llm(
            self._x, name, request, _http.retry_json(f"llm step '{name}'", retry)
        )

    async def http(  # type: ignore[override]
        self,
        name: str,
        url: str,
        *,
        method: str = "GET",
        headers: Mapping[str, str] | Sequence[HttpHeader] | None = None,
        json: Any = _NO_JSON,
        body: bytes | str | None = None,
        resource: str | None = None,
        connect_timeout: float | None = None,
        idle_timeout: float | None = None,
        total_timeout: float | None = None,
        idempotency_header: str | None = None,
        retry: StepRetry | bool | None = None,
    ) -> HttpResult:
        """:meth:`Context.http`, awaited: the loop runs other workflows meanwhile."""
        request = _http.request_json(
            name, url, method=method, headers=headers, json_body=None if json is _NO_JSON else json,
            body=body, resource=resource, connect_timeout=connect_timeout,
            idle_timeout=idle_timeout, total_timeout=total_timeout,
            idempotency_header=idempotency_header, has_json=json is not _NO_JSON,
        )
        return await self.engine._async_calls().http(
            self._x, name, request, _http.retry_json(f"http step '{name}'", retry)
        )

    async def image(  # type: ignore[override]
        self,
        name: str,
        prompt: str,
        *,
        provider: str | None = None,
        model: str | None = None,
        size: str | None = None,
        artifact: str | None = None,
        extra: Mapping[str, Any] | None = None,
        idle_timeout: float | None = None,
        total_timeout: float | None = None,
        retry: StepRetry | bool | None = None,
    ) -> ImageResult:
        """:meth:`Context.image`, awaited: the loop runs other workflows meanwhile."""
        request = _image.request_json(
            name, prompt, provider=provider, model=model, size=size, artifact=artifact,
            extra=extra, idle_timeout=idle_timeout, total_timeout=total_timeout,
        )
        return await self.engine._async_calls().image(
            self._x, name, request, _http.retry_json(f"image step '{name}'", retry)
        )

    async def _unless_cancelled(self, awaitable: Any) -> Any:
        # The engine tells cancellation only when asked: look every 0.1 s while waiting.
        task = asyncio.ensure_future(awaitable)
        while True:
            done, _ = await asyncio.wait({task}, timeout=0.1)
            if done:
                return task.result()
            if self._x.cancelled():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                raise Cancelled(9, f"run '{self.run_id}' was cancelled during step")

    async def sleep(self, name: str, seconds: float) -> None:  # type: ignore[override]
        """Durable sleep (see :meth:`Context.sleep`); parks the run, holding no task."""
        _args.text("ctx.sleep", "name", name)
        _args.number(f"ctx.sleep '{name}'", "seconds", seconds)
        if seconds < 0:
            raise ValueError(f"sleep '{name}': seconds is {seconds}; it must not be negative")
        state = self._x.sleep(name, round(seconds * 1000))
        if state == _native.WAIT_PARKED:
            raise self._park()
        await self.engine._async_calls().durable(self._x)

    async def wait_for_signal(  # type: ignore[override]
        self, name: str, timeout: float | None = None
    ) -> Any:
        """The payload of the signal ``name`` (see :meth:`Context.wait_for_signal`)."""
        _args.text("ctx.wait_for_signal", "name", name)
        timeout_ms = -1 if timeout is None else checked_ms(f"wait_for_signal '{name}': timeout", timeout)
        state, payload = self._x.wait_for_signal(name, timeout_ms)
        if state == _native.WAIT_PARKED:
            raise self._park()
        await self.engine._async_calls().durable(self._x)
        return _signal_payload(name, timeout, state, payload)

    async def invoke(  # type: ignore[override]
        self, name: str, workflow: str, input: dict[str, Any]
    ) -> Any:
        """A child run's output (see :meth:`Context.invoke`)."""
        _args.text("ctx.invoke", "name", name)
        _args.text(f"ctx.invoke '{name}'", "workflow", workflow)
        state, output = self._x.invoke(name, workflow, _json_text(f"invoke '{name}': input", input))
        if state == _native.WAIT_PARKED:
            raise self._park()
        await self.engine._async_calls().durable(self._x)
        return json.loads(output) if output is not None else None


_in_workflow = threading.local()
_running_step: contextvars.ContextVar[tuple[AsyncContext, int] | None] = contextvars.ContextVar(
    "storyloom_running_step", default=None
)


async def _drive_async(
    engine_ref: weakref.ref[Engine], fn: Workflow, execution: _native.Execution
) -> None:
    """One execution of an async workflow, on the engine's loop; always finishes it."""
    try:
        ctx = AsyncContext(engine_ref, execution)
        value = await fn(ctx, json.loads(execution.input()))
        swallowed = ctx._swallowed_park()
        if swallowed is not None:
            _finish(execution, execution.finish_failed, FATAL, swallowed)
            return
        output = _json_text(f"the output of workflow '{ctx.workflow}'", value)
    except _Parked:
        _finish(execution, execution.finish_parked)
        return
    except BaseException as e:
        _finish(execution, execution.finish_failed, FATAL, _describe(e), *_origin_of(e))
        if not isinstance(e, Exception):
            raise
        return
    _finish(execution, execution.finish_completed, output)


def _finish(execution: _native.Execution, finish: Callable[..., None], *args: Any) -> None:
    # A finish call ends the execution even when it fails (the run then fails with that
    # error, or goes back to the queue when the engine is closing): nobody to tell here.
    if execution.finished:
        return
    try:
        finish(*args)
    except StoryloomError:
        pass


def _lifecycle_mapper(trace: Any, engine: weakref.ref[Engine]) -> Callable[[str], None]:
    """The lifecycle callback of an engine with telemetry on: spans, and metrics through
    the meter provider the host sets (README, OpenTelemetry)."""
    spans = _telemetry.LifecycleSpans(trace)
    metrics_api = _metrics.api()

    def queued() -> builtins.list[str] | None:
        e = engine()
        if e is None or e.closed:
            return None
        try:
            return e._queued_workflows()
        except StoryloomError:
            return None  # closed meanwhile

    metrics = _metrics.LifecycleMetrics(metrics_api, queued) if metrics_api else None

    def report(text: str) -> None:
        r = json.loads(text)
        spans.report(r)
        if metrics is not None:
            metrics.report(r)

    return report


_open_engines: weakref.WeakSet[Engine] = weakref.WeakSet()


@atexit.register
def _close_open_engines() -> None:
    # Engine threads must not wait for the GIL of an interpreter that is finalizing.
    for engine in list(_open_engines):
        engine.close()


class Engine:
    """One open store plus its worker threads. Use as a context manager or call close().

    store: "sqlite:PATH", a PATH, ":memory:", or a "postgresql://..." URL (README,
    PostgreSQL). Times are in seconds; None or 0 means the engine's default (workers 32,
    poll_interval 0.05, lease_ttl 10, drain_timeout 5).
    Workflow functions run on the engine's worker threads.

    llm: the LLM providers of :meth:`Context.llm` (:class:`storyloom.LlmConfig`; None: those
    of the environment, OPENAI_API_KEY, OPENROUTER_API_KEY, ANTHROPIC_API_KEY, ..., and the
    offline provider, which writes placeholder text, not a language model). resources:
    limits per resource name (:class:`storyloom.ResourceLimits`), e.g.
    ``{"llm:openai": {"max_in_flight": 2}}``. A field of the wrong type raises TypeError
    naming it (``llm.providers[0].kind``); a bad value InvalidArgument from the engine.
    images: the image providers of :meth:`Context.image` (:class:`storyloom.ImageConfig`;
    None: offline, which draws a labelled placeholder picture, plus openai when
    OPENAI_API_KEY or OPENAI_BASE_URL is set; the default is offline unless
    STORYLOOM_IMAGE_PROVIDER names another).
    max_json_depth: how deeply arrays and objects may nest in JSON sent to the engine
    (None: 32; at most 1000); deeper JSON raises InvalidArgument naming the limit.
    max_artifact_bytes: the bytes of one binary artifact (:meth:`Context.binary_artifact`;
    None: 16 MiB; at least 1024); more raises PayloadTooLarge naming the limit.
    telemetry: with opentelemetry-api installed (the ``otel`` extra), runs and step
    attempts become spans under the span current at start(), and metrics once a meter
    provider is set (README, OpenTelemetry); False: none."""

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
        llm: LlmConfig | None = None,
        images: ImageConfig | None = None,
        resources: Mapping[str, ResourceLimits] | None = None,
        max_json_depth: int | None = None,
        durability: str = "full",
        max_artifact_bytes: int | None = None,
        telemetry: bool = True,
    ) -> None:
        _args.text("Engine", "store", store)
        if not isinstance(telemetry, bool):
            raise TypeError(f"Engine: telemetry must be a bool, got {type(telemetry).__name__}")
        for param, value in (
            ("workers", workers),
            ("max_executions", max_executions),
            ("max_payload_bytes", max_payload_bytes),
        ):
            _args.integer("Engine", param, value)
        native_durability = _durability(durability)
        config = _config.config_json(llm, resources, max_json_depth, max_artifact_bytes, images)
        self._native = _native.Engine(
            store,
            workers,
            max_executions,
            max_payload_bytes,
            _ms(poll_interval, "poll_interval"),
            _ms(lease_ttl, "lease_ttl"),
            _ms(drain_timeout, "drain_timeout"),
            config,
            native_durability,
        )
        self._otel = _telemetry.api() if telemetry else None
        if self._otel is not None:
            self._native.set_lifecycle(_lifecycle_mapper(self._otel, weakref.ref(self)))
        self._workflows: dict[str, Workflow] = {}
        self._close_lock = threading.Lock()
        self._starts = _async_starts.AsyncStarts()
        self._loop_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: threading.Thread | None = None
        self._calls: _completions.Completions | None = None
        _open_engines.add(self)

    # ---- lifecycle ----

    def launch(self) -> None:
        """Begins executing runs: new ones and those a stopped or crashed process left
        running. Until then no workflow function is called, while reads, starts, signals
        and cancels work. Register every workflow first, so that a recovered run finds the
        workflows it invokes; workflows registered later run too. Idempotent. Raises
        Closed once close() began."""
        self._native.launch()

    async def alaunch(self) -> None:
        """launch() without blocking the event loop."""
        await asyncio.to_thread(self.launch)

    def close(self) -> None:
        """Stops claiming runs, waits up to drain_timeout for executions in flight and puts
        the rest back in the queue. Returns within drain_timeout (plus at most 0.1 s): a step
        still running then is left to finish on its thread, but what it returns is dropped
        (its next engine call raises Closed) and it runs again after the next open.
        Idempotent. Not from inside a workflow function."""
        if getattr(_in_workflow, "active", False):
            raise RuntimeError("Engine.close() cannot be called from inside a workflow function")
        with self._close_lock:
            self._native.close()  # async executions still in flight see Closed and end
            self._starts.close()  # every queued astart() has had its outcome by now
            self._stop_loop()
        _open_engines.discard(self)

    async def aclose(self) -> None:
        """close() in a thread, awaited: the caller's event loop is not blocked."""
        await asyncio.to_thread(self.close)

    @property
    def closed(self) -> bool:
        """True once close() began."""
        return self._native.closed

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ---- workflows ----

    def workflow(
        self,
        name: str,
        *,
        retries: RetryPolicy | Literal[False] | None = None,
        concurrency: Concurrency | None = None,
        max_running: int = 0,
        throttle: Throttle | None = None,
        step_timeout: float | None = None,
        run_timeout: float | None = None,
    ) -> Callable[[F], F]:
        """Registers ``fn(ctx, input)`` as the workflow ``name`` (a decorator).

        A plain function runs on an engine worker thread with a :class:`Context`; an
        ``async def`` one runs on the engine's asyncio loop with an :class:`AsyncContext`.

        - ``retries``: the policy of every step of the workflow, llm steps included.
          None (the default): host and http steps make one attempt, llm steps retry by
          default (3 attempts); ``False`` or ``RetryPolicy(max_attempts=1)``: one attempt for every
          step, llm steps too.
        - ``concurrency``: ``Concurrency(key="$.user_id", limit=2)`` caps running runs per
          value of a JSON path into the input; ``max_running`` caps them for the whole
          workflow (0: no limit). Sleeping and waiting runs hold no slot.
        - ``throttle``: ``Throttle(limit=10, period=60.0, key="$.user_id")`` caps first
          starts per key per period; later runs wait in the queue.
        - ``step_timeout``: seconds each step attempt may take, or go without
          ``ctx.heartbeat()``; past it the attempt fails (class "timeout") and is retried
          per ``retries``. ``run_timeout``: seconds from the run's first start, parked time
          included; past it the run fails with Timeout. None: no timeout.

        Limits hold across processes sharing the store. A wrong type raises TypeError; a
        bad value (a limit under 1, a malformed key path, a negative time) InvalidArgument
        naming the field."""

        def register(fn: F) -> F:
            self.register(
                name,
                fn,
                retries=retries,
                concurrency=concurrency,
                max_running=max_running,
                throttle=throttle,
                step_timeout=step_timeout,
                run_timeout=run_timeout,
            )
            return fn

        return register

    def register(
        self,
        name: str,
        fn: Workflow,
        *,
        retries: RetryPolicy | Literal[False] | None = None,
        concurrency: Concurrency | None = None,
        max_running: int = 0,
        throttle: Throttle | None = None,
        step_timeout: float | None = None,
        run_timeout: float | None = None,
    ) -> None:
        """The non-decorator form of :meth:`workflow`. Raises TypeError when ``name`` is
        not a str or ``fn`` not callable."""
        if not isinstance(name, str):
            raise TypeError(f"Engine.register: name must be a str, got {type(name).__name__}")
        if not callable(fn):
            raise TypeError(
                f"Engine.register: fn of workflow '{name}' must be a function (ctx, input), "
                f"got {type(fn).__name__}"
            )
        retry = native_retry(retries)
        limits = native_limits(
            concurrency=concurrency,
            max_running=max_running,
            throttle=throttle,
            step_timeout=step_timeout,
            run_timeout=run_timeout,
        )
        self._native.register_workflow(name, self._handler_for(fn), retry, limits)
        self._workflows[name] = fn

    def _handler_for(self, fn: Workflow) -> Callable[[_native.Execution], bool | str]:
        engine_ref = weakref.ref(self)
        is_async = inspect.iscoroutinefunction(fn)

        sync_fn = cast(Callable[[Context, Any], Any], fn)

        def handle(execution: _native.Execution) -> bool | str:
            # On an engine worker thread, GIL held. Returns True when the engine's loop
            # finishes the execution, the output JSON when the workflow returned (the
            # native side finishes the run with it after releasing the GIL), else False
            # (finished here).
            if is_async:
                # Hand the execution to the engine's loop and free this worker at once.
                engine = engine_ref()
                if engine is None:
                    _finish(execution, execution.finish_failed, RETRYABLE, "the engine is gone")
                    return False
                engine._submit(_drive_async(engine_ref, fn, execution))
                return True
            _in_workflow.active = True
            try:
                ctx = Context(engine_ref, execution)
                value = sync_fn(ctx, json.loads(execution.input()))
                if type(value) not in _JSON_TYPES and inspect.isawaitable(value):
                    # a plain function that returned a coroutine
                    engine = engine_ref()
                    value = engine._run_on_loop(value) if engine else None
                swallowed = ctx._swallowed_park()
                if swallowed is not None:
                    _finish(execution, execution.finish_failed, FATAL, swallowed)
                    return False
                output = _json_text(f"the output of workflow '{ctx.workflow}'", value)
            except _Parked:
                _finish(execution, execution.finish_parked)
                return False
            except BaseException as e:  # noqa: BLE001 - the run must end whatever happened
                _finish(execution, execution.finish_failed, FATAL, _describe(e), *_origin_of(e))
                return False
            finally:
                _in_workflow.active = False
            return output

        return handle

    # ---- the engine's asyncio loop ----

    def _async_loop(self) -> asyncio.AbstractEventLoop:
        with self._loop_lock:
            if self._loop is None:
                if self._native.closed:
                    raise RuntimeError("the engine is closed")
                loop = asyncio.new_event_loop()
                started = threading.Event()

                def run() -> None:
                    asyncio.set_event_loop(loop)
                    _in_workflow.active = True  # close() from here would join this thread
                    loop.call_soon(started.set)
                    loop.run_forever()

                thread = threading.Thread(target=run, name="storyloom-asyncio", daemon=True)
                thread.start()
                started.wait()
                self._loop, self._loop_thread = loop, thread
            return self._loop

    def _submit(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._async_loop())

    def _run_on_loop(self, awaitable: Any) -> Any:
        """Runs an awaitable on the engine's loop; blocks this (worker) thread until done."""
        if threading.current_thread() is self._loop_thread:
            raise RuntimeError(
                "a plain Context.step cannot wait for a coroutine on the engine's loop; "
                "use an async def workflow and await ctx.step(...)"
            )

        async def main() -> Any:
            return await awaitable

        return self._submit(main()).result()

    def _async_calls(self) -> _completions.Completions:
        """The awaitable llm steps and resource admissions of async workflows; on the
        engine's loop only."""
        if self._calls is None:
            self._calls = _completions.Completions(self._async_loop())
        return self._calls

    def _stop_loop(self) -> None:
        with self._loop_lock:
            loop, thread = self._loop, self._loop_thread
            self._loop = self._loop_thread = None
        if loop is None or thread is None:
            return

        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        try:
            asyncio.run_coroutine_threadsafe(cancel_all(), loop).result(timeout=10)
        finally:
            completions, self._calls = self._calls, None
            if completions is not None:
                completions.close()
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
            if not thread.is_alive():
                loop.close()

    # ---- runs ----

    def start(
        self,
        workflow: str,
        input: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        owner: str | None = None,
        priority: int = 0,
        budget: RunBudget | Mapping[str, int] | None = None,
        trace_parent: str | None = None,
    ) -> Run:
        """Starts a run of ``workflow`` on ``input`` (a JSON object); durable on return.
        The same idempotency_key returns the existing run. ``budget`` (a RunBudget or
        {"llm_calls", "llm_tokens"}) caps what its llm steps spend: once used, the next
        llm step fails with BudgetExceeded; a child run gets what is left.
        ``trace_parent``: the caller's W3C traceparent, kept with the run so its spans are
        children of that span, also after a crash and resume (None: the current span's when
        telemetry is on; a malformed one raises InvalidArgument)."""
        _args.text("Engine.start", "workflow", workflow)
        _args.optional_text(f"Engine.start '{workflow}'", "idempotency_key", idempotency_key)
        _args.optional_text(f"Engine.start '{workflow}'", "owner", owner)
        _args.integer(f"Engine.start '{workflow}'", "priority", priority)
        text = _json_text(f"start '{workflow}': input", {} if input is None else input)
        b = _NO_BUDGET if budget is None else RunBudget._coerce("start: budget", budget)
        _args.optional_text(f"Engine.start '{workflow}'", "trace_parent", trace_parent)
        if trace_parent is None and self._otel is not None:
            trace_parent = _telemetry.current_trace_parent(self._otel)
        return Run._from(
            json.loads(
                self._native.start(
                    workflow,
                    text,
                    idempotency_key,
                    owner,
                    priority,
                    b.llm_calls,
                    b.llm_tokens,
                    trace_parent,
                )
            )
        )

    def start_many(
        self, requests: Sequence[Mapping[str, Any]]
    ) -> builtins.list[Run | StoryloomError]:
        """Starts many runs in one commit, each checked alone; durable on return. Each
        request is a dict: ``workflow``, ``input`` (a JSON object, default {}), and
        optionally ``idempotency_key``, ``owner``, ``priority``, ``budget`` (a dict with
        ``llm_calls`` / ``llm_tokens``), ``trace_parent`` (default: the current span's
        when telemetry is on). Returns one item per
        request, in order: its Run (the existing one when the idempotency key was seen),
        or the StoryloomError that refused it (returned, not raised: the others started).
        Raises TypeError when ``requests`` is not a list of dicts, InvalidArgument (naming
        the field) for a field of the wrong type."""
        items = _json_list("requests", requests)
        current = _telemetry.current_trace_parent(self._otel) if self._otel is not None else ""
        body = _dumps(
            [
                {"trace_parent": current, **r, "input": r.get("input") or {}, **_budget_of(i, r)}
                for i, r in enumerate(items)
            ]
        )
        return [
            Run._from(o["run"]) if "run" in o else _from_json(o.get("error") or {})
            for o in json.loads(self._native.start_many(body))
        ]

    def signal_many(
        self, signals: Sequence[Mapping[str, Any]]
    ) -> builtins.list[StoryloomError | None]:
        """Delivers many signals in one commit, each checked alone. Each signal is a dict:
        ``run_id``, ``name``, ``payload`` (default {}), ``once`` (first wins: delivered
        only if the run never received a signal of that name, else InvalidState). Returns
        one item per signal, in order: None when it was delivered, else the StoryloomError
        that refused it
        (NotFound, InvalidState...; returned, not raised). Raises TypeError /
        InvalidArgument as :meth:`start_many`."""
        items = _json_list("signals", signals)
        body = _dumps([{**s, "payload": s.get("payload", {})} for s in items])
        return [
            None if o.get("ok") else _from_json(o.get("error") or {})
            for o in json.loads(self._native.signal_many(body))
        ]

    def get(self, run_id: str) -> Run:
        """The run ``run_id``. Raises NotFound."""
        _args.text("Engine.get", "run_id", run_id)
        return Run._from(json.loads(self._native.get_run(run_id)))

    def list(
        self,
        *,
        status: str | None = None,
        workflow: str | None = None,
        owner: str | None = None,
        limit: int | None = None,
        after: str | None = None,
        error_class: str | None = None,
        finished_after_ms: int = 0,
        finished_before_ms: int = 0,
    ) -> RunPage:
        """A page of runs, oldest first; empty filters do not filter; limit 1..1000 (None:
        100; anything else raises InvalidArgument naming it).
        The dead-letter view: ``status="failed"``, with ``error_class`` ("retryable",
        "fatal", "rate_limited", "timeout") and a window of finish times (epoch ms,
        ``finished_after_ms`` inclusive, ``finished_before_ms`` exclusive; 0: no bound)."""
        flt = _filter(status, workflow, owner, error_class, finished_after_ms, finished_before_ms)
        page = json.loads(self._native.list_runs(flt, _page_limit("Engine.list", limit), after))
        return RunPage([Run._from(r) for r in page["runs"]], page.get("next_cursor", ""))

    def _queued_workflows(self) -> builtins.list[str]:
        """The workflow of every queued run, read a page at a time (the queue depth gauge)."""
        workflows: builtins.list[str] = []
        after = ""
        while True:
            page = self.list(status="queued", limit=1000, after=after)
            workflows.extend(r.workflow for r in page.runs)
            after = page.next_cursor
            if not after:
                return workflows

    def retry_failed(
        self,
        *,
        status: str | None = None,
        workflow: str | None = None,
        owner: str | None = None,
        error_class: str | None = None,
        finished_after_ms: int = 0,
        finished_before_ms: int = 0,
    ) -> int:
        """Queues every failed run matching the filters (those of :meth:`list`; a
        ``status`` must be "failed"; none: all failed runs) again, as :meth:`retry` does
        one; returns how many."""
        flt = _filter(status, workflow, owner, error_class, finished_after_ms, finished_before_ms)
        return self._native.retry_failed(flt)

    def cancel_many(
        self,
        *,
        status: str | None = None,
        workflow: str | None = None,
        owner: str | None = None,
        error_class: str | None = None,
        finished_after_ms: int = 0,
        finished_before_ms: int = 0,
    ) -> builtins.list[str]:
        """Cancels every unfinished run matching the filters (those of :meth:`list`; a
        ``status`` must be an unfinished one; none: every unfinished run) and their
        unfinished children; returns the ids of the matching runs it cancelled."""
        flt = _filter(status, workflow, owner, error_class, finished_after_ms, finished_before_ms)
        return json.loads(self._native.cancel_many(flt))

    def set_priority(self, run_id: str, priority: int) -> None:
        """Changes the priority of a queued run (higher starts first); records a
        run.priority event. Raises NotFound, InvalidState (the run is not queued)."""
        if isinstance(priority, bool) or not isinstance(priority, int):
            raise TypeError(f"priority must be an int, got {type(priority).__name__}")
        self._native.set_priority(run_id, priority)

    def rewind(self, run_id: str, step: str) -> None:
        """Redo from a step: forgets the result of the first step named ``step`` and of
        every later one, keeps the earlier ones and queues the run again (run.rewound
        event); artifacts keep their earlier versions. Raises NotFound (the run, or a step
        it never recorded), InvalidState (the run is not completed or failed, or a child
        run's step would be redone)."""
        _args.text("Engine.rewind", "run_id", run_id)
        _args.text("Engine.rewind", "step", step)
        self._native.rewind(run_id, step)

    # ---- resources and LLM providers (in memory: these never block) ----

    def configure_resource(self, name: str, limits: ResourceLimits) -> None:
        """Sets or replaces the limits of the resource ``name`` (e.g. "llm:openai", which
        the provider "openai" uses unless its config names another); waiting requests are
        admitted again under the new limits. Absent or 0: no limit of that kind. A field of
        the wrong type raises TypeError; a bad value InvalidArgument naming the field."""
        text = json.dumps(
            _config.resource_limits(limits, "limits"), separators=(",", ":"), ensure_ascii=False
        )
        self._native.configure_resource(_config.resource_name(name), text)

    def resource_status(self, name: str) -> ResourceStatus:
        """The resource ``name`` now: what its buckets hold, requests in flight and waiting,
        a provider pause. An unknown name is reported as unlimited."""
        return ResourceStatus._from(
            json.loads(self._native.resource_status(_config.resource_name(name)))
        )

    def configure_webhooks(
        self,
        subscriptions: Sequence[WebhookSubscription],
        *,
        max_attempts: int | None = None,
        initial_backoff_ms: int | None = None,
        multiplier: float | None = None,
        max_backoff_ms: int | None = None,
        attempt_timeout_ms: int | None = None,
    ) -> None:
        """Sets or replaces the outbound webhook subscriptions (docs/webhooks.md). Secrets
        stay in memory; the first call starts delivering events. Raises InvalidArgument
        naming the bad field."""
        self._native.configure_webhooks(
            _webhooks.options_json(
                subscriptions,
                max_attempts=max_attempts,
                initial_backoff_ms=initial_backoff_ms,
                multiplier=multiplier,
                max_backoff_ms=max_backoff_ms,
                attempt_timeout_ms=attempt_timeout_ms,
            )
        )

    def webhook_log(self, subscription: str, limit: int = 100) -> builtins.list[WebhookDelivery]:
        """The latest ``limit`` deliveries of a subscription, oldest first, with every attempt."""
        return [WebhookDelivery._from(d) for d in json.loads(self._native.webhook_log(subscription, limit))]

    def receive_webhook(
        self,
        headers: Mapping[str, str],
        body: str | bytes,
        *,
        secret: str,
        workflow: str | None = None,
        owner: str | None = None,
        signal_run_id: str | None = None,
        signal_name: str | None = None,
        tolerance_s: int | None = None,
    ) -> InboundResult:
        """Verifies an inbound webhook (signature, timestamp window) and, when authentic,
        starts ``workflow`` with the JSON body as input and the webhook id as idempotency
        key, or sends the body as signal ``signal_name`` to ``signal_run_id``, once per
        webhook id. A refused webhook returns status 400 or 401 and starts nothing."""
        return _webhooks.inbound_result(
            self._native.receive_webhook(
                _webhooks.hook_json(
                    secret,
                    workflow=workflow,
                    owner=owner,
                    signal_run_id=signal_run_id,
                    signal_name=signal_name,
                    tolerance_s=tolerance_s,
                ),
                _webhooks.headers_json(headers),
                _webhooks.body_text(body),
            )
        )

    def llm_providers(self) -> LlmProviders:
        """The configured LLM providers and the default one, never their keys
        (``has_key`` says whether each has one)."""
        return LlmProviders._from(json.loads(self._native.llm_providers()))

    def delete(self, run_id: str) -> None:
        """Deletes a finished run with its steps, events, artifacts, signals and child runs.
        Raises NotFound, or InvalidState when the run has not finished."""
        _args.text("Engine.delete", "run_id", run_id)
        self._native.delete_run(run_id)

    def cancel(self, run_id: str) -> None:
        """Cancels an unfinished run and its unfinished children; a running workflow sees
        ``ctx.cancelled`` and its next engine call raises Cancelled. Raises NotFound,
        InvalidState (already finished)."""
        _args.text("Engine.cancel", "run_id", run_id)
        self._native.cancel(run_id)

    def retry(self, run_id: str) -> None:
        """Queues a failed run again; its completed steps are not run again. Raises
        NotFound, InvalidState (not failed)."""
        _args.text("Engine.retry", "run_id", run_id)
        self._native.retry(run_id)

    def signal(self, run_id: str, name: str, payload: Any = None) -> None:
        """Puts the signal ``name`` with a JSON payload in the run's mailbox, where a
        ``wait_for_signal(name)`` reads it (before or after this call). Raises NotFound,
        InvalidState (finished run), InvalidArgument, PayloadTooLarge."""
        _args.text("Engine.signal", "run_id", run_id)
        _args.text("Engine.signal", "name", name)
        self._native.signal(
            run_id, name, _json_text(f"signal '{name}': payload", {} if payload is None else payload)
        )

    def signal_once(self, run_id: str, name: str, payload: Any = None) -> None:
        """First wins: :meth:`signal`, delivered only if the run never received a signal
        of this name (read or unread). Of several senders racing, exactly one gets
        through; the others raise InvalidState naming the signal. The delivered payload
        is in the run's ``signal.received`` event."""
        body = {} if payload is None else payload
        request = {"run_id": run_id, "name": name, "payload": body, "once": True}
        [error] = self.signal_many([request])
        if error is not None:
            raise error

    def snapshot(self, run_id: str) -> Snapshot:
        """Run, steps, latest artifacts and last event id in one consistent read: render it,
        then follow ``events(run_id, after=snapshot.last_event_id)``."""
        _args.text("Engine.snapshot", "run_id", run_id)
        return Snapshot._from(json.loads(self._native.snapshot(run_id)))

    def artifacts(self, run_id: str) -> builtins.list[Artifact]:
        """Every version of every artifact of the run, by key then version."""
        _args.text("Engine.artifacts", "run_id", run_id)
        return [Artifact._from(a) for a in json.loads(self._native.artifacts(run_id))]

    def artifact_bytes(self, run_id: str, key: str, version: int = 0) -> bytes:
        """The bytes of a binary artifact (``version`` 0: the latest). Raises NotFound for
        an unknown run, key or version, InvalidArgument for a JSON artifact."""
        return self._native.artifact_bytes(run_id, key, version)

    def stored_events(self, run_id: str, after: int = 0, limit: int = 0) -> builtins.list[Event]:
        """Stored events with id > after, at most limit (0: 1000)."""
        _args.text("Engine.stored_events", "run_id", run_id)
        return [Event._from_json(e) for e in json.loads(self._native.events(run_id, after, limit))]

    def events(
        self, run_id: str, after: int = 0, *, timeout: float | None = None
    ) -> EventStream[Event]:
        """The run's stored events after ``after``, then live ones (transient chunks and
        cursors included), ending with the event that ends the run. Raises
        storyloom.Timeout when the run has not ended within ``timeout`` seconds.

        Iterate it with ``for`` (blocks this thread, GIL released while waiting) or with
        ``async for`` (never blocks the loop: a feeder thread hands each event to the
        loop through ``call_soon_threadsafe``). Close it (or leave the loop) to stop."""
        _args.text("Engine.events", "run_id", run_id)

        def follow(stop: threading.Event) -> Iterator[Event]:
            for event in self._follow(run_id, after, timeout=timeout, idle=None, stop=stop):
                if event is not None:
                    yield event

        return EventStream(follow)

    def wait(self, run_id: str, timeout: float | None = None) -> Run:
        """Blocks until the run ends; returns it, whatever its status (see :meth:`result`
        for the output or an exception). Raises storyloom.Timeout."""
        for _ in self.events(run_id, timeout=timeout):
            pass
        return self.get(run_id)

    def result(self, run_id: str, timeout: float | None = None) -> Any:
        """Blocks until the run ends and returns its output. Raises
        :class:`storyloom.WorkflowFailed` when it failed, with the class name, message and
        traceback of the error that escaped the workflow (stored: another process gets
        the same), Cancelled when it was cancelled, storyloom.Timeout after ``timeout``
        seconds."""
        return _outcome(self.wait(run_id, timeout))

    # ---- the same calls for asyncio: each runs in a thread (GIL released), awaited ----

    async def astart(
        self,
        workflow: str,
        input: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        owner: str | None = None,
        priority: int = 0,
        budget: RunBudget | Mapping[str, int] | None = None,
        trace_parent: str | None = None,
    ) -> Run:
        """:meth:`start` without blocking the event loop: the start is queued with the
        engine's other writes and awaited until durable, with no thread per call, so
        many astart() calls in flight share commits. Bad arguments raise at once. A
        cancelled await does not undo the start."""
        _args.text("Engine.astart", "workflow", workflow)
        call = f"Engine.astart '{workflow}'"
        _args.optional_text(call, "idempotency_key", idempotency_key)
        _args.optional_text(call, "owner", owner)
        _args.integer(call, "priority", priority)
        text = _json_text(f"astart '{workflow}': input", {} if input is None else input)
        b = _NO_BUDGET if budget is None else RunBudget._coerce("astart: budget", budget)
        _args.optional_text(call, "trace_parent", trace_parent)
        if trace_parent is None and self._otel is not None:
            trace_parent = _telemetry.current_trace_parent(self._otel)
        native = self._native
        run_json = await self._starts.start(
            lambda inbox, token: native.start_begin(
                workflow, text, idempotency_key, owner, priority, b.llm_calls, b.llm_tokens,
                trace_parent, inbox, token,
            )
        )
        return Run._from(json.loads(run_json))

    async def astart_many(
        self, requests: Sequence[Mapping[str, Any]]
    ) -> builtins.list[Run | StoryloomError]:
        """:meth:`start_many` without blocking the event loop."""
        return await asyncio.to_thread(self.start_many, requests)

    async def asignal_many(
        self, signals: Sequence[Mapping[str, Any]]
    ) -> builtins.list[StoryloomError | None]:
        """:meth:`signal_many` without blocking the event loop."""
        return await asyncio.to_thread(self.signal_many, signals)

    async def aget(self, run_id: str) -> Run:
        """:meth:`get` without blocking the event loop."""
        return await asyncio.to_thread(self.get, run_id)

    async def alist(
        self,
        *,
        status: str | None = None,
        workflow: str | None = None,
        owner: str | None = None,
        limit: int | None = None,
        after: str | None = None,
        error_class: str | None = None,
        finished_after_ms: int = 0,
        finished_before_ms: int = 0,
    ) -> RunPage:
        """:meth:`list` without blocking the event loop."""
        return await asyncio.to_thread(
            lambda: self.list(
                status=status,
                workflow=workflow,
                owner=owner,
                limit=limit,
                after=after,
                error_class=error_class,
                finished_after_ms=finished_after_ms,
                finished_before_ms=finished_before_ms,
            )
        )

    async def adelete(self, run_id: str) -> None:
        """:meth:`delete` without blocking the event loop."""
        await asyncio.to_thread(self.delete, run_id)

    async def acancel(self, run_id: str) -> None:
        """:meth:`cancel` without blocking the event loop."""
        await asyncio.to_thread(self.cancel, run_id)

    async def aretry(self, run_id: str) -> None:
        """:meth:`retry` without blocking the event loop."""
        await asyncio.to_thread(self.retry, run_id)

    async def asignal(self, run_id: str, name: str, payload: Any = None) -> None:
        """:meth:`signal` without blocking the event loop."""
        await asyncio.to_thread(self.signal, run_id, name, payload)

    async def asignal_once(self, run_id: str, name: str, payload: Any = None) -> None:
        """:meth:`signal_once` without blocking the event loop."""
        await asyncio.to_thread(self.signal_once, run_id, name, payload)

    async def asnapshot(self, run_id: str) -> Snapshot:
        """:meth:`snapshot` without blocking the event loop."""
        return await asyncio.to_thread(self.snapshot, run_id)

    async def aartifacts(self, run_id: str) -> builtins.list[Artifact]:
        """:meth:`artifacts` without blocking the event loop."""
        return await asyncio.to_thread(self.artifacts, run_id)

    def export_book(self, run_id: str, format: str, path: str | os.PathLike[str]) -> None:
        """Writes the run's story as a book to ``path``: ``"epub"`` (EPUB 3), ``"pdf"`` (a
        cover, then a page per story page with its picture) or ``"md"`` (Markdown, pictures
        in ``<name>_pictures/`` beside it). Page N's picture is the binary artifact
        ``page/N/picture``. Raises NotFound for a run with no story, InvalidArgument for a
        bad format or an unwritable path."""
        self._native.export_book(run_id, format, os.fspath(path))

    async def aartifact_bytes(self, run_id: str, key: str, version: int = 0) -> bytes:
        """:meth:`artifact_bytes` without blocking the event loop."""
        return await asyncio.to_thread(self.artifact_bytes, run_id, key, version)

    async def astored_events(
        self, run_id: str, after: int = 0, limit: int = 0
    ) -> builtins.list[Event]:
        """:meth:`stored_events` without blocking the event loop."""
        return await asyncio.to_thread(self.stored_events, run_id, after, limit)

    async def aretry_failed(
        self,
        *,
        status: str | None = None,
        workflow: str | None = None,
        owner: str | None = None,
        error_class: str | None = None,
        finished_after_ms: int = 0,
        finished_before_ms: int = 0,
    ) -> int:
        """:meth:`retry_failed` without blocking the event loop."""
        return await asyncio.to_thread(
            lambda: self.retry_failed(
                status=status,
                workflow=workflow,
                owner=owner,
                error_class=error_class,
                finished_after_ms=finished_after_ms,
                finished_before_ms=finished_before_ms,
            )
        )

    async def acancel_many(
        self,
        *,
        status: str | None = None,
        workflow: str | None = None,
        owner: str | None = None,
        error_class: str | None = None,
        finished_after_ms: int = 0,
        finished_before_ms: int = 0,
    ) -> builtins.list[str]:
        """:meth:`cancel_many` without blocking the event loop."""
        return await asyncio.to_thread(
            lambda: self.cancel_many(
                status=status,
                workflow=workflow,
                owner=owner,
                error_class=error_class,
                finished_after_ms=finished_after_ms,
                finished_before_ms=finished_before_ms,
            )
        )

    async def aset_priority(self, run_id: str, priority: int) -> None:
        """:meth:`set_priority` without blocking the event loop."""
        await asyncio.to_thread(self.set_priority, run_id, priority)

    async def arewind(self, run_id: str, step: str) -> None:
        """:meth:`rewind` without blocking the event loop."""
        await asyncio.to_thread(self.rewind, run_id, step)

    async def await_run(self, run_id: str, timeout: float | None = None) -> Run:
        """:meth:`wait` for asyncio: the run once it has ended. Raises storyloom.Timeout."""
        async for _ in self.events(run_id, timeout=timeout):
            pass
        return await self.aget(run_id)

    async def aresult(self, run_id: str, timeout: float | None = None) -> Any:
        """:meth:`result` for asyncio: the run's output once it has ended; raises
        WorkflowFailed, Cancelled or storyloom.Timeout as :meth:`result` does."""
        return _outcome(await self.await_run(run_id, timeout))

    def _follow(
        self,
        run_id: str,
        after: int,
        *,
        timeout: float | None,
        idle: float | None,
        stop: threading.Event | None = None,
    ) -> Iterator[Event | None]:
        # Yields events, and None after each `idle` seconds without one.
        deadline = None if timeout is None else time.monotonic() + timeout
        sub = self._native.subscribe(run_id, int(after))
        last_id = int(after)
        quiet_since = last_check = time.monotonic()
        try:
            while stop is None or not stop.is_set():
                batch = sub.next_batch(0.1, 256)
                now = time.monotonic()
                if not batch:
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
                for raw in batch:
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


def _json_list(what: str, items: Any) -> builtins.list[Mapping[str, Any]]:
    if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Sequence):
        raise TypeError(f"{what} must be a list of dicts, got {type(items).__name__}")
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise TypeError(f"{what}[{i}] must be a dict, got {type(item).__name__}")
    return [{k: v for k, v in item.items() if v is not None} for item in items]  # None: unset


_DURABILITIES = {"full": _native.DURABILITY_FULL, "normal": _native.DURABILITY_NORMAL}


def _durability(durability: Any) -> int:
    if not isinstance(durability, str):
        raise TypeError(
            f"durability must be a str ('full' or 'normal'), got {type(durability).__name__}"
        )
    if durability not in _DURABILITIES:
        raise InvalidArgument(1, f"durability must be 'full' or 'normal'; got {durability!r}")
    return _DURABILITIES[durability]


_ERROR_CLASSES = {
    "retryable": RETRYABLE,
    "fatal": FATAL,
    "rate_limited": RATE_LIMITED,
    "timeout": TIMEOUT,
}


def _filter(
    status: str | None,
    workflow: str | None,
    owner: str | None,
    error_class: str | None,
    finished_after_ms: int,
    finished_before_ms: int,
) -> tuple[str | None, str | None, str | None, int | None, int, int]:
    """The native module's run filter; the engine validates status names and windows."""
    cls = None
    if error_class is not None:
        if error_class not in _ERROR_CLASSES:
            known = ", ".join(_ERROR_CLASSES)
            raise InvalidArgument(1, f"error_class must be one of {known}; got {error_class!r}")
        cls = _ERROR_CLASSES[error_class]
    for field, value in (
        ("finished_after_ms", finished_after_ms),
        ("finished_before_ms", finished_before_ms),
    ):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{field} must be an int (epoch ms), got {type(value).__name__}")
    return (status, workflow, owner, cls, finished_after_ms, finished_before_ms)


def sse(
    engine: Engine,
    run_id: str,
    last_event_id: int | str | None = 0,
    *,
    heartbeat: float = 15.0,
    retry: float | None = None,
) -> EventStream[bytes]:
    """Server-sent events of a run as bytes, resuming after ``last_event_id`` (the
    Last-Event-ID header), until the run ends; ``: heartbeat`` comments while idle.
    Iterate with ``for`` or ``async for`` (as :meth:`Engine.events`); an ASGI response
    such as Starlette's StreamingResponse uses the async form."""
    try:
        after = int(last_event_id) if last_event_id not in (None, "") else 0
    except (TypeError, ValueError):
        raise ValueError(
            f"last_event_id must be an event id (an integer), got {last_event_id!r}"
        ) from None
    if after < 0:
        raise ValueError(f"last_event_id must not be negative, got {after}")

    def follow(stop: threading.Event) -> Iterator[bytes]:
        if retry is not None:
            yield _native.sse_retry(int(retry * 1000))
        for event in engine._follow(run_id, after, timeout=None, idle=heartbeat, stop=stop):
            if event is None:
                yield _native.sse_heartbeat()
            else:
                yield event_to_sse(event)

    return EventStream(follow)


_END = object()


class EventStream(Generic[T]):
    """Items of a run's stream (events, or SSE bytes), iterable with ``for`` or with
    ``async for`` — once, one way. The async form runs the blocking source in a feeder
    thread (daemon, GIL released while it waits) that hands each item to the consumer's
    loop with ``loop.call_soon_threadsafe``; it stops within 0.1 s of :meth:`close`,
    :meth:`aclose`, the end of the ``async with``/``with`` block, or garbage collection."""

    def __init__(self, source: Callable[[threading.Event], Iterator[T]]) -> None:
        self._source = source
        self._stop = threading.Event()
        self._iter: Iterator[T] | None = None
        self._queue: asyncio.Queue[Any] | None = None

    def _claim(self, how: str) -> None:
        if self._iter is not None or self._queue is not None:
            raise RuntimeError(f"this stream is already being iterated; cannot iterate it {how}")

    # -- sync --
    def __iter__(self) -> Iterator[T]:
        if self._iter is None:
            self._claim("with for")
            self._iter = self._source(self._stop)
        return self

    def __next__(self) -> T:
        if self._iter is None:
            self.__iter__()
        assert self._iter is not None
        return next(self._iter)

    def close(self) -> None:
        """Stops the stream (and its feeder thread, if any). Idempotent."""
        self._stop.set()
        it = self._iter
        if it is not None and hasattr(it, "close"):
            it.close()  # type: ignore[union-attr]

    def __enter__(self) -> EventStream[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- async --
    def __aiter__(self) -> AsyncIterator[T]:
        if self._queue is None:
            self._claim("with async for")
            loop = asyncio.get_running_loop()
            queue: asyncio.Queue[Any] = asyncio.Queue()
            self._queue = queue
            source, stop = self._source, self._stop

            def post(item: Any) -> bool:
                try:
                    loop.call_soon_threadsafe(queue.put_nowait, item)
                    return True
                except RuntimeError:  # the loop is closed: nobody is listening
                    return False

            def feed() -> None:
                try:
                    for item in source(stop):
                        if stop.is_set() or not post(item):
                            return
                    post(_END)
                except BaseException as e:  # noqa: BLE001 - re-raised on the loop
                    post(_Failure(e))

            threading.Thread(target=feed, name="storyloom-events", daemon=True).start()
        return self

    async def __anext__(self) -> T:
        if self._queue is None:
            self.__aiter__()
        assert self._queue is not None
        item = await self._queue.get()
        if item is _END:
            self._queue.put_nowait(_END)  # later calls end too
            raise StopAsyncIteration
        if isinstance(item, _Failure):
            raise item.error
        return item

    async def aclose(self) -> None:
        """Stops the stream and its feeder thread (which ends within 0.1 s)."""
        self._stop.set()

    async def __aenter__(self) -> EventStream[T]:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __del__(self) -> None:
        self._stop.set()


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


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


def _budget_of(i: int, request: Mapping[str, Any]) -> dict[str, Any]:
    """A start request's budget as the engine's JSON ({} when it has none)."""
    if request.get("budget") is None:
        return {}
    b = RunBudget._coerce(f"requests[{i}].budget", request["budget"])
    return {"budget": {"llm_calls": b.llm_calls, "llm_tokens": b.llm_tokens}}
