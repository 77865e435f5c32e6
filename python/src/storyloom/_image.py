"""The built-in image step from Python: the request JSON of ``sl_execution_image`` and
its result as :class:`ImageResult`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import _native
from .errors import StoryloomError, _from_native

__all__ = ["ImageResult"]


@dataclass(frozen=True)
class ImageResult:
    """What an image step stores and returns. The picture itself is the binary artifact
    ``artifact`` at ``version``: ``engine.artifact_bytes(run_id, artifact, version)``.
    ``content_type`` (image/png, image/jpeg or image/webp), ``width`` and ``height`` are
    read from the bytes; ``revised_prompt`` is what the provider says it drew ("" when it
    says nothing)."""

    artifact: str
    version: int
    content_type: str
    bytes: int
    sha256: str
    width: int
    height: int
    provider: str
    model: str
    revised_prompt: str = ""

    @classmethod
    def _from_json(cls, text: str) -> ImageResult:
        d = json.loads(text)
        return cls(
            artifact=d["artifact"],
            version=int(d["version"]),
            content_type=d["content_type"],
            bytes=int(d["bytes"]),
            sha256=d["sha256"],
            width=int(d["width"]),
            height=int(d["height"]),
            provider=d["provider"],
            model=d["model"],
            revised_prompt=d.get("revised_prompt") or "",
        )


def _type_error(where: str, field: str, expected: str, value: Any) -> TypeError:
    return TypeError(f"{where}: {field} must be {expected}, got {type(value).__name__}")


def request_json(
    name: str,
    prompt: Any,
    *,
    provider: Any = None,
    model: Any = None,
    size: Any = None,
    artifact: Any = None,
    extra: Any = None,
    idle_timeout: Any = None,
    total_timeout: Any = None,
) -> str:
    """The request JSON, type-checked (values are the engine's to judge)."""
    where = f"image step '{name}'"
    if not isinstance(prompt, str):
        raise _type_error(where, "prompt", "a str", prompt)
    request: dict[str, Any] = {"prompt": prompt}
    for field, value in (
        ("provider", provider),
        ("model", model),
        ("size", size),
        ("artifact", artifact),
    ):
        if value is not None:
            if not isinstance(value, str):
                raise _type_error(where, field, "a str", value)
            request[field] = value
    if extra is not None:
        if not isinstance(extra, Mapping):
            raise _type_error(where, "extra", "a dict", extra)
        request["extra"] = dict(extra)
    for field, seconds in (("idle_timeout", idle_timeout), ("total_timeout", total_timeout)):
        if seconds is not None:
            if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
                raise _type_error(where, field, "seconds (a number)", seconds)
            request[field + "_ms"] = round(seconds * 1000)
    return json.dumps(request, separators=(",", ":"), ensure_ascii=False)


def settle(outcome: tuple) -> ImageResult:
    """The result of an outcome, or its error raised (``will_retry`` set on it)."""
    status, error_class, message, result, _memoized, will_retry = outcome
    if status == _native.OK and result is not None:
        return ImageResult._from_json(result)
    error: StoryloomError = _from_native(status, error_class, message)
    error.will_retry = bool(will_retry)
    raise error
