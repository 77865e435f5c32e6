"""The built-in llm step from Python: the request JSON of ``sl_execution_llm``, its result
as :class:`LlmResult` and its failures as StoryloomError subclasses. How the outcome gets
from the engine's LLM I/O thread to the workflow: storyloom._completions."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypedDict

from . import _native
from .errors import StoryloomError, _from_native

__all__ = ["LlmMessage", "LlmResult", "LlmUsage"]

#: The normalized finish reasons of every provider.
FinishReason = Literal["stop", "length", "content_filter", "tool_calls", "error"]


class LlmMessage(TypedDict):
    """One chat message: role "system", "user" or "assistant"."""

    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(frozen=True)
class LlmUsage:
    """Tokens the provider counted (the offline provider counts words)."""

    input_tokens: int
    output_tokens: int
    #: As the provider said, else input + output.
    total_tokens: int = 0


@dataclass(frozen=True)
class LlmResult:
    """What an llm step returns, stored once and returned again on replay: the whole
    ``text`` (the same text the step streamed as chunk events); ``finish_reason``
    normalized ("stop", "length", "content_filter", "tool_calls" or "error") and
    ``stop_reason`` the provider's own word ("end_turn", "max_tokens", ...);
    ``truncated`` when the answer was cut off at max_tokens (kept as it is, never
    retried); ``usage``; which ``provider`` and ``model`` wrote it ("offline" writes
    placeholder text, not a language model); and ``json``, the answer parsed when the
    request had a ``json_schema`` (None otherwise, and when truncated)."""

    text: str
    finish_reason: FinishReason | str
    usage: LlmUsage
    provider: str
    model: str
    stop_reason: str = ""
    truncated: bool = False
    json: Any = None

    @classmethod
    def _from_json(cls, text: str) -> LlmResult:
        d = json.loads(text)
        usage = d.get("usage") or {}
        return cls(
            text=d.get("text", ""),
            finish_reason=d.get("finish_reason", ""),
            usage=LlmUsage(
                usage.get("input_tokens", 0),
                usage.get("output_tokens", 0),
                usage.get("total_tokens")
                or usage.get("input_tokens", 0) + usage.get("output_tokens", 0),
            ),
            provider=d.get("provider", ""),
            model=d.get("model", ""),
            stop_reason=d.get("stop_reason", d.get("finish_reason", "")),
            truncated=bool(d.get("truncated", d.get("finish_reason") == "length")),
            json=d.get("json"),
        )


def _type_error(field: str, want: str, value: Any) -> TypeError:
    return TypeError(f"llm step: {field} must be {want}, got {type(value).__name__}")


def request_json(
    name: str,
    messages: Sequence[LlmMessage] | str,
    *,
    provider: str | None,
    model: str | None,
    max_tokens: int | None,
    temperature: float | None,
    stream: bool,
    stream_name: str | None,
    stop: str | Sequence[str] | None = None,
    idle_timeout: float | None = None,
    total_timeout: float | None = None,
    extra: Mapping[str, Any] | None = None,
    json_schema: Mapping[str, Any] | None = None,
) -> str:
    """The request JSON of sl_execution_llm. Types are checked here (TypeError naming the
    argument); values (roles, ranges, names, the provider) by the engine (InvalidArgument,
    NotFound)."""
    if not isinstance(name, str):
        raise _type_error("name", "a str", name)
    if isinstance(messages, str):
        messages = [{"role": "user", "content": messages}]
    if not isinstance(messages, Sequence):
        raise _type_error("messages", "a list of {'role', 'content'} dicts", messages)
    wire: list[dict[str, str]] = []
    for i, m in enumerate(messages):
        if not isinstance(m, Mapping):
            raise _type_error(f"messages[{i}]", "a dict with 'role' and 'content'", m)
        for key in ("role", "content"):
            if not isinstance(m.get(key), str):
                raise _type_error(f"messages[{i}][{key!r}]", "a str", m.get(key))
        wire.append({"role": m["role"], "content": m["content"]})
    request: dict[str, Any] = {"messages": wire}
    for field, value in (("provider", provider), ("model", model), ("stream_name", stream_name)):
        if value is not None:
            if not isinstance(value, str):
                raise _type_error(field, "a str", value)
            request[field] = value
    if max_tokens is not None:
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int):
            raise _type_error("max_tokens", "an int", max_tokens)
        request["max_tokens"] = max_tokens
    if temperature is not None:
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)):
            raise _type_error("temperature", "a number", temperature)
        request["temperature"] = float(temperature)
    if not isinstance(stream, bool):
        raise _type_error("stream", "True or False", stream)
    request["stream"] = stream
    if stop is not None:
        stops = [stop] if isinstance(stop, str) else stop
        if not isinstance(stops, Sequence) or not all(isinstance(x, str) for x in stops):
            raise _type_error("stop", "a str or a list of str", stop)
        request["stop"] = list(stops)
    for field, seconds in (("idle_timeout", idle_timeout), ("total_timeout", total_timeout)):
        if seconds is not None:
            if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
                raise _type_error(field, "seconds (a number)", seconds)
            request[field + "_ms"] = round(seconds * 1000)
    for field, value in (("extra", extra), ("json_schema", json_schema)):
        if value is not None:
            if not isinstance(value, Mapping):
                raise _type_error(field, "a dict", value)
            request[field] = dict(value)
    return json.dumps(request, separators=(",", ":"), ensure_ascii=False)


Outcome = tuple  # (status, error_class, message, result JSON or None, memoized, will_retry)


def settle(outcome: Outcome) -> LlmResult:
    """The result of an outcome, or its error raised (``will_retry`` set on it)."""
    status, error_class, message, result, _memoized, will_retry = outcome
    if status == _native.OK and result is not None:
        return LlmResult._from_json(result)
    error: StoryloomError = _from_native(status, error_class, message)
    error.will_retry = bool(will_retry)
    raise error
