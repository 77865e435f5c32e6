"""server.py's pictures and books, through httpx against a server started here, its
pictures drawn by the project's fake images server (which refuses the first picture with
a 400, so page 1 ends with no picture): the picture route's media type, ETag, caching and
304, another user's picture is a 404, the EPUB and PDF downloads, and the retry of the
lost picture, which fills it in without writing any page text again. Also the static
pages the browser loads."""

from __future__ import annotations

import io
import signal
import subprocess
import zipfile

import pytest
import storyloom
from test_server import _free_port, _spawn, _wait_healthy, _wait_status, signed_in
from test_story import _fake_llm_server

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def server(tmp_path):
    with _fake_llm_server() as images_port:
        port = _free_port()
        db = tmp_path / "pictures.db"
        scenario = "server_error_then_ok;status=400"  # the first picture: a fatal 400
        images = {
            "STORYLOOM_IMAGE_PROVIDER": "openai",
            "OPENAI_BASE_URL": f"http://127.0.0.1:{images_port}/s/{scenario}/v1",
            "OPENAI_API_KEY": "test-key-not-a-secret",
            "OPENAI_IMAGE_SIZE": "64x64",
        }
        proc = _spawn(db, port, "0.005", env=images)  # slow enough to watch live
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


def _finished_story(c, base, topic="a lighthouse cat", pages=2):
    r = c.post(f"{base}/api/story/generate", json={"topic": topic, "pages": pages, "quality": 0})
    assert r.status_code == 202, r.text
    rid = r.json()["id"]
    return rid, _wait_status(c, base, rid, {"completed", "failed"})


def test_pictures_books_and_the_retry_of_a_lost_picture(server):
    base, db = server
    with signed_in(base, "ada") as c, signed_in(base, "bob") as other:
        rid, done = _finished_story(c, base)
        assert done["status"] == "completed", done  # a lost picture does not fail the story
        assert done["story"]["pictures"] == [None, "page/2/picture"]
        assert done["pages"][0]["picture"] is None
        second = done["pages"][1]["picture"]
        assert second["url"] == f"/api/story/{rid}/pictures/2"
        assert second["content_type"] == "image/png"

        # A picture: its media type, an ETag from its sha256, revalidated on every use.
        r = c.get(f"{base}{second['url']}")
        assert r.status_code == 200 and r.content.startswith(PNG)
        assert r.headers["content-type"] == "image/png"
        assert r.headers["etag"] == f'"{second["sha256"]}"'
        assert r.headers["cache-control"] == "private, no-cache"
        assert r.headers["x-content-type-options"] == "nosniff"
        for held in (r.headers["etag"], f'W/{r.headers["etag"]}', f'"other", {r.headers["etag"]}'):
            again = c.get(f"{base}{second['url']}", headers={"if-none-match": held})
            assert again.status_code == 304 and again.content == b"", held
            assert again.headers["etag"] == r.headers["etag"]
        changed = c.get(f"{base}{second['url']}", headers={"if-none-match": '"stale"'})
        assert changed.status_code == 200 and changed.content == r.content
        # The lost one, a page the story does not have; the cover is the first picture.
        missing = c.get(f"{base}/api/story/{rid}/pictures/1")
        assert missing.status_code == 404 and missing.json()["error"] == "page 1 has no picture"
        assert c.get(f"{base}/api/story/{rid}/pictures/9").status_code == 404
        cover = c.get(f"{base}/api/story/{rid}/cover")
        assert cover.status_code == 200 and cover.content == r.content
        library = c.get(f"{base}/api/stories").json()["stories"]
        assert library[0]["cover_url"] == f"/api/story/{rid}/cover"

        # Another user's story: every picture and book route is a 404, as for any story.
        for method, path in [
            ("GET", f"/api/story/{rid}/pictures/2"),
            ("GET", f"/api/story/{rid}/cover"),
            ("GET", f"/api/story/{rid}/book.epub"),
            ("GET", f"/api/story/{rid}/book.pdf"),
            ("POST", f"/api/story/{rid}/pictures/1/retry"),
        ]:
            r = other.request(method, f"{base}{path}")
            assert r.status_code == 404, (path, r.text)
            assert r.json()["error"] == f"no story '{rid}'"
        # Signed out: 401.
        with signed_in(base, "cyd") as signed_out:
            signed_out.post(f"{base}/api/auth/signout")
            assert signed_out.get(f"{base}/api/story/{rid}/pictures/2").status_code == 401

        # The book: a valid EPUB (a zip whose first entry is its media type) and a PDF.
        epub = c.get(f"{base}/api/story/{rid}/book.epub")
        assert epub.status_code == 200, epub.text
        assert epub.headers["content-type"] == "application/epub+zip"
        assert epub.headers["content-disposition"] == 'attachment; filename="a-lighthouse-cat.epub"'
        with zipfile.ZipFile(io.BytesIO(epub.content)) as z:
            assert z.testzip() is None
            assert z.namelist()[0] == "mimetype"
            assert z.read("mimetype") == b"application/epub+zip"
            pictures = [n for n in z.namelist() if n.endswith(".png")]
            assert len(pictures) == 1, z.namelist()  # page 1 has none yet
        pdf = c.get(f"{base}/api/story/{rid}/book.pdf")
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
        assert pdf.headers["content-type"] == "application/pdf"
        bad = c.get(f"{base}/api/story/{rid}/book.docx")
        assert bad.status_code == 400 and bad.json()["error"] == (
            "no book format 'docx': use epub or pdf"
        )

        # Retrying the lost picture alone: it is drawn (the fake server now answers), the
        # page texts stay as they were.
        assert c.post(f"{base}/api/story/{rid}/pictures/3/retry").status_code == 404
        r = c.post(f"{base}/api/story/{rid}/pictures/1/retry")
        assert r.status_code == 202, r.text
        assert r.json() == {"id": rid, "retrying": "page/1/picture"}
        after = _wait_status(c, base, rid, {"completed", "failed"})
        assert after["status"] == "completed", after
        assert after["pages"][0]["picture"]["url"] == f"/api/story/{rid}/pictures/1"
        assert after["story"]["pictures"] == ["page/1/picture", "page/2/picture"]
        assert [p["content"] for p in after["pages"]] == [p["content"] for p in done["pages"]]
        assert c.get(f"{base}/api/story/{rid}/pictures/1").content.startswith(PNG)
        with zipfile.ZipFile(io.BytesIO(c.get(f"{base}/api/story/{rid}/book.epub").content)) as z:
            assert len([n for n in z.namelist() if n.endswith(".png")]) == 2

    with storyloom.Engine(f"sqlite:{db}") as store:  # reads only: never launched
        events = store.stored_events(rid, limit=10000)
    written = [
        e.data["name"]
        for e in events
        if e.type == "step.completed" and e.data["name"].endswith("/write")
    ]
    assert written == ["page/1/write", "page/2/write"]  # no page text written twice
    rewound = [e.data for e in events if e.type == "run.rewound"]
    assert rewound and rewound[0]["step"] == "page/1/picture"


