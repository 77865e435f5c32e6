"""Per-workflow options (storyloom/engine.h WorkflowOptions, sl_workflow_options): the
retry policy, limits on running runs and run starts, and timeouts. Times in seconds.

The engine validates values when the workflow is registered and raises InvalidArgument
naming the field; this module only turns Python types into the C ABI's (TypeError for a
wrong type, naming the argument)."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

__all__ = ["Concurrency", "RetryPolicy", "Throttle"]


@dataclass(frozen=True)
class RetryPolicy:
    """How often a failed step is tried again (storyloom/retry.h). Times in seconds.

    Before attempt n+1 the run waits a random time in
    [0, min(max_backoff, initial_backoff * multiplier ** (n - 1))] (full jitter;
    ``jitter=False`` waits the whole bound). Exceptions raised in a step are retryable
    unless they derive from :class:`storyloom.FatalError`. The engine validates the policy
    when the workflow is registered and raises InvalidArgument naming the bad field."""

    max_attempts: int = 3
    initial_backoff: float = 1.0
    multiplier: float = 2.0
    max_backoff: float = 60.0
    jitter: bool = True

    def _native(self) -> tuple[int, int, float, int, bool]:
        return (
            int(self.max_attempts),
            checked_ms("initial_backoff", self.initial_backoff),
            float(self.multiplier),
            checked_ms("max_backoff", self.max_backoff),
            bool(self.jitter),
        )


@dataclass(frozen=True)
class Concurrency:
    """At most ``limit`` running runs of the workflow per value of ``key``, a JSON path
    into the run input ("$.user_id", "user_id", "$.user.id"); an input without the path
    counts in one shared "null" bucket. Sleeping and waiting runs hold no slot; the limit
    holds across processes sharing the store."""

    key: str
    limit: int


@dataclass(frozen=True)
class Throttle:
    """At most ``limit`` first starts of runs per ``period`` seconds, per value of ``key``
    (a JSON path into the input; "" for one bucket for the whole workflow). Runs over the
    limit wait in the queue."""

    limit: int
    period: float
    key: str = ""


def _int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    return value


def _str(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__}")
    return value


# The engine's longest duration (kMaxDurationMs, SL_MAX_DURATION_MS): 100 years.
MAX_DURATION_SECONDS = 3_155_760_000


def checked_ms(name: str, seconds: float) -> int:
    """Seconds as whole milliseconds, refusing what the engine would refuse anyway
    but Python cannot even convert (inf, nan, more than 100 years) with ValueError
    naming the parameter, so no value ever overflows into "now"."""
    if isinstance(seconds, float) and not math.isfinite(seconds) or abs(seconds) > MAX_DURATION_SECONDS:
        raise ValueError(
            f"{name} is {seconds} seconds; the limit is {MAX_DURATION_SECONDS} seconds (100 years)"
        )
    return round(seconds * 1000)


def duration_ms(name: str, seconds: Any) -> int:
    """Seconds as whole milliseconds for the C ABI: None and 0 are 0 (unset), a positive
    time is at least 1 ms (never silently unset), a negative one stays negative so that
    the engine refuses it with its message."""
    if seconds is None:
        return 0
    if isinstance(seconds, bool) or not isinstance(seconds, numbers.Real):
        raise TypeError(f"{name} must be a number of seconds, got {type(seconds).__name__}")
    ms = checked_ms(name, float(seconds))
    return max(1, ms) if seconds > 0 else ms


# (step_timeout_ms, max_running, concurrency_key, concurrency_limit, throttle_key,
#  throttle_limit, throttle_period_ms, run_timeout_ms): the native module's `limits`.
NativeLimits = tuple[int, int, str, int, str, int, int, int]


def native_retry(retries: Any) -> tuple[int, int, float, int, bool] | None:
    if retries is None:
        return None  # unset: llm steps take their default policy
    if retries is False:
        return RetryPolicy(max_attempts=1)._native()  # one attempt, llm steps too
    if not isinstance(retries, RetryPolicy):
        raise TypeError(f"retries must be a storyloom.RetryPolicy, got {type(retries).__name__}")
    if retries.max_attempts == 0:
        # 0 means "unset" in sl_workflow_options: refuse it as the engine would.
        from .errors import InvalidArgument

        raise InvalidArgument(1, "max_attempts must be at least 1, got 0")
    return retries._native()


def native_limits(
    *,
    concurrency: Any,
    max_running: Any,
    throttle: Any,
    step_timeout: Any,
    run_timeout: Any,
) -> NativeLimits | None:
    """The native tuple, or None when no limit or timeout is set (the engine's defaults)."""
    unset = (concurrency, throttle, step_timeout, run_timeout)
    if all(v is None for v in unset) and not max_running:
        return None
    c_key, c_limit = "", 0
    if concurrency is not None:
        if not isinstance(concurrency, Concurrency):
            raise TypeError(
                "concurrency must be a storyloom.Concurrency(key, limit), "
                f"got {type(concurrency).__name__}"
            )
        c_key = _str("concurrency.key", concurrency.key)
        c_limit = _int("concurrency.limit", concurrency.limit)
    t_key, t_limit, t_period = "", 0, 0
    if throttle is not None:
        if not isinstance(throttle, Throttle):
            raise TypeError(
                "throttle must be a storyloom.Throttle(limit, period, key=''), "
                f"got {type(throttle).__name__}"
            )
        t_key = _str("throttle.key", throttle.key)
        t_limit = _int("throttle.limit", throttle.limit)
        t_period = duration_ms("throttle.period", throttle.period)
    return (
        duration_ms("step_timeout", step_timeout),
        _int("max_running", max_running),
        c_key,
        c_limit,
        t_key,
        t_limit,
        t_period,
        duration_ms("run_timeout", run_timeout),
    )
