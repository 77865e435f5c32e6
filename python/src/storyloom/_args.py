"""Argument checks of the public API: a wrong type raises TypeError naming the call and
the parameter, before the native module would answer with pybind11's "incompatible
function arguments" listing arg0, arg1..."""

from __future__ import annotations

from typing import Any


def text(call: str, param: str, value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{call}: {param} must be a str, got {type(value).__name__}")
    return value


def optional_text(call: str, param: str, value: Any) -> str | None:
    return None if value is None else text(call, param, value)


def integer(call: str, param: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{call}: {param} must be an int, got {type(value).__name__}")
    return value


def number(call: str, param: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{call}: {param} must be a number, got {type(value).__name__}")
    return float(value)


def function(call: str, param: str, value: Any) -> Any:
    if not callable(value):
        raise TypeError(f"{call}: {param} must be callable, got {type(value).__name__}")
    return value
