"""Exceptions: one class per storyloom status code (the SL_E* codes of storyloom.h)."""

from __future__ import annotations

from typing import Any

__all__ = [
    "FATAL",
    "RATE_LIMITED",
    "RETRYABLE",
    "TIMEOUT",
    "BudgetExceeded",
    "Cancelled",
    "Closed",
    "FatalError",
    "InternalError",
    "InvalidArgument",
    "InvalidState",
    "Nondeterminism",
    "NotADatabase",
    "NotFound",
    "PayloadTooLarge",
    "ProviderError",
    "QuotaExceeded",
    "RateLimited",
    "SchemaTooNew",
    "StepFailed",
    "StoreError",
    "StoryloomError",
    "Timeout",
    "WorkflowFailed",
]

# Error classes (SL_CLASS_*): how retry policies treat a failure.
RETRYABLE = 0
FATAL = 1
RATE_LIMITED = 2
TIMEOUT = 3
_CLASS_NAMES = {
    RETRYABLE: "retryable",
    FATAL: "fatal",
    RATE_LIMITED: "rate_limited",
    TIMEOUT: "timeout",
}


class FatalError(Exception):
    """Raise (or subclass) in a step to fail it at once: the retry policy does not retry it.
    Any other exception raised in a step is retryable."""


class RateLimited(Exception):
    """Raise in a step when an API answered "too many requests": the attempt fails with
    class "rate_limited" and, when the retry policy tries again, the next attempt waits
    ``retry_after`` seconds instead of the backoff; the resource the step holds
    (``ctx.step(..., resource=...)``) pauses as long, so other steps using it wait too."""

    def __init__(self, message: str = "", *, retry_after: float = 0.0) -> None:
        if isinstance(retry_after, bool) or not isinstance(retry_after, (int, float)):
            raise TypeError(
                f"retry_after must be a number of seconds, got {type(retry_after).__name__}"
            )
        super().__init__(message)
        self.retry_after = float(retry_after)


class StoryloomError(Exception):
    """A failed storyloom call: ``code`` (SL_E* number), ``message`` as the engine wrote it,
    and ``error_class`` ("retryable", "fatal", "rate_limited" or "timeout").

    ``will_retry`` is True on an error raised by ``ctx.llm`` when the workflow's retry
    policy tries the step again: let it propagate (the run is queued again after the
    backoff) rather than treat it as the step's final failure."""

    code: int = 0
    code_name: str = "error"
    will_retry: bool = False
    # Where a step's error came from, when it is raised again on replay: the class name
    # the step raised ("ValueError", "myapp.PaymentDeclined") and its traceback. "" else.
    origin_type: str = ""
    traceback: str = ""

    def __init__(self, code: int, message: str, error_class: str = "fatal") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.error_class = error_class

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code}, {self.message!r})"


def _subclass(name: str, code: int, code_name: str, doc: str, *bases: type) -> type[StoryloomError]:
    cls = type(name, (StoryloomError, *bases), {"__doc__": doc, "code_name": code_name})
    cls.code = code  # type: ignore[attr-defined]
    return cls


InvalidArgument = _subclass(
    "InvalidArgument",
    1,
    "invalid_argument",
    "Malformed input: bad name, bad JSON, non-object input.",
    ValueError,
)
NotFound = _subclass("NotFound", 2, "not_found", "Unknown run or workflow.", LookupError)
InvalidState = _subclass(
    "InvalidState", 3, "invalid_state", "The run is not in a state that allows the call."
)
PayloadTooLarge = _subclass(
    "PayloadTooLarge", 4, "payload_too_large", "A JSON payload or name over its limit.", ValueError
)
StoreError = _subclass("StoreError", 5, "store", "The store failed (I/O, SQLite error).")
NotADatabase = _subclass(
    "NotADatabase", 6, "not_a_database", "The store path is not a storyloom database."
)
SchemaTooNew = _subclass(
    "SchemaTooNew", 7, "schema_too_new", "The store was written by a newer storyloom."
)
Nondeterminism = _subclass(
    "Nondeterminism", 8, "nondeterminism", "Replay called steps in a different order."
)
Cancelled = _subclass("Cancelled", 9, "cancelled", "The run was cancelled.")
StepFailed = _subclass("StepFailed", 10, "step_failed", "A step or a child run failed.")
Closed = _subclass("Closed", 11, "closed", "The engine is closed or closing.")
Timeout = _subclass("Timeout", 12, "timeout", "A wait, a step or a run took too long.")
InternalError = _subclass("InternalError", 13, "internal", "A bug in storyloom, or out of memory.")
ProviderError = _subclass(
    "ProviderError",
    14,
    "provider",
    "An LLM provider refused or failed a request (a bad key, a bad request, a 5xx, a broken "
    "stream); ``error_class`` says whether a retry can help.",
)