def test_a_story_being_written_has_no_book_and_no_retry_yet(server):
    base, _ = server
    with signed_in(base) as c:
        r = c.post(
            f"{base}/api/story/generate",
            json={"topic": "owls", "pages": 1, "quality": 0, "approve_outline": True},
        )
        rid = r.json()["id"]
        _wait_status(c, base, rid, {"waiting"})
        book = c.get(f"{base}/api/story/{rid}/book.pdf")
        assert book.status_code == 409
        assert book.json()["error"] == (
            "the story is not finished: there is no book to download yet"
        )
        retry = c.post(f"{base}/api/story/{rid}/pictures/1/retry")
        assert retry.status_code == 409
        assert retry.json()["error"] == (
            "the story is waiting: a picture can be drawn again once it has finished"
        )
        assert c.get(f"{base}/api/story/{rid}/cover").status_code == 404


def test_the_pages_the_browser_loads(server):
    base, _ = server
    with signed_in(base) as c:
        home = c.get(f"{base}/")
        assert home.status_code == 200 and home.headers["content-type"].startswith("text/html")
        assert '<script type="module" src="/static/library.js">' in home.text
        reader = c.get(f"{base}/story/some-id")
        assert reader.status_code == 200 and "/static/story.js" in reader.text
        script = c.get(f"{base}/static/story.js")
        assert script.status_code == 200
        assert "javascript" in script.headers["content-type"]
        # The live view listens for pictures landing and offers the downloads and retry.
        for needle in ("'artifact'", "'page.no_picture'", "/pictures/${n}/retry", "book.epub"):
            assert needle in script.text or needle in reader.text, needle
        assert c.get(f"{base}/static/nothing.js").status_code == 404
