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


def test_every_public_name_has_a_docstring():
    import inspect

    missing = []
    for name in storyloom.__all__:
        obj = getattr(storyloom, name)
        if not inspect.getdoc(obj):
            missing.append(name)
        if inspect.isclass(obj):
            for attr, member in vars(obj).items():
                if attr.startswith("_"):
                    continue
                if isinstance(member, property):
                    member = member.fget
                if callable(member) and not inspect.getdoc(member):
                    missing.append(f"{name}.{attr}")
    assert missing == []


def test_stubs_ship_with_the_package():
    package = Path(storyloom.__file__).parent
    assert (package / "py.typed").is_file()
    assert (package / "_native.pyi").is_file()
