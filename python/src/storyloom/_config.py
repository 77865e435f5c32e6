"""Engine configuration: LLM providers and resource limits, typed for Python and sent to
the engine as the config JSON of storyloom.h (``sl_engine_options.config_json``).

The dictionaries here mirror that JSON key for key. This module checks only what Python
can get wrong and JSON would hide or garble: the type of every field and unknown keys
(TypeError naming the field as ``llm.providers[0].kind``). Values (a provider kind, a
negative limit, a period under 1 ms) are the engine's to judge: it raises InvalidArgument
with its own message. Values are never echoed in these messages: one may be an API key.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypedDict, Union

__all__ = ["ImageConfig", "ImageProviderConfig", "LlmConfig", "LlmProviderConfig", "ResourceLimits"]


class _LlmProviderName(TypedDict):
    name: str


class LlmProviderConfig(_LlmProviderName, total=False):
    """One LLM provider (``name`` is required). ``kind``: "openai" (any OpenAI-compatible server: OpenAI,
    OpenRouter, vLLM, llama.cpp, Ollama), "anthropic", "gemini" or "offline" (deterministic
    placeholder text, not a language model). ``base_url`` "" is the kind's public
    endpoint; ``resource`` "" is "llm:<name>". The key stays in memory: it is sent as a
    request header and never stored, logged or reported."""

    kind: Literal["openai", "anthropic", "gemini", "offline"]
    base_url: str
    api_key: str
    model: str
    resource: str
    connect_timeout_ms: int
    idle_timeout_ms: int
    offline_word_delay_ms: int


class LlmConfig(TypedDict, total=False):
    """The engine's LLM providers: ``providers`` are added to those of the environment
    (OPENAI_API_KEY, OPENROUTER_API_KEY, ANTHROPIC_API_KEY, ... and always "offline")
    unless ``use_environment`` is False; one with the same name replaces it.
    ``default_provider`` serves requests that name none ("" or absent:
    $STORYLOOM_LLM_PROVIDER, else the first of openai, openrouter, anthropic with a key,
    else offline)."""

    default_provider: str
    use_environment: bool
    providers: Sequence[LlmProviderConfig]


class ImageProviderConfig(_LlmProviderName, total=False):
    """One image provider of :meth:`Context.image` (``name`` is required). ``kind``:
    "openai" (any OpenAI-compatible ``POST {base_url}/images/generations``) or "offline"
    (a labelled placeholder picture, not an image model). ``base_url`` "" is OpenAI's;
    ``size`` "WxH" [1024x1024; offline 512x384]; ``resource`` "" is "image:<name>". The
    key is sent as a request header and never stored, logged or reported."""

    kind: Literal["openai", "offline"]
    base_url: str
    api_key: str
    model: str
    size: str
    resource: str
    connect_timeout_ms: int
    idle_timeout_ms: int


class ImageConfig(TypedDict, total=False):
    """The engine's image providers: ``providers`` are added to those of the environment
    (openai from OPENAI_API_KEY / OPENAI_BASE_URL with OPENAI_IMAGE_MODEL [dall-e-3] and
    OPENAI_IMAGE_SIZE, and always "offline") unless ``use_environment`` is False.
    ``default_provider``: requests that name none ("" or absent:
    $STORYLOOM_IMAGE_PROVIDER, else offline)."""

    default_provider: str
    use_environment: bool
    providers: Sequence[ImageProviderConfig]


class ResourceLimits(TypedDict, total=False):
    """Limits of a named resource shared by the engine's runs (e.g. "llm:openai"):
    ``requests`` per ``period_ms`` [1000] with bursts of ``burst`` [requests],
    ``max_in_flight`` requests at once, ``tokens_per_minute`` LLM tokens. Absent or 0: no
    limit of that kind."""

    requests: float
    period_ms: int
    burst: float
    max_in_flight: int
    tokens_per_minute: float


_Kind = Union[type, tuple]

# field -> the Python types it takes (bool is excluded from numbers below).
_PROVIDER_FIELDS: dict[str, _Kind] = {
    "name": str,
    "kind": str,
    "base_url": str,
    "api_key": str,
    "model": str,
    "resource": str,
    "connect_timeout_ms": int,
    "idle_timeout_ms": int,
    "offline_word_delay_ms": int,
}
_IMAGE_PROVIDER_FIELDS: dict[str, _Kind] = {
    "name": str,
    "kind": str,
    "base_url": str,
    "api_key": str,
    "model": str,
    "size": str,
    "resource": str,
    "connect_timeout_ms": int,
    "idle_timeout_ms": int,
}
_LLM_FIELDS: dict[str, _Kind] = {
    "default_provider": str,
    "use_environment": bool,
    "providers": list,
}
_LIMIT_FIELDS: dict[str, _Kind] = {
    "requests": (int, float),
    "period_ms": int,
    "burst": (int, float),
    "max_in_flight": int,
    "tokens_per_minute": (int, float),
}
_TYPE_WORDS = {
    str: "a str",
    bool: "True or False",
    int: "an int",
    (int, float): "a number",
    list: "a list",
}


def _type_name(value: Any) -> str:
    return type(value).__name__


def _checked_object(
    where: str, value: Any, fields: dict[str, _Kind], nested: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A plain dict of the non-None fields of ``value`` after checking their types."""
    if not isinstance(value, Mapping):
        raise TypeError(f"{where} must be a dict, got {_type_name(value)}")
    out: dict[str, Any] = {}
    for key, field in value.items():
        if key not in fields:
            known = ", ".join(fields)
            raise TypeError(f"{where} has an unknown key {key!r} (known: {known})")
        if field is None:
            continue
        expected = fields[key]
        if expected is list:
            if isinstance(field, (str, bytes)) or not isinstance(field, Sequence):
                raise TypeError(f"{where}.{key} must be a list, got {_type_name(field)}")
            assert nested is not None
            out[key] = [nested[key](f"{where}.{key}[{i}]", item) for i, item in enumerate(field)]
            continue
        numeric = expected is not bool and expected is not str
        if not isinstance(field, expected) or (numeric and isinstance(field, bool)):
            raise TypeError(
                f"{where}.{key} must be {_TYPE_WORDS[expected]}, got {_type_name(field)}"
            )
        out[key] = field
    return out


