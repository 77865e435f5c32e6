"""The installed package: libstoryloom ships next to the extension and is the one loaded."""

import os
from pathlib import Path

import storyloom
from storyloom import _native


def test_libstoryloom_ships_next_to_the_extension():
    package = Path(storyloom.__file__).parent
    assert (package / "libstoryloom.so.0").is_file()
    assert Path(_native.__file__).parent == package


def test_the_loaded_libstoryloom_is_the_packaged_one():
    package = os.path.realpath(Path(storyloom.__file__).parent)
    with open("/proc/self/maps") as maps:
        loaded = {line.split()[-1] for line in maps if "libstoryloom" in line}
    assert loaded == {os.path.join(package, "libstoryloom.so.0")}
