"""Every function exported by the C ABI is bound by storyloom._native, or listed here as
deliberately not exposed with the reason."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEADER = ROOT / "include" / "storyloom" / "storyloom.h"
MODULE = ROOT / "python" / "src" / "native" / "module.cc"
# Every source and header of the native module (module.cc and the files beside it, one
# per concern).
NATIVE = ROOT / "python" / "src" / "native"
SOURCES = sorted([*NATIVE.glob("*.cc"), *NATIVE.glob("*.h")])

# name -> why the Python binding does not call it.
NOT_BOUND: dict = {
    "sl_execution_step_begin": "the binding calls sl_execution_step_begin_with_retry, the same "
    "call with a per-step retry policy (none when not given)",
    "sl_execution_llm": "the binding calls sl_execution_llm_with_retry, the same call with a "
    "per-step retry policy (none when not given)",
    "sl_engine_close_now": "for hosts whose exit skips pending work (Node's process.exit()); "
    "Python's close() drains, and the interpreter runs no executions after it exits",
}


@pytest.mark.skipif(
    not HEADER.exists() or not MODULE.exists(),
    reason="needs a storyloom checkout (header and module source)",
)
def test_every_exported_function_is_bound_or_listed():
    exported = set(re.findall(r"^SL_API\s[^(]*?\b(sl_\w+)\(", HEADER.read_text(), re.MULTILINE))
    assert len(exported) >= 40
    used = set(re.findall(r"\b(sl_\w+)\b", "\n".join(p.read_text() for p in SOURCES)))
    missing = sorted(exported - used - set(NOT_BOUND))
    assert missing == [], f"C functions neither bound nor listed in NOT_BOUND: {missing}"
    stale = sorted(set(NOT_BOUND) - exported)
    assert stale == [], f"NOT_BOUND lists functions the header no longer has: {stale}"


@pytest.mark.skipif(not MODULE.exists(), reason="needs a storyloom checkout")
def test_the_module_includes_only_the_c_abi_of_storyloom():
    ours = {
        (p.name, i)
        for p in SOURCES
        for i in re.findall(r'#include\s+[<"]([^>"]+)[>"]', p.read_text())
        if i.startswith("storyloom/")
    }
    assert {i for _, i in ours} == {"storyloom/storyloom.h"}, sorted(ours)
