import json
import os
import subprocess
import urllib.request
import uuid
from pathlib import Path

import pytest

import storyloom

ROOT = Path(__file__).resolve().parents[2]
FAKE_KEY = "test-key-not-a-secret"  # an obviously fake key: the tests check it never leaks


@pytest.fixture
def db(tmp_path):
    return f"sqlite:{tmp_path / 'test.db'}"


@pytest.fixture
def engine(db):
    """An open engine, not launched: register the test's workflows, then engine.launch()."""
    with storyloom.Engine(db, workers=2, poll_interval=0.01) as e:
        yield e


class FakeLlmServer:
    """The project's fake OpenAI- and Anthropic-compatible server (tests/support/
    FAKE_LLM_SERVER.md): the scenario is in the URL path."""

    key = FAKE_KEY

    def __init__(self, port: int) -> None:
        self.port = port

    def openai_url(self, scenario: str) -> str:
        return f"http://127.0.0.1:{self.port}/s/{scenario}/v1"

    def gemini_url(self, scenario: str) -> str:
        return f"http://127.0.0.1:{self.port}/s/{scenario}"

    def anthropic_url(self, scenario: str) -> str:
        return f"http://127.0.0.1:{self.port}/s/{scenario}"

    def provider(self, name: str, scenario: str, *, kind: str = "openai", **extra):
        """An LlmProviderConfig for `scenario`, with a fake key."""
        url = {
            "anthropic": self.anthropic_url(scenario),
            "gemini": self.gemini_url(scenario),
        }.get(kind, self.openai_url(scenario))
        return {
            "name": name,
            "kind": kind,
            "base_url": url,
            "api_key": FAKE_KEY,
            "model": "fake-model",
            **extra,
        }

    def requests_to(self, scenario: str) -> int:
        """How many requests the server got for this exact scenario segment."""
        url = f"http://127.0.0.1:{self.port}/_stats"
        with urllib.request.urlopen(url, timeout=5) as r:
            return json.loads(r.read())["requests"].get(scenario, 0)


def fake_llm_server_program() -> Path:
    configured = os.environ.get("STORYLOOM_FAKE_LLM_SERVER")
    return (
        Path(configured) if configured else ROOT / "build" / "tests" / "support" / "fake_llm_server"
    )


@pytest.fixture(scope="session")
def fake_llm():
    program = fake_llm_server_program()
    if not os.access(program, os.X_OK):
        # Not a skip: the LLM tests are part of the suite and must not silently vanish.
        pytest.fail(
            f"the fake LLM server program {program} is missing: run scripts/build.sh (it "
            "builds build/tests/support/fake_llm_server), or set STORYLOOM_FAKE_LLM_SERVER",
            pytrace=False,
        )
    # stdin is a pipe: the server serves until it closes (on /dev/null it exits at once).
    proc = subprocess.Popen(
        [str(program)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        line = proc.stdout.readline()
        if not line.startswith("port "):
            pytest.fail(f"{program} printed {line!r} instead of 'port N'", pytrace=False)
        yield FakeLlmServer(int(line.split()[1]))
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def tag():
    """A fresh scenario tag: the fake server's counters are per exact segment."""
    return uuid.uuid4().hex[:12]