QuotaExceeded = _subclass(
    "QuotaExceeded",
    15,
    "quota_exceeded",
    "The provider account is out of quota or credit (OpenAI insufficient_quota, Anthropic "
    "billing, OpenRouter 402, Gemini quota); never retried.",
)

BudgetExceeded = _subclass(
    "BudgetExceeded",
    16,
    "budget_exceeded",
    "The run's LLM budget (``budget=`` at start) is spent: the llm step made no request; "
    "never retried.",
)

_BY_CODE: dict[int, type[StoryloomError]] = {
    c.code: c
    for c in (
        InvalidArgument,
        NotFound,
        InvalidState,
        PayloadTooLarge,
        StoreError,
        NotADatabase,
        SchemaTooNew,
        Nondeterminism,
        Cancelled,
        StepFailed,
        Closed,
        Timeout,
        InternalError,
        ProviderError,
        QuotaExceeded,
        BudgetExceeded,
    )
}


_BY_NAME: dict[str, type[StoryloomError]] = {c.code_name: c for c in _BY_CODE.values()}


def _from_json(error: dict) -> StoryloomError:
    """The exception for an {"code": name, "class": name, "message"} error object (the
    per-item errors of start_many / signal_many)."""
    cls = _BY_NAME.get(str(error.get("code")), StoryloomError)
    code = getattr(cls, "code", 0)
    return cls(code, str(error.get("message", "")), str(error.get("class", "fatal")))


def _from_native(
    code: int, error_class: int, message: str, origin_type: str = "", origin_trace: str = ""
) -> StoryloomError:
    """Called by storyloom._native to build the exception for a failed sl_* call. A step
    failure raised again on replay (``origin_type`` set) keeps the class it was raised
    with: see :func:`storyloom._origin.replayed_error`."""
    class_name = _CLASS_NAMES.get(error_class, "fatal")
    if code == StepFailed.code and origin_type:
        from ._origin import replayed_error

        return replayed_error(message, class_name, origin_type, origin_trace)
    cls = _BY_CODE.get(code, StoryloomError)
    return cls(code, message, class_name)


class WorkflowFailed(StoryloomError):
    """Raised by :meth:`Engine.result` for a run that failed: ``run_id``, ``step`` (the
    step whose error escaped the workflow, "" if none), ``origin_type`` (the class name
    the workflow or step raised, e.g. "ValueError"; the engine's error code name when the
    engine failed the run), ``message`` as stored, ``traceback`` (the Python traceback,
    "" when the error did not come from Python code) and ``error`` (the stored error
    object). Read back from the store, so another process gets the same."""

    code = StepFailed.code
    code_name = "step_failed"

    def __init__(self, run_id: str, error: dict[str, Any]) -> None:
        found = error.get("origin")
        origin: dict[str, Any] = found if isinstance(found, dict) else {}
        message = str(error.get("message", ""))
        super().__init__(self.code, message, str(error.get("class", "fatal")))
        self.run_id = run_id
        self.error = error
        self.step = str(error.get("step", "") or "")
        self.origin_type = str(origin.get("type", "") or error.get("code", ""))
        self.traceback = str(origin.get("trace", ""))

    def __str__(self) -> str:
        where = f" in step '{self.step}'" if self.step else ""
        text = f"run '{self.run_id}' failed{where}: {self.message}"
        return f"{text}\n{self.traceback}" if self.traceback else text
