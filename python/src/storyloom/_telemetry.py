"""OpenTelemetry through ``opentelemetry-api``, when it is installed (the ``otel`` extra;
without it nothing here does anything). The engine's lifecycle reports (storyloom.h
sl_engine_set_lifecycle) become spans: one per execution of a run, a child of the span
that was current at start() (the traceparent stored with the run, so also after a crash
and a resume in another process), and one per step attempt, a child of its run's."""

from __future__ import annotations

import re
from typing import Any

_TRACE_PARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_MS = 1_000_000  # nanoseconds per millisecond


def api() -> Any | None:
    """The ``opentelemetry.trace`` module when opentelemetry-api can be imported."""
    try:
        from opentelemetry import trace
    except ImportError:
        return None
    return trace


def current_trace_parent(trace: Any) -> str:
    """The W3C traceparent of the current span, or ""."""
    sc = trace.get_current_span().get_span_context()
    if not sc.is_valid:
        return ""
    return f"00-{sc.trace_id:032x}-{sc.span_id:016x}-{int(sc.trace_flags) & 0xFF:02x}"


class LifecycleSpans:
    """Maps lifecycle reports (parsed JSON) to spans of the tracer named "storyloom". Called
    on the engine's one reporter thread, so its maps need no lock."""

    def __init__(self, trace: Any) -> None:
        self._trace = trace
        self._runs: dict[str, Any] = {}  # run id -> span of its current execution
        self._steps: dict[str, Any] = {}  # "run id/seq" -> span of the attempt in progress

    def _remote_parent(self, trace_parent: str) -> Any:
        m = _TRACE_PARENT.match(trace_parent)
        if not m:
            return None
        t = self._trace
        sc = t.SpanContext(
            trace_id=int(m.group(1), 16),
            span_id=int(m.group(2), 16),
            is_remote=True,
            trace_flags=t.TraceFlags(int(m.group(3), 16)),
        )
        return t.set_span_in_context(t.NonRecordingSpan(sc))

    def report(self, r: dict[str, Any]) -> None:
        t = self._trace
        # Looked up each time: a tracer provider set after the engine opened is used too.
        tracer = t.get_tracer("storyloom")
        base = {"storyloom.run.id": r["run_id"], "storyloom.workflow": r["workflow"]}
        kind = r["type"]
        step_key = f"{r['run_id']}/{r.get('seq')}"
        if kind == "run.started":
            self._runs[r["run_id"]] = tracer.start_span(
                f"storyloom.run {r['workflow']}",
                context=self._remote_parent(r["trace_parent"]),
                attributes=base,
                start_time=r["started_at_ms"] * _MS,
            )
        elif kind == "step.started":
            run = self._runs.get(r["run_id"])
            parent = (
                t.set_span_in_context(run) if run else self._remote_parent(r["trace_parent"])
            )
            self._steps[step_key] = tracer.start_span(
                f"storyloom.step {r['step']}",
                context=parent,
                attributes={
                    **base,
                    "storyloom.step.name": r["step"],
                    "storyloom.step.kind": r["kind"],
                    "storyloom.step.seq": r["seq"],
                    "storyloom.step.attempt": r["attempt"],
                },
                start_time=r["started_at_ms"] * _MS,
            )
        elif kind in ("step.finished", "step.failed"):
            span = self._steps.pop(step_key, None)
            if span is None:
                return  # its start was reported before the mapper was set
            if "model" in r:
                span.set_attribute("storyloom.llm.model", r["model"])
            usage = r.get("usage") or {}
            for k in ("input_tokens", "output_tokens", "total_tokens"):
                if isinstance(usage.get(k), int):
                    span.set_attribute(f"storyloom.llm.{k}", usage[k])
            if kind == "step.failed":
                span.set_attribute("storyloom.error.class", r["error_class"])
                span.set_attribute("storyloom.step.will_retry", r["will_retry"])
                span.set_status(t.Status(t.StatusCode.ERROR, r["error_class"]))
            span.end(end_time=r["ended_at_ms"] * _MS)
        elif kind == "run.finished":
            # An attempt whose end was not reported (one a finished workflow left behind)
            # ends with the run.
            prefix = f"{r['run_id']}/"
            for key in [k for k in self._steps if k.startswith(prefix)]:
                self._steps.pop(key).end(end_time=r["ended_at_ms"] * _MS)
            span = self._runs.pop(r["run_id"], None)
            if span is None:
                return
            span.set_attribute("storyloom.run.outcome", r["outcome"])
            if "error_class" in r:
                span.set_attribute("storyloom.error.class", r["error_class"])
                span.set_status(t.Status(t.StatusCode.ERROR, r["error_class"]))
            span.end(end_time=r["ended_at_ms"] * _MS)
