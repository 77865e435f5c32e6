"""The ``storyloom`` console script: runs the command-line tool shipped in the wheel
(storyloom/bin/storyloom, the repository's tools/cli) with the same arguments."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def executable() -> Path:
    """The path of the bundled ``storyloom`` program."""
    return Path(__file__).resolve().parent / "bin" / "storyloom"


def main() -> None:
    program = executable()
    if not program.is_file():
        sys.exit(f"storyloom: the command-line tool is missing from the package ({program})")
    os.execv(program, [str(program), *sys.argv[1:]])
