"""The built-in http step from Python: the request JSON of ``sl_execution_http``, its
result as :class:`HttpResult`, and a step's own retry policy as ``retry_json``."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import _native
from .errors import StoryloomError, _from_native

__all__ = ["HttpHeader", "HttpResult", "StepRetry"]


@dataclass(frozen=True)
class HttpHeader:
    """A request header; ``secret`` keeps its value out of everything the engine stores
    (Authorization, Cookie, X-Api-Key, ... are secret anyway)."""

    name: str
    value: str
    secret: bool = False


@dataclass(frozen=True)
class StepRetry:
    """A step's own retry policy, replacing the workflow's (and, for llm steps, the
    default of 3 attempts). Pass ``retry=False`` instead for one attempt, no retries."""

    max_attempts: int = 1
    initial_backoff: float = 1.0
    multiplier: float = 2.0
    max_backoff: float = 60.0
    jitter: bool = True
    step_timeout: float = 0.0


@dataclass(frozen=True)
class HttpResult:
    """What an http step returns (any 2xx or 3xx answer), stored once and returned again
    on replay: ``status``, ``headers`` (lowercase names; secret ones "[redacted]"), the
    ``body`` bytes, ``text`` (the body as UTF-8, "" when it is not) and ``json`` (the body
    parsed when its Content-Type is JSON, else None)."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    text: str = ""
    json: Any = None

    @classmethod
    def _from_json(cls, text: str) -> HttpResult:
        d = json.loads(text)
        if isinstance(d.get("body"), str):
            body_text = d["body"]
            body = body_text.encode("utf-8")
        else:
            body = base64.b64decode(d.get("body_base64") or "")
            body_text = ""
        return cls(
            status=int(d["status"]),
            headers=dict(d.get("headers") or {}),
            body=body,
            text=body_text,
            json=d.get("json"),
        )


def retry_json(where: str, retry: StepRetry | bool | None) -> str:
    """The retry_json of the C ABI ("" for none); ``where`` names the step."""
    if retry is None:
        return ""
    if retry is False:
        return "false"
    if not isinstance(retry, StepRetry):
        raise TypeError(
            f"{where}: retry must be a storyloom.StepRetry, False or None, got "
            f"{type(retry).__name__}"
        )
    return json.dumps(
        {
            "max_attempts": retry.max_attempts,
            "initial_backoff_ms": round(retry.initial_backoff * 1000),
            "multiplier": retry.multiplier,
            "max_backoff_ms": round(retry.max_backoff * 1000),
            "jitter": retry.jitter,
            "timeout_ms": round(retry.step_timeout * 1000),
        }
    )


def request_json(
    name: str,
    url: str,
    *,
    method: str,
    headers: Mapping[str, str] | Sequence[HttpHeader] | None,
    json_body: Any,
    body: bytes | str | None,
    resource: str | None,
    connect_timeout: float | None,
    idle_timeout: float | None,
    total_timeout: float | None,
    idempotency_header: str | None,
    has_json: bool,
) -> str:
    """The request JSON of sl_execution_http. Types are checked here (TypeError naming the
    argument); values (method, URL, header names, ranges) by the engine (InvalidArgument)."""
    where = f"http step '{name}'"
    if not isinstance(url, str):
        raise TypeError(f"{where}: url must be a str, got {type(url).__name__}")
    if not isinstance(method, str):
        raise TypeError(f"{where}: method must be a str, got {type(method).__name__}")
    request: dict[str, Any] = {"url": url, "method": method}
    if headers is not None:
        if isinstance(headers, Mapping):
            for k, v in headers.items():
                if not isinstance(k, str) or not isinstance(v, str):
                    raise TypeError(f"{where}: headers must map str to str")
            request["headers"] = dict(headers)
        else:
            wire = []
            for i, h in enumerate(headers):
                if not isinstance(h, HttpHeader):
                    raise TypeError(
                        f"{where}: headers[{i}] must be a storyloom.HttpHeader, got "
                        f"{type(h).__name__}"
                    )
                wire.append({"name": h.name, "value": h.value, "secret": h.secret})
            request["headers"] = wire
    if has_json and body is not None:
        raise ValueError(f"{where}: give json or body, not both")
    if has_json:
        request["json"] = json_body
    if isinstance(body, str):
        request["body"] = body
    elif isinstance(body, (bytes, bytearray, memoryview)):
        request["body_base64"] = base64.b64encode(bytes(body)).decode("ascii")
    elif body is not None:
        raise TypeError(f"{where}: body must be bytes or str, got {type(body).__name__}")
    if resource is not None:
        request["resource"] = resource
    for key, seconds in (
        ("connect_timeout_ms", connect_timeout),
        ("idle_timeout_ms", idle_timeout),
        ("total_timeout_ms", total_timeout),
    ):
        if seconds is not None:
            if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
                raise TypeError(f"{where}: {key[:-3]} must be seconds (a number)")
            request[key] = round(seconds * 1000)
    if idempotency_header is not None:
        request["idempotency_header"] = idempotency_header
    return json.dumps(request, separators=(",", ":"), ensure_ascii=False)


def settle(outcome: tuple) -> HttpResult:
    """The result of an outcome, or its error raised (``will_retry`` set on it)."""
    status, error_class, message, result, _memoized, will_retry = outcome
    if status == _native.OK and result is not None:
        return HttpResult._from_json(result)
    error: StoryloomError = _from_native(status, error_class, message)
    error.will_retry = bool(will_retry)
    raise error
