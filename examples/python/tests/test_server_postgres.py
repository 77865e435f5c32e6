"""server.py on PostgreSQL: two app servers started with the same STORYLOOM_STORE (a
fresh schema on the throwaway cluster named by STORYLOOM_TEST_PG_URL; scripts/test.sh
starts one) and the same accounts file share one queue. A story started through one is
followed, approved and finished through the other, and the two see the same events."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_server import EXAMPLE, _free_port, _sse, _wait_healthy, _wait_status  # noqa: E402

SERVER = os.environ.get("STORYLOOM_TEST_PG_URL")
pytestmark = pytest.mark.skipif(not SERVER, reason="STORYLOOM_TEST_PG_URL is not set")


@pytest.fixture
def pg_url():
    schema = "story_" + uuid.uuid4().hex[:12]
    subprocess.run(["psql", SERVER, "-qc", f"CREATE SCHEMA {schema}"], check=True)
    yield f"{SERVER}?options=-csearch_path%3D{schema}"
    subprocess.run(["psql", SERVER, "-qc", f"DROP SCHEMA {schema} CASCADE"], check=True)


def _spawn(store: str, accounts: Path, port: int) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            str(EXAMPLE / "server.py"),
            "--port",
            str(port),
            "--word-delay",
            "0.002",
            "--accounts",
            str(accounts),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "STORYLOOM_LLM_PROVIDER": "offline", "STORYLOOM_STORE": store},
    )


def _stop(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return err


def test_two_servers_on_one_postgres_database_share_stories(pg_url, tmp_path):
    accounts = tmp_path / "story.accounts"  # shared: a session from one works on the other
    procs, bases = [], []
    try:
        for _ in range(2):
            port = _free_port()
            procs.append(_spawn(pg_url, accounts, port))
            bases.append(f"http://127.0.0.1:{port}")
        for proc, base in zip(procs, bases):
            _wait_healthy(proc, base)
        a, b = bases

        with httpx.Client(headers={"origin": a}) as ca, httpx.Client(headers={"origin": b}) as cb:
            r = ca.post(f"{a}/api/auth/signup", json={"username": "writer", "password": "pw-" * 4})
            assert r.status_code == 201, r.text
            cb.cookies = ca.cookies  # the same signed-in user on the other server
            req = {"topic": "two lighthouses", "pages": 2, "quality": 1, "approve_outline": True}
            r = ca.post(f"{a}/api/story/generate", json=req)
            assert r.status_code == 202, r.text
            rid = r.json()["id"]

            # Followed from the other server until it waits for the outline's approval.
            first = _sse(cb, f"{b}/api/events/{rid}", until=lambda rec: rec[1] == "run.waiting")
            assert first[-1][1] == "run.waiting"
            _wait_status(cb, b, rid, {"waiting"})
            assert cb.post(f"{b}/api/story/{rid}/approve", json={}).status_code == 202

            done_a = _sse(ca, f"{a}/api/events/{rid}", 0, until=lambda r: r[1] == "run.completed")
            done_b = _sse(cb, f"{b}/api/events/{rid}", 0, until=lambda r: r[1] == "run.completed")
            ids_a = [i for i, _, _ in done_a if i]
            ids_b = [i for i, _, _ in done_b if i]
            assert ids_a == ids_b  # one event stream, whichever server serves it
            assert ids_a == sorted(set(ids_a))
            assert _wait_status(ca, a, rid, {"completed"})["progress"]["pages_completed"] == 2
            assert [s["id"] for s in cb.get(f"{b}/api/stories").json()["stories"]] == [rid]
        # The story is in the PostgreSQL schema (not in some SQLite file).
        status = subprocess.run(
            ["psql", pg_url, "-tAc", f"SELECT status FROM runs WHERE id = '{rid}'"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        assert status == "completed"
    finally:
        errs = [_stop(p) for p in procs]
    for err in errs:
        assert "Traceback" not in err, err
