"""A run's LLM budget and what its llm steps used: typed views of the engine's
"budget" and "usage" JSON (storyloom.h, "JSON shapes")."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from .errors import InvalidArgument

__all__ = ["BudgetStatus", "ModelUsage", "RunBudget", "RunUsage"]


@dataclass(frozen=True)
class RunBudget:
    """What a run's llm steps may spend; 0: no limit. Once its completed llm steps
    used ``llm_calls`` calls or ``llm_tokens`` total tokens, the next llm step fails
    with BudgetExceeded without sending a request (never retried)."""

    llm_calls: int = 0
    llm_tokens: int = 0

    @classmethod
    def _from(cls, d: Mapping[str, Any] | None) -> RunBudget:
        d = d or {}
        calls, tokens = d.get("llm_calls", 0), d.get("llm_tokens", 0)
        # Most runs have no budget: they share one (frozen) instance.
        return _NO_BUDGET if calls == 0 and tokens == 0 else cls(calls, tokens)

    @classmethod
    def _coerce(cls, where: str, value: Any) -> RunBudget:
        """A RunBudget or a dict with llm_calls / llm_tokens, checked; InvalidArgument
        names the field."""
        if isinstance(value, RunBudget):
            value = {"llm_calls": value.llm_calls, "llm_tokens": value.llm_tokens}
        if not isinstance(value, Mapping):
            raise InvalidArgument(
                1,
                f"{where} must be a RunBudget or a dict with llm_calls / llm_tokens, "
                f"got {value!r}"
            )
        for key in value:
            if key not in ("llm_calls", "llm_tokens"):
                raise InvalidArgument(
                    1, f"{where} has an unknown field {key!r} (known: llm_calls, llm_tokens)"
                )
        out = {}
        for key in ("llm_calls", "llm_tokens"):
            v = value.get(key, 0)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0 or v >= 2**63:
                raise InvalidArgument(
                    1, f"{where}.{key} must be a whole number >= 0 (0: no limit), got {v!r}"
                )
            out[key] = v
        return cls(**out)


_NO_BUDGET = RunBudget()


@dataclass(frozen=True)
class ModelUsage:
    """What the completed llm steps of one provider and model used."""

    provider: str
    model: str
    calls: int
    input_tokens: int
    output_tokens: int
    total_tokens: int


@dataclass(frozen=True)
class RunUsage:
    """What a run's completed llm steps used (failed attempts report none), in all
    and per provider and model."""

    llm_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    by_model: list[ModelUsage] = field(default_factory=list)

    @classmethod
    def _from(cls, d: Mapping[str, Any] | None) -> RunUsage:
        d = d or {}
        return cls(
            d.get("llm_calls", 0),
            d.get("input_tokens", 0),
            d.get("output_tokens", 0),
            d.get("total_tokens", 0),
            [
                ModelUsage(
                    m["provider"],
                    m["model"],
                    m["calls"],
                    m["input_tokens"],
                    m["output_tokens"],
                    m["total_tokens"],
                )
                for m in d.get("by_model", [])
            ],
        )


@dataclass(frozen=True)
class BudgetStatus:
    """A run's budget against its usage; ``remaining_*`` is None for a limit that is
    not set; ``exceeded`` once a limit is reached."""

    llm_calls: int = 0
    llm_tokens: int = 0
    spent_llm_calls: int = 0
    spent_llm_tokens: int = 0
    remaining_llm_calls: int | None = None
    remaining_llm_tokens: int | None = None
    exceeded: bool = False

    @classmethod
    def _from(cls, d: Mapping[str, Any] | None) -> BudgetStatus:
        d = d or {}
        return cls(
            d.get("llm_calls", 0),
            d.get("llm_tokens", 0),
            d.get("spent_llm_calls", 0),
            d.get("spent_llm_tokens", 0),
            d.get("remaining_llm_calls"),
            d.get("remaining_llm_tokens"),
            d.get("exceeded", False),
        )
