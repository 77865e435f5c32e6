"""With STORYLOOM_CORE_BUILD set (scripts/test.sh sets it), the package was built against
that build tree instead of compiling the core again: the libstoryloom and the CLI it ships
are that build's files, byte for byte."""

import os
from pathlib import Path

import pytest

import storyloom

CORE_BUILD = os.environ.get("STORYLOOM_CORE_BUILD")
PACKAGE = Path(storyloom.__file__).resolve().parent


@pytest.mark.skipif(not CORE_BUILD, reason="STORYLOOM_CORE_BUILD is not set: the package built its own core")
@pytest.mark.parametrize(
    ("shipped", "built"),
    [("libstoryloom.so.0", "bindings/c/libstoryloom.so.0"), ("bin/storyloom", "tools/cli/storyloom")],
)
def test_the_package_ships_the_core_build_files(shipped, built):
    ours = (PACKAGE / shipped).read_bytes()
    theirs = (Path(CORE_BUILD) / built).resolve().read_bytes()
    assert ours == theirs, f"{PACKAGE / shipped} is not {CORE_BUILD}/{built}: the core was compiled again"
