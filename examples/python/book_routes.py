"""What server.py answers about a story's pictures and its book, for a run the caller has
already checked is the signed-in user's: a picture's bytes (with its media type, an ETag
from its sha256 and a 304 when the browser already holds it), the book as EPUB or PDF
(through the engine's export), and the retry of one picture (a rewind to its image step:
page texts are not written again)."""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

import story
import storyloom

# A picture's URL names the page, not its version: a redone picture replaces it, so the
# browser asks again every time (no-cache) and gets a 304 while the sha256 is the same.
PICTURE_CACHE_CONTROL = "private, no-cache"

BOOK_FORMATS = {"epub": "application/epub+zip", "pdf": "application/pdf"}


def picture_key(page: int) -> str:
    return f"{story.STREAMS_PREFIX}{page}/picture"


def picture_url(run_id: str, page: int) -> str:
    return f"/api/story/{run_id}/pictures/{page}"


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def latest_pictures(artifacts: list[storyloom.Artifact]) -> dict[int, storyloom.Artifact]:
    """{page: the latest version of its picture} among a run's artifacts."""
    found: dict[int, storyloom.Artifact] = {}
    for a in artifacts:
        head, _, rest = a.key.partition("/")
        n, _, tail = rest.partition("/")
        if head == "page" and n.isdigit() and tail == "picture" and a.content_type:
            if int(n) not in found or a.version > found[int(n)].version:
                found[int(n)] = a
    return found


def picture_view(run_id: str, picture: storyloom.Artifact | None) -> dict[str, Any] | None:
    """What a page shows of its picture: {url, version, content_type, sha256}, or None."""
    if picture is None:
        return None
    value = picture.value if isinstance(picture.value, dict) else {}
    n = int(picture.key.split("/")[1])
    return {
        "url": picture_url(run_id, n),
        "version": picture.version,
        "content_type": picture.content_type,
        "sha256": value.get("sha256"),
    }


def _etag_matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    tags = [t.strip() for t in if_none_match.split(",")]
    return "*" in tags or any(t.removeprefix("W/") == etag for t in tags)


async def picture_response(
    engine: storyloom.Engine, request: Request, run_id: str, page: int | None
) -> Response:
    """Page ``page``'s latest picture (None: the first page that has one, the cover), or
    a 404 saying the page has no picture."""
    pictures = latest_pictures(await engine.aartifacts(run_id))
    if page is None:
        if not pictures:
            return _error(404, "this story has no picture yet")
        page = min(pictures)
    picture = pictures.get(page)
    if picture is None:
        return _error(404, f"page {page} has no picture")
    sha256 = picture.value.get("sha256") if isinstance(picture.value, dict) else None
    headers = {
        "Cache-Control": PICTURE_CACHE_CONTROL,
        "X-Content-Type-Options": "nosniff",
        **({"ETag": f'"{sha256}"'} if sha256 else {}),
    }
    if sha256 and _etag_matches(request.headers.get("if-none-match"), f'"{sha256}"'):
        return Response(status_code=304, headers=headers)
    data = await engine.aartifact_bytes(run_id, picture.key, picture.version)
    return Response(data, media_type=picture.content_type, headers=headers)


def _file_name(topic: Any, extension: str) -> str:
    """An ASCII file name from the story's topic: "a-lighthouse-cat.epub"."""
    slug = re.sub(r"[^a-z0-9]+", "-", str(topic or "story").lower()).strip("-")[:60]
    return f"{slug or 'story'}.{extension}"


async def book_response(engine: storyloom.Engine, run: storyloom.Run, format: str) -> Response:
    """The finished story as an EPUB or PDF download; 400 for another format, 409 while
    the story is not finished."""
    media_type = BOOK_FORMATS.get(format)
    if media_type is None:
        return _error(400, f"no book format '{format}': use epub or pdf")
    with tempfile.TemporaryDirectory(prefix="storyloom-book-") as folder:
        path = os.path.join(folder, f"book.{format}")
        try:
            await asyncio.to_thread(engine.export_book, run.id, format, path)
        except storyloom.NotFound:
            return _error(409, "the story is not finished: there is no book to download yet")
        with open(path, "rb") as f:
            data = f.read()
    name = _file_name((run.input or {}).get("topic"), format)
    return Response(
        data,
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "private, no-cache",
        },
    )


async def retry_picture(engine: storyloom.Engine, run: storyloom.Run, page: int) -> Response:
    """Draws page ``page``'s picture again: a rewind to its image step (the pictures
    follow every page's text, so no text is written again; later pages' picture steps
    run again too, a rewind redoes every later step). 202; 404 for a page the story does
    not have; 409 while the story is being written."""
    pages = (run.input or {}).get("pages")
    if not isinstance(pages, int) or not 1 <= page <= pages:
        return _error(404, f"this story has no page {page}")
    if run.status not in ("completed", "failed"):
        return _error(
            409, f"the story is {run.status}: a picture can be drawn again once it has finished"
        )
    try:
        await engine.arewind(run.id, picture_key(page))
    except storyloom.NotFound:
        return _error(409, f"page {page}'s picture has not been attempted yet")
    except storyloom.InvalidState as e:
        return _error(409, e.message)
    return JSONResponse({"id": run.id, "retrying": picture_key(page)}, status_code=202)
