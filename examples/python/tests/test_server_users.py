"""server.py with several users: each sees only their own stories (another's is a 404 on
every route), signed-out and cross-origin requests are refused, the per-user limit holds
under 20 parallel starts (429 with Retry-After, counted in the store afterwards), two
racing approvals give one 202 and one 409 with what was approved, and oversized or deeply
nested bodies are refused."""

from __future__ import annotations

import signal
import subprocess
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import storyloom
from test_server import _free_port, _spawn, _wait_healthy, _wait_status, signed_in

PER_HOUR = 3


@pytest.fixture
def server(tmp_path):
    port = _free_port()
    db = tmp_path / "users.db"
    proc = _spawn(db, port, "0.002", "--limit-per-hour", str(PER_HOUR), "--limit-running", "50")
    url = f"http://127.0.0.1:{port}"
    _wait_healthy(proc, url)
    try:
        yield url, db
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
        assert "Traceback" not in err, err


def _waiting_story(c: httpx.Client, base: str, topic: str) -> str:
    r = c.post(
        f"{base}/api/story/generate",
        json={"topic": topic, "pages": 1, "quality": 0, "approve_outline": True},
    )
    assert r.status_code == 202, r.text
    rid = r.json()["id"]
    _wait_status(c, base, rid, {"waiting"})
    return rid


def test_each_user_sees_only_their_own_stories(server):
    base, _ = server
    with signed_in(base, "ada") as a, signed_in(base, "bob") as b:
        rid = _waiting_story(a, base, "a heron")
        for method, path in [
            ("GET", f"/api/story/{rid}/status"),
            ("GET", f"/api/events/{rid}"),
            ("POST", f"/api/story/{rid}/approve"),
            ("DELETE", f"/api/story/{rid}/cancel"),
        ]:
            r = b.request(method, base + path, json={} if method == "POST" else None)
            assert r.status_code == 404, (method, path, r.text)
            assert r.json()["error"] == f"no story '{rid}'"
        assert a.get(f"{base}/api/story/{rid}/status").json()["status"] == "waiting"
        assert b.get(f"{base}/api/stories").json()["stories"] == []
        assert [s["id"] for s in a.get(f"{base}/api/stories").json()["stories"]] == [rid]
        # The run's owner in the store is the user, and its budget is what the story needs.
        status = a.get(f"{base}/api/story/{rid}/status").json()
        assert status["budget"]["llm_calls"] == 1 + 1 * 2
        assert status["usage"]["llm_calls"] == 1  # the outline so far


def test_signed_out_and_cross_origin_requests_are_refused(server):
    base, _ = server
    anonymous = httpx.Client(headers={"origin": base})
    for method, path in [
        ("GET", "/api/stories"),
        ("POST", "/api/story/generate"),
        ("GET", "/api/story/x/status"),
        ("GET", "/api/events/x"),
        ("POST", "/api/story/x/approve"),
        ("DELETE", "/api/story/x/cancel"),
    ]:
        r = anonymous.request(method, base + path)
        assert r.status_code == 401, (method, path, r.text)
        assert r.json()["error"] == "sign in first: this needs a signed-in user"
    with signed_in(base, "cyd") as c:
        r = c.post(
            f"{base}/api/story/generate",
            json={"topic": "x"},
            headers={"origin": "http://evil.example"},
        )
        assert r.status_code == 403
        assert r.json()["error"].startswith("cross-origin request refused")
        wrong = anonymous.post(
            f"{base}/api/auth/signin", json={"username": "cyd", "password": "not it at all"}
        )
        assert wrong.status_code == 401
        assert wrong.json()["error"] == "wrong user name or password"
        taken = anonymous.post(
            f"{base}/api/auth/signup", json={"username": "cyd", "password": "another one!"}
        )
        assert taken.status_code == 409
        empty = anonymous.post(f"{base}/api/auth/signup", json={"username": "", "password": ""})
        assert empty.json()["fields"] == {
            "username": "is empty: choose a user name",
            "password": "is empty",
        }
        cookie = c.cookies.get("story_session")
        assert cookie
        set_cookie = c.post(f"{base}/api/auth/signout").headers["set-cookie"].lower()
        assert "httponly" in set_cookie and "samesite=lax" in set_cookie
        assert c.get(f"{base}/api/stories").status_code == 401


def test_twenty_parallel_starts_hold_the_per_user_limit(server):
    base, db = server
    with signed_in(base, "dee") as c:

        def start(i: int) -> httpx.Response:
            return c.post(
                f"{base}/api/story/generate",
                json={"topic": f"parallel {i}", "pages": 1, "quality": 0},
            )

        with ThreadPoolExecutor(20) as pool:
            answers = list(pool.map(start, range(20)))
        created = [r for r in answers if r.status_code == 202]
        refused = [r for r in answers if r.status_code == 429]
        assert len(created) == PER_HOUR, [r.text for r in answers]
        assert len(refused) == 20 - PER_HOUR
        for r in refused:
            assert 3500 < int(r.headers["retry-after"]) <= 3600
            assert r.json()["error"] == (
                f"you have started {PER_HOUR} stories in the last hour "
                f"(the limit is {PER_HOUR} an hour)"
            )
        rid = created[0].json()["id"]
    with storyloom.Engine(f"sqlite:{db}") as store:  # reads only: never launched
        owner = store.get(rid).owner
        assert len(store.list(workflow="story", owner=owner, limit=1000).runs) == PER_HOUR


def test_two_racing_approvals_one_wins(server):
    base, _ = server
    with signed_in(base, "eve") as c:
        rid = _waiting_story(c, base, "a lark")

        def approve(plan: str) -> httpx.Response:
            return c.post(f"{base}/api/story/{rid}/approve", json={"outline": [plan]})

        with ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(approve, ["Plan A.", "Plan B."]))
        codes = sorted(r.status_code for r in answers)
        assert codes == [202, 409], [r.text for r in answers]
        loser = next(r for r in answers if r.status_code == 409).json()
        winner = "Plan A." if answers[0].status_code == 202 else "Plan B."
        assert loser["error"] == "this story was already approved"
        assert loser["approved"]["outline"] == [winner]
        done = _wait_status(c, base, rid, {"completed"})
        assert [p["plan"] for p in done["pages"]] == [winner]


def test_oversized_and_deeply_nested_bodies(server):
    base, _ = server
    with signed_in(base, "flo") as c:
        r = c.post(f"{base}/api/story/generate", content=b"x" * (10 * 1024 * 1024))
        assert r.status_code == 413
        nested = b"[" * 1000 + b"]" * 1000
        r = c.post(
            f"{base}/api/story/generate",
            content=b'{"topic": "t", "pages": ' + nested + b"}",
        )
        assert r.status_code == 400
        assert r.json()["error"] == "the body nests arrays or objects deeper than 32 levels"
