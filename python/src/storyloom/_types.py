"""Typed views of the JSON the engine returns (shapes in storyloom.h)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ._budget import BudgetStatus, RunBudget, RunUsage

__all__ = [
    "Artifact",
    "Event",
    "LlmProviderInfo",
    "LlmProviders",
    "ResourceStatus",
    "Run",
    "RunPage",
    "Snapshot",
    "Step",
]

TERMINAL_STATUSES = frozenset({"completed", "failed", "cancelled"})
TERMINAL_EVENTS = frozenset({"run.completed", "run.failed", "run.cancelled"})


@dataclass(frozen=True)
class Run:
    """One run: status is queued|running|sleeping|waiting|completed|failed|cancelled.
    ``error`` is ``{"code", "class", "message", "step"}`` or None."""

    id: str
    workflow: str
    status: str
    input: Any
    output: Any
    error: dict[str, Any] | None
    progress: Any
    owner: str
    idempotency_key: str
    parent_id: str
    priority: int
    created_at_ms: int
    updated_at_ms: int
    finished_at_ms: int
    budget: RunBudget = field(default_factory=RunBudget)  # as given at start; 0: no limit
    trace_parent: str = ""  # the W3C traceparent given at start (a child's: its parent's)

    @property
    def finished(self) -> bool:
        """True once the run is completed, failed or cancelled."""
        return self.status in TERMINAL_STATUSES

    @classmethod
    def _from(cls, d: dict[str, Any]) -> Run:
        # Filled in directly rather than through __init__, which sets each field of a
        # frozen dataclass with object.__setattr__ (three times slower): this runs for
        # every start and every listed run.
        run = object.__new__(cls)
        run.__dict__.update(
            id=d["id"],
            workflow=d["workflow"],
            status=d["status"],
            input=d.get("input"),
            output=d.get("output"),
            error=d.get("error"),
            progress=d.get("progress"),
            owner=d.get("owner", ""),
            idempotency_key=d.get("idempotency_key", ""),
            parent_id=d.get("parent_id", ""),
            priority=d.get("priority", 0),
            created_at_ms=d.get("created_at_ms", 0),
            updated_at_ms=d.get("updated_at_ms", 0),
            finished_at_ms=d.get("finished_at_ms", 0),
            budget=RunBudget._from(d.get("budget")),
            trace_parent=d.get("trace_parent", ""),
        )
        return run


@dataclass(frozen=True)
class RunPage:
    """A page of runs, oldest first; pass ``next_cursor`` as ``after`` ("" at the end)."""

    runs: list[Run]
    next_cursor: str


@dataclass(frozen=True)
class Step:
    """A step of a run as stored: kind is step|sleep|signal|invoke; result is its JSON."""

    seq: int
    name: str
    kind: str
    status: str
    result: Any
    completed_at_ms: int


@dataclass(frozen=True)
class Artifact:
    """One version of a named JSON document a run produced, or of a binary artifact (a
    picture): then ``content_type`` is its media type, ``value`` is ``{"content_type",
    "size", "sha256"}`` and :meth:`Engine.artifact_bytes` reads its bytes."""

    key: str
    version: int
    value: Any
    created_at_ms: int
    content_type: str | None = None

    @classmethod
    def _from(cls, d: dict[str, Any]) -> Artifact:
        return cls(
            d["key"], d["version"], d.get("value"), d.get("created_at_ms", 0), d.get("content_type")
        )


@dataclass(frozen=True)
class Snapshot:
    """One consistent read of a run: subscribe after ``last_event_id`` to go on live.
    ``streams``: per chunk stream, ``{"attempt_start": E, "end": N}``: its text's byte
    length N and where the current llm attempt's text begins (a retried attempt's text
    replaces the earlier one's; empty with a core that does not report it)."""

    run: Run
    steps: list[Step]
    artifacts: list[Artifact]
    last_event_id: int
    streams: dict[str, dict[str, int]] = field(default_factory=dict)
    usage: RunUsage = field(default_factory=RunUsage)  # what the completed llm steps used
    budget: BudgetStatus = field(default_factory=BudgetStatus)  # the budget against usage

    @classmethod
    def _from(cls, d: dict[str, Any]) -> Snapshot:
        return cls(
            run=Run._from(d["run"]),
            steps=[
                Step(
                    s["seq"],
                    s["name"],
                    s["kind"],
                    s["status"],
                    s.get("result"),
                    s.get("completed_at_ms", 0),
                )
                for s in d.get("steps", [])
            ],
            artifacts=[Artifact._from(a) for a in d.get("artifacts", [])],
            last_event_id=d.get("last_event_id", 0),
            streams=dict(d.get("streams") or {}),
            usage=RunUsage._from(d.get("usage")),
            budget=BudgetStatus._from(d.get("budget")),
        )


