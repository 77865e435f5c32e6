"""Where a step's error came from: the class name and traceback stored with a failed
step (sent with sl_execution_step_fail_origin), and the exception a replay raises again."""

from __future__ import annotations

import builtins
import sys
import traceback as _traceback
from typing import Any, cast

from .errors import StepFailed, StoryloomError

_replay_classes: dict[type, type] = {}


def type_name(e: BaseException) -> str:
    """``ValueError`` for a builtin, ``module.QualName`` for any other class."""
    t = type(e)
    module = getattr(t, "__module__", "") or ""
    return t.__qualname__ if module == "builtins" else f"{module}.{t.__qualname__}"


def trace_of(e: BaseException) -> str:
    """The exception's traceback as Python prints it (bounded by the engine)."""
    return "".join(_traceback.format_exception(type(e), e, e.__traceback__))


def _resolve(name: str) -> type | None:
    """The exception class ``name`` names among the modules already imported (never
    imports one: replay must not run module code), or None."""
    module, _, qualname = name.rpartition(".")
    owner: Any = builtins if not module else sys.modules.get(module)
    if owner is None:
        # A nested class: "pkg.mod.Outer.Inner" has its module further left.
        parts = name.split(".")
        for i in range(len(parts) - 1, 0, -1):
            owner = sys.modules.get(".".join(parts[:i]))
            if owner is not None:
                qualname = ".".join(parts[i:])
                break
        else:
            return None
    target: Any = owner
    for part in qualname.split("."):
        target = getattr(target, part, None)
        if target is None:
            return None
    if isinstance(target, type) and issubclass(target, Exception):
        return target
    return None


def _replay_class(original: type) -> type:
    """A subclass of StepFailed and of ``original``, so that ``except ValueError`` catches
    the replayed error as it caught the first one, and ``except StepFailed`` too."""
    cls = _replay_classes.get(original)
    if cls is None:
        cls = type(original.__name__, (StepFailed, original), {"__module__": original.__module__})
        _replay_classes[original] = cls
    return cls


def replayed_error(message: str, error_class: str, origin_type: str, trace: str) -> StoryloomError:
    """The exception for a step that failed for good in an earlier execution: StepFailed,
    also an instance of the class it was first raised with when that class is importable
    and can be combined with StepFailed; ``origin_type`` and ``traceback`` set."""
    error: StoryloomError
    original = _resolve(origin_type)
    try:
        if original is None or issubclass(original, StoryloomError):
            raise TypeError("not combinable")
        cls = _replay_class(original)
        error = cast(StoryloomError, cls.__new__(cls, message))  # not __init__: the original's may need other args
        error.args = (message,)
        error.code = StepFailed.code
        error.message = message
        error.error_class = error_class
    except Exception:  # noqa: BLE001 - a layout conflict, a strange __new__: plain StepFailed
        error = StepFailed(StepFailed.code, message, error_class)
    error.origin_type = origin_type
    error.traceback = trace
    return error
