"""server.py's pages in headless Chromium (scripts/setup.sh installs it), driven by
browser_pages.mjs over the DevTools protocol: a story whose first picture the fake images
server refused shows "no picture", its retry button fills it in; a story started from the
library's form shows its pages while it is written and its pictures once drawn; the
library shows cover thumbnails."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import httpx
from test_server import _free_port, signed_in
from test_server_pictures import _finished_story, server  # noqa: F401 - the fixture

HERE = Path(__file__).resolve().parent


def _chromium(tmp_path: Path, port: int) -> subprocess.Popen:
    program = shutil.which("chromium")
    assert program, "chromium is missing (scripts/setup.sh installs it)"
    proc = subprocess.Popen(
        [
            program,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            f"--remote-debugging-port={port}",
            f"--user-data-dir={tmp_path / 'chromium'}",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while True:
        assert proc.poll() is None, "chromium exited"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=2).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "chromium's DevTools never answered"
        time.sleep(0.2)


def test_the_pages_show_pictures_live_retry_one_and_show_covers(server, tmp_path):  # noqa: F811
    base, _ = server
    node = shutil.which("node")
    assert node, (
        "node 20 or later is missing (scripts/setup.sh installs one into .tools/node when"
        " the machine has none; python/run_tests.sh puts it on PATH)"
    )
    with signed_in(base) as c:
        rid, done = _finished_story(c, base, pages=3)
        assert done["story"]["pictures"] == [None, "page/2/picture", "page/3/picture"]
        session = c.cookies.get("story_session")
        port = _free_port()
        browser = _chromium(tmp_path, port)
        try:
            ran = subprocess.run(
                [
                    node,
                    "--experimental-websocket",
                    str(HERE / "browser_pages.mjs"),
                    str(port),
                    base,
                    session,
                    rid,
                ],
                capture_output=True,
                text=True,
                timeout=150,
            )
        finally:
            browser.terminate()
            browser.wait(timeout=10)
        assert ran.returncode == 0, ran.stderr
        seen = json.loads(ran.stdout)
        # "no picture" on page 1, then its retry draws it: three pictures, all loaded.
        assert seen["before"]["noPicture"] == 1 and len(seen["before"]["pictures"]) == 2, seen
        assert seen["after"]["noPicture"] == 0, seen["after"]
        assert len(seen["after"]["pictures"]) == 3 and all(w > 0 for w in seen["after"]["pictures"])
        # The new story: its pages appeared while it was still being written (the live
        # view), then its pictures, loaded, with the downloads offered.
        live = seen["live"]
        assert any(s["status"].startswith("running") and s["pages"] > 0 for s in live), live
        assert live[-1]["status"].startswith("completed"), live[-1]
        assert len(live[-1]["pictures"]) == 2 and all(w > 0 for w in live[-1]["pictures"])
        assert live[-1]["downloads"], live[-1]
        # The library: a loaded cover thumbnail for each story.
        assert len(seen["covers"]) == 2 and all(w > 0 for w in seen["covers"]), seen["covers"]
        # Page 1's text was not rewritten by the retry.
        after = c.get(f"{base}/api/story/{rid}/status").json()
        assert [p["content"] for p in after["pages"]] == [p["content"] for p in done["pages"]]