_KINDS = ("stored", "transient", "cursor")


@dataclass(frozen=True)
class Event:
    """An event. kind: "stored" (persisted, id > 0), "transient" (live chunk text, id 0) or
    "cursor" (a stored chunk this subscriber already got live: only the id moves)."""

    id: int
    kind: str
    run_id: str
    type: str
    data: Any
    created_at_ms: int
    _data_json: str = field(default="null", repr=False, compare=False)

    @property
    def ends_run(self) -> bool:
        """True for run.completed, run.failed and run.cancelled (stored)."""
        return self.kind == "stored" and self.type in TERMINAL_EVENTS

    @classmethod
    def _from_native(cls, t: tuple) -> Event:
        id_, kind, run_id, type_, data_json, created = t
        return cls(
            id_,
            _KINDS[kind] if 0 <= kind < 3 else str(kind),
            run_id,
            type_,
            json.loads(data_json) if data_json else None,
            created,
            data_json,
        )

    @classmethod
    def _from_json(cls, d: dict[str, Any]) -> Event:
        data = d.get("data")
        return cls(
            d["id"],
            "stored",
            d["run_id"],
            d["type"],
            data,
            d.get("created_at_ms", 0),
            json.dumps(data, separators=(",", ":")),
        )


@dataclass(frozen=True)
class ResourceStatus:
    """A resource now: requests and LLM tokens its buckets hold (None: no such limit),
    requests in flight, requests waiting to be admitted, and until when a provider's 429
    paused it (epoch ms; 0: not paused). An unknown name is reported as unlimited."""

    name: str
    available_requests: float | None
    available_tokens: float | None
    in_flight: int
    waiting: int
    paused_until_ms: int

    @classmethod
    def _from(cls, d: dict[str, Any]) -> ResourceStatus:
        return cls(
            d["name"],
            d.get("available_requests"),
            d.get("available_tokens"),
            d.get("in_flight", 0),
            d.get("waiting", 0),
            d.get("paused_until_ms", 0),
        )


@dataclass(frozen=True)
class LlmProviderInfo:
    """A configured LLM provider, without its key: ``has_key`` says whether it has one.
    kind: "openai", "anthropic" or "offline" (placeholder text, not a language model)."""

    name: str
    kind: str
    base_url: str
    model: str
    resource: str
    has_key: bool


@dataclass(frozen=True)
class LlmProviders:
    """The engine's LLM providers and the ``default`` one (used by requests naming none)."""

    default: str
    providers: list[LlmProviderInfo]

    def __getitem__(self, name: str) -> LlmProviderInfo:
        """The provider ``name``; KeyError naming it and the known ones."""
        for p in self.providers:
            if p.name == name:
                return p
        known = ", ".join(p.name for p in self.providers)
        raise KeyError(f"no LLM provider {name!r} (known: {known})")

    @classmethod
    def _from(cls, d: dict[str, Any]) -> LlmProviders:
        return cls(
            d.get("default", ""),
            [
                LlmProviderInfo(
                    p["name"],
                    p.get("kind", ""),
                    p.get("base_url", ""),
                    p.get("model", ""),
                    p.get("resource", ""),
                    bool(p.get("has_key", False)),
                )
                for p in d.get("providers", [])
            ],
        )
