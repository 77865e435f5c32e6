"""Every ```python block of README.md and python/README.md runs, twice in the same
directory (a second run finds the first one's store), so the documentation cannot rot."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
READMES = [ROOT / "README.md", ROOT / "python" / "README.md"]
# A developer's keys must not send the llm example to a real provider: offline instead.
LLM_VARIABLES = ("OPENAI_API_KEY", "OPENROUTER_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY",
                 "STORYLOOM_LLM_PROVIDER")


def _blocks():
    for readme in READMES:
        if not readme.exists():
            continue
        text = readme.read_text()
        for m in re.finditer(r"^```python\n(.*?)^```$", text, re.MULTILINE | re.DOTALL):
            line = text.count("\n", 0, m.start()) + 1
            yield pytest.param(m.group(1), id=f"{readme.relative_to(ROOT)}:{line}")


BLOCKS = list(_blocks())


@pytest.mark.skipif(not BLOCKS, reason="needs a storyloom checkout (the READMEs)")
def test_the_readmes_have_python_examples():
    assert len(BLOCKS) >= 5


@pytest.mark.parametrize("code", BLOCKS)
def test_a_readme_example_runs_twice(code, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in LLM_VARIABLES}
    for attempt in (1, 2):
        r = subprocess.run(
            [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
            timeout=120,
        )
        assert r.returncode == 0, f"run {attempt}:\n{code}\n{r.stdout}\n{r.stderr}"
