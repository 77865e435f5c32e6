"""OpenTelemetry metrics through ``opentelemetry-api``, when it is installed (the ``otel``
extra) and the host set a meter provider (until then the API's instruments do nothing and
the queue is never read). Counters and the step histogram come from the engine's
lifecycle reports (storyloom.h sl_engine_set_lifecycle); the queue depth gauge reads the
queued runs when the host's metric reader collects."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

#: The workflow of every queued run of one engine, or None once it is closed.
QueuedWorkflows = Callable[[], "list[str] | None"]


def api() -> Any | None:
    """The ``opentelemetry.metrics`` module when opentelemetry-api can be imported."""
    try:
        from opentelemetry import metrics
    except ImportError:
        return None
    return metrics


def _step_outcome(r: dict[str, Any]) -> str:
    """completed, retrying (another attempt follows), failed, or cancelled / closed (an
    llm, http or image attempt stopped by a cancel or a close)."""
    if r["type"] == "step.finished":
        return "completed"
    if r.get("error_class") in ("cancelled", "closed"):
        return str(r["error_class"])
    return "retrying" if r.get("will_retry") else "failed"


class _QueueGauge:
    """The one ``storyloom.queue.depth`` gauge of the process, for every engine: the SDK
    keeps the first registration of a name (and its callbacks), so a second engine's
    gauge would never be observed."""

    def __init__(self, metrics: Any) -> None:
        self._metrics = metrics
        self._lock = threading.Lock()
        self._readers: list[QueuedWorkflows] = []
        self._queued_before: set[str] = set()  # workflows observed with queued runs
        metrics.get_meter("storyloom").create_observable_gauge(
            "storyloom.queue.depth",
            callbacks=[self._observe],
            unit="{run}",
            description="Runs waiting in the queue (status queued), by workflow",
        )

    def add(self, queued: QueuedWorkflows) -> None:
        with self._lock:
            self._readers.append(queued)

    def _observe(self, _options: Any) -> Iterable[Any]:
        with self._lock:
            readers = list(self._readers)
        depth: dict[str, int] = {}
        closed = []
        for read in readers:
            workflows = read()
            if workflows is None:
                closed.append(read)
                continue
            for w in workflows:
                depth[w] = depth.get(w, 0) + 1
        with self._lock:
            self._readers = [r for r in self._readers if r not in closed]
            # A workflow whose queue emptied reads 0, not its last value.
            for w in self._queued_before:
                depth.setdefault(w, 0)
            self._queued_before.update(depth)
        return [self._metrics.Observation(n, {"storyloom.workflow": w}) for w, n in depth.items()]


_gauge_lock = threading.Lock()
_gauge: _QueueGauge | None = None


def _queue_gauge(metrics: Any) -> _QueueGauge:
    global _gauge
    with _gauge_lock:
        if _gauge is None:
            _gauge = _QueueGauge(metrics)
        return _gauge


class LifecycleMetrics:
    """Maps lifecycle reports (parsed JSON) to the instruments of the meter named
    "storyloom" (a proxy meter until the host sets a provider; its instruments follow
    then), and adds the engine's queue to the queue depth gauge. Reports arrive on the
    engine's one reporter thread; the gauge is read on the metric reader's."""

    def __init__(self, metrics: Any, queued: QueuedWorkflows) -> None:
        meter = metrics.get_meter("storyloom")
        self._runs_started = meter.create_counter(
            "storyloom.runs.started", unit="{run}", description="Runs whose first execution began"
        )
        self._runs_completed = meter.create_counter(
            "storyloom.runs.completed", unit="{run}", description="Runs that completed"
        )
        self._runs_failed = meter.create_counter(
            "storyloom.runs.failed", unit="{run}", description="Runs that failed"
        )
        self._step_duration = meter.create_histogram(
            "storyloom.step.duration", unit="ms", description="Duration of step attempts"
        )
        self._llm_tokens = meter.create_counter(
            "storyloom.llm.tokens", unit="{token}", description="Tokens used by llm steps, by model"
        )
        self._rate_limit_pauses = meter.create_counter(
            "storyloom.rate_limit.pauses",
            unit="{attempt}",
            description="Step attempts refused by a rate limit (error class rate_limited)",
        )
        _queue_gauge(metrics).add(queued)

    def report(self, r: dict[str, Any]) -> None:
        workflow = {"storyloom.workflow": r["workflow"]}
        kind = r["type"]
        if kind == "run.started":
            if r.get("first"):
                self._runs_started.add(1, workflow)
        elif kind == "run.finished":
            if r["outcome"] == "completed":
                self._runs_completed.add(1, workflow)
            elif r["outcome"] == "failed":
                cls = r.get("error_class", "fatal")
                self._runs_failed.add(1, {**workflow, "storyloom.error.class": cls})
        elif kind in ("step.finished", "step.failed"):
            step = {**workflow, "storyloom.step.kind": r["kind"]}
            self._step_duration.record(
                r["duration_ms"], {**step, "storyloom.step.outcome": _step_outcome(r)}
            )
            if r.get("error_class") == "rate_limited":
                self._rate_limit_pauses.add(1, step)
            usage = r.get("usage") or {}
            model = {**workflow, "storyloom.llm.model": r.get("model", "")}
            for key, token_type in (("input_tokens", "input"), ("output_tokens", "output")):
                if isinstance(usage.get(key), int):
                    self._llm_tokens.add(
                        usage[key], {**model, "storyloom.llm.token.type": token_type}
                    )
