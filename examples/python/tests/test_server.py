"""server.py through a real HTTP client (httpx) against uvicorn, started by each test on
127.0.0.1 with an ephemeral port in a child process, and stopped at the end."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

EXAMPLE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(EXAMPLE))

import story  # noqa: E402 - StreamText, the live view's rule for retried text


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _spawn(
    db: Path, port: int, word_delay: str = "0.002", *extra: str, env: dict[str, str] | None = None
) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            str(EXAMPLE / "server.py"),
            "--db",
            str(db),
            "--port",
            str(port),
            "--word-delay",
            word_delay,
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # The core's offline provider whatever keys the environment holds: no real LLM.
        env={**os.environ, "STORYLOOM_LLM_PROVIDER": "offline", **(env or {})},
    )


def _wait_healthy(proc: subprocess.Popen, url: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        assert proc.poll() is None, proc.communicate()
        try:
            if httpx.get(url + "/api/health", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.1)


@contextlib.contextmanager
def signed_in(base: str, username: str = "writer") -> Iterator[httpx.Client]:
    """A client with a new account's session cookie, sending this site as its Origin (as
    the service's own pages would: writes without it are refused)."""
    with httpx.Client(headers={"origin": base}) as c:
        r = c.post(f"{base}/api/auth/signup", json={"username": username, "password": "pw-" * 4})
        assert r.status_code == 201, r.text
        yield c


@pytest.fixture
def base(tmp_path):
    port = _free_port()
    proc = _spawn(tmp_path / "server.db", port)
    url = f"http://127.0.0.1:{port}"
    _wait_healthy(proc, url)
    try:
        yield url
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
        assert "Traceback" not in err, err


def _sse(client, url, last_event_id=None, *, until):
    """Reads SSE records [(id, event, data)] until until(record) is true or the stream ends."""
    headers = {"Last-Event-ID": str(last_event_id)} if last_event_id is not None else {}
    records = []
    with client.stream("GET", url, headers=headers, timeout=30) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"].startswith("text/event-stream")
        rec: dict = {}
        for line in r.iter_lines():
            if line == "":
                if "event" in rec or "id" in rec:
                    record = (
                        int(rec["id"]) if rec.get("id") else None,
                        rec.get("event"),
                        json.loads(rec["data"]) if "data" in rec else None,
                    )
                    records.append(record)
                    if until(record):
                        break
                rec = {}
            elif not line.startswith(":"):
                field, _, value = line.partition(":")
                rec[field] = value.removeprefix(" ")
    return records


def _wait_status(client, base, rid, want, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(f"{base}/api/story/{rid}/status").json()
        if body["status"] in want:
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.05)


def test_generate_stream_reconnect_approve_and_finish(base):
    with signed_in(base) as c:
        req = {
            "topic": "a lighthouse cat",
            "author_style": "Roald Dahl",
            "pages": 2,
            "quality": 1,
            "approve_outline": True,
        }
        r = c.post(f"{base}/api/story/generate", json=req)
        assert r.status_code == 202, r.text
        rid = r.json()["id"]
        # The same request is the same story (idempotency key from the input).
        assert c.post(f"{base}/api/story/generate", json=req).json()["id"] == rid

        events_url = f"{base}/api/events/{rid}"
        first = _sse(c, events_url, until=lambda rec: rec[1] == "run.waiting")
        assert first[-1][1] == "run.waiting"
        waiting = _wait_status(c, base, rid, {"waiting"})
        assert waiting["progress"]["stage"] == "awaiting approval"
        assert len(waiting["outline"]["plans"]) == 2

        edits = ["The cat finds a map.", "The cat lights the lamp."]
        r = c.post(f"{base}/api/story/{rid}/approve", json={"outline": edits})
        assert r.status_code == 202, r.text

        last_id = max(i for i, _, _ in first if i)
        second = _sse(c, events_url, last_id, until=lambda rec: rec[1] == "run.completed")
        assert second[-1][1] == "run.completed"

        # Every stored event exactly once across the two connections.
        everything = _sse(c, events_url, 0, until=lambda rec: rec[1] == "run.completed")
        # (a stored chunk already seen live arrives as an id-only cursor record)
        stored_all = [i for i, _, _ in everything if i]
        got = [i for i, _, _ in first + second if i]
        assert got == stored_all
        assert len(set(got)) == len(got)
        chunks = "".join(d["text"] for _, k, d in everything if k == "chunk")
        assert chunks  # page text was streamed

        done = c.get(f"{base}/api/story/{rid}/status").json()
        assert done["status"] == "completed"
        assert done["progress"] == {
            "pages_total": 2,
            "pages_completed": 2,
            "pages_failed": 0,
            "pages_in_progress": 0,
            "illustrations_total": 2,
            "illustrations_done": 2,
            "illustrations_failed": 0,
            "illustrations_in_progress": 0,
            "stage": "done",
        }
        assert [p["plan"] for p in done["pages"]] == edits
        assert set(done["pages"][0]) == {
            "page",
            "content",
            "plan",
            "critique",
            "iteration",
            "illustration",
            "picture",
        }
        assert done["pages"][0]["picture"]["url"] == f"/api/story/{rid}/pictures/1"
        assert done["story"]["pages"] == [p["content"] for p in done["pages"]]
        # One attempt per text: every stream's current attempt starts at byte 0.
        assert done["streams"]["page/1/write"]["attempt_start"] == 0
        assert done["streams"]["page/1/write"]["end"] > 0

        library = c.get(f"{base}/api/stories").json()
        assert [s["id"] for s in library["stories"]] == [rid]
        assert library["stories"][0]["status"] == "completed"