def _provider(where: str, value: Any) -> dict[str, Any]:
    return _checked_object(where, value, _PROVIDER_FIELDS)


def llm_config(value: Any, where: str = "llm") -> dict[str, Any]:
    """The ``llm`` object of the config JSON, type-checked."""
    return _checked_object(where, value, _LLM_FIELDS, {"providers": _provider})


def _image_provider(where: str, value: Any) -> dict[str, Any]:
    return _checked_object(where, value, _IMAGE_PROVIDER_FIELDS)


def images_config(value: Any, where: str = "images") -> dict[str, Any]:
    """The ``images`` object of the config JSON, type-checked."""
    return _checked_object(where, value, _LLM_FIELDS, {"providers": _image_provider})


def resource_limits(value: Any, where: str) -> dict[str, Any]:
    """A ``ResourceLimits`` as the JSON object the engine reads, type-checked."""
    return _checked_object(where, value, _LIMIT_FIELDS)


def resource_name(name: Any, where: str = "name") -> str:
    if not isinstance(name, str):
        raise TypeError(f"{where} must be a str, got {_type_name(name)}")
    return name


def config_json(
    llm: Any,
    resources: Any,
    max_json_depth: Any = None,
    max_artifact_bytes: Any = None,
    images: Any = None,
) -> str | None:
    """The engine's config JSON, or None when nothing is given (the engine's defaults)."""
    given = (llm, resources, max_json_depth, max_artifact_bytes, images)
    if all(value is None for value in given):
        return None
    config: dict[str, Any] = {}
    if max_artifact_bytes is not None:
        # The engine checks it (an integer >= 1024) and names the key in its message.
        config["max_artifact_bytes"] = max_artifact_bytes
    if max_json_depth is not None:
        # The engine checks the range (1..1000) and names the key in its message.
        config["max_json_depth"] = max_json_depth
    if llm is not None:
        config["llm"] = llm_config(llm)
    if images is not None:
        config["images"] = images_config(images)
    if resources is not None:
        if not isinstance(resources, Mapping):
            raise TypeError(
                f"resources must be a dict of name to limits, got {_type_name(resources)}"
            )
        config["resources"] = {
            resource_name(name, "resources key"): resource_limits(limits, f"resources[{name!r}]")
            for name, limits in resources.items()
        }
    return json.dumps(config, separators=(",", ":"), ensure_ascii=False)