def test_cancel_a_waiting_story(base):
    with signed_in(base) as c:
        rid = c.post(
            f"{base}/api/story/generate", json={"topic": "a storm", "approve_outline": True}
        ).json()["id"]
        _wait_status(c, base, rid, {"waiting"})
        r = c.delete(f"{base}/api/story/{rid}/cancel")
        assert r.status_code == 200 and r.json() == {"id": rid, "status": "cancelled"}
        again = c.delete(f"{base}/api/story/{rid}/cancel")
        assert again.status_code == 409
        assert "cancelled" in again.json()["error"]
        r = c.post(f"{base}/api/story/{rid}/approve", json={})
        assert r.status_code == 409
        events = _sse(c, f"{base}/api/events/{rid}", until=lambda rec: rec[1] == "run.cancelled")
        assert events[-1][1] == "run.cancelled"


def test_health_reports_store_workers_and_queue(base):
    r = httpx.get(f"{base}/api/health", timeout=10)
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "store": "reachable", "workers": "alive", "queue_depth": 0}


@pytest.mark.parametrize(
    "body, fields",
    [
        ({}, {"topic": "required: a non-empty string"}),
        ({"topic": "x", "pages": 0}, {"pages": "must be from 1 to 30, got 0"}),
        ({"topic": "x", "pages": "3"}, {"pages": "must be an integer from 1 to 30"}),
        ({"topic": "x", "quality": 9}, {"quality": "must be from 0 to 3, got 9"}),
        ({"topic": "x", "approve_outline": "yes"}, {"approve_outline": "must be true or false"}),
        ({"topic": "x", "author_style": ""}, {"author_style": "must be a non-empty string"}),
        ({"topic": "x", "colour": "red"}, {"colour": "unknown field"}),
        ([1, 2], {"body": "must be a JSON object"}),
    ],
)
def test_bad_input_is_a_400_naming_the_field(base, body, fields):
    with signed_in(base) as c:
        r = c.post(f"{base}/api/story/generate", json=body)
    assert r.status_code == 400
    assert r.json() == {"error": "invalid story request", "fields": fields}


def test_other_bad_requests(base):
    with signed_in(base) as c:
        r = c.post(f"{base}/api/story/generate", content=b"{nope")
        assert r.status_code == 400 and r.json()["error"] == "the body is not JSON"
        assert c.get(f"{base}/api/story/missing/status").status_code == 404
        assert "missing" in c.get(f"{base}/api/story/missing/status").json()["error"]
        assert c.delete(f"{base}/api/story/missing/cancel").status_code == 404
        assert c.get(f"{base}/api/events/missing").status_code == 404
        rid = c.post(
            f"{base}/api/story/generate", json={"topic": "t", "pages": 2, "approve_outline": True}
        ).json()["id"]
        r = c.get(f"{base}/api/events/{rid}", headers={"Last-Event-ID": "abc"})
        assert r.status_code == 400 and "Last-Event-ID" in r.json()["fields"]
        r = c.post(f"{base}/api/story/{rid}/approve", json={"outline": ["only one"]})
        assert r.status_code == 400
        assert r.json()["fields"] == {"outline": "must have 2 plans, got 1"}
        r = c.post(f"{base}/api/story/{rid}/approve", json={"outline": "x"})
        assert r.json()["fields"] == {"outline": "must be a list of non-empty strings"}
        r = c.get(f"{base}/api/stories?limit=0")
        assert r.status_code == 400 and "limit" in r.json()["fields"]
        c.delete(f"{base}/api/story/{rid}/cancel")


def test_a_story_killed_with_its_server_resumes_at_restart_with_no_request(tmp_path):
    """SIGKILL mid-story, restart, no HTTP request: the server launched its engine at
    startup, logs the story it recovered, and the story completes (read from the store)."""
    import threading

    import storyloom

    db = tmp_path / "killed.db"
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    first = _spawn(db, port, word_delay="0.01")
    try:
        _wait_healthy(first, url)
        with signed_in(url) as c:
            req = {"topic": "a crash", "pages": 3, "quality": 0}
            r = c.post(f"{url}/api/story/generate", json=req)
            assert r.status_code == 202, r.text
            rid = r.json()["id"]
            # Mid-story: a page is written and the run goes on.
            body = {}
            deadline = time.monotonic() + 60
            while not (body.get("pages") and body.get("status") == "running"):
                assert time.monotonic() < deadline, body
                body = c.get(f"{url}/api/story/{rid}/status").json()
                assert body["status"] not in ("completed", "failed"), body
                time.sleep(0.02)
    finally:
        first.kill()  # SIGKILL: no drain, no close
        first.communicate()
    pages_before = len(body["pages"])

    second = _spawn(db, _free_port(), word_delay="0.002")
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(second.stderr), daemon=True)
    reader.start()
    try:
        with storyloom.Engine(f"sqlite:{db}") as store:  # reads only: never launched
            deadline = time.monotonic() + 90
            while store.get(rid).status != "completed":
                run = store.get(rid)
                assert run.status in ("running", "queued"), run
                assert second.poll() is None, "".join(lines)
                assert time.monotonic() < deadline, (run, "".join(lines))
                time.sleep(0.1)
            pages = [a for a in store.artifacts(rid) if story.page_number(a.key) is not None]
            story_artifact = [a.value for a in store.artifacts(rid) if a.key == "story"]
            completed, chunks, after = [], [], 0
            while batch := store.stored_events(rid, after=after):
                completed += [e.data["name"] for e in batch if e.type == "step.completed"]
                chunks += [e.data for e in batch if e.type == "chunk"]
                after = batch[-1].id
            snap = store.snapshot(rid)
    finally:
        second.send_signal(signal.SIGINT)
        try:
            second.wait(timeout=20)
        except subprocess.TimeoutExpired:
            second.kill()
            second.wait()
        reader.join(timeout=5)
    log = "".join(lines)
    # running (its lease expires) or queued (killed between a retry's attempts)
    assert f"recovered 1 unfinished story: {rid} (" in log, log
    assert "Traceback" not in log, log
    assert len(story_artifact) == 1 and len(story_artifact[0]["pages"]) == 3
    assert len({a.key for a in pages}) == 3
    # Steps finished before the kill are not run again: each completed exactly once.
    assert pages_before >= 1
    assert "page/1/write" in completed
    assert len(completed) == len(set(completed)), completed
    # A view following every chunk (the text of an attempt cut by the kill, then the
    # attempt written again) shows exactly each stored text: retried text replaces.
    texts = {s.name: s.result["text"] for s in snap.steps if s.name in snap.streams}
    assert texts and set(texts) == set(snap.streams)
    for name, text in texts.items():
        view = story.StreamText()
        for c in chunks:
            if c["stream"] == name:
                view.add(c)
        assert view.text == text, name
        assert view.start == snap.streams[name]["attempt_start"]


def test_the_first_ctrl_c_stops_the_server_with_an_event_stream_open(tmp_path):
    """An SSE client of a story waiting for approval holds a stream that never ends by
    itself: one SIGINT still stops the server within a few seconds, closing the stream."""
    import threading

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    proc = _spawn(tmp_path / "ctrl-c.db", port)
    try:
        _wait_healthy(proc, url)
        with signed_in(url) as c:
            body = {"topic": "a storm", "approve_outline": True}
            r = c.post(f"{url}/api/story/generate", json=body)
            assert r.status_code in (200, 201, 202), r.text
            rid = r.json()["id"]
            streaming, ended = threading.Event(), threading.Event()

            def follow():
                try:
                    with c.stream("GET", f"{url}/api/events/{rid}", timeout=60) as s:
                        for _ in s.iter_lines():
                            streaming.set()
                except httpx.HTTPError:
                    pass
                ended.set()

            threading.Thread(target=follow, daemon=True).start()
            assert streaming.wait(20)
            started = time.monotonic()
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=20)
            took = time.monotonic() - started
            assert proc.returncode == 0, err
            # Under uvicorn's 5 s graceful-shutdown backstop: the streams were ended, not cut.
            assert took < 4.5, f"the server took {took:.1f} s to stop"
            assert ended.wait(5), "the event stream was not closed"
            assert "Traceback" not in err, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
