#!/usr/bin/env python3
"""The story service over HTTP: a Starlette app on uvicorn with the endpoints of the
planned Next.js app, embedding storyloom (no Redis, no queue service, no session map).

    python server.py --db story.db --port 8000
    STORYLOOM_STORE=postgresql://app@db.internal/stories python server.py --port 8001

    POST   /api/auth/signup           {username, password}: an account, signed in (cookie)
    POST   /api/auth/signin           {username, password}
    POST   /api/auth/signout
    POST   /api/story/generate        {topic, author_style, pages, quality, approve_outline}
    GET    /api/story/{id}/status     run, progress, outline, pages, last_event_id
    DELETE /api/story/{id}/cancel
    POST   /api/story/{id}/approve    optional {"outline": [plan, ...]} edits
    GET    /api/events/{id}           SSE; resumes after the Last-Event-ID header
    GET    /api/story/{id}/pictures/{n}  page n's picture (ETag, 304); .../cover: the first
    POST   /api/story/{id}/pictures/{n}/retry  draws page n's picture again (no text rewritten)
    GET    /api/story/{id}/book.epub  the finished story as EPUB 3; book.pdf: as PDF
    GET    /api/stories               the library: ?limit=&after=
    GET    /, /story/{id}             the pages: library and start form; live view and reader
    GET    /api/health                store reachable, workers alive, queue depth

Every /api/story, /api/events and /api/stories route needs a signed-in user (401
otherwise) and answers only for that user's stories: another user's story is a 404, the
library lists only the user's own. Accounts live in their own SQLite file (accounts.py,
argon2id hashes); the session is Starlette's SessionMiddleware cookie (signed with
itsdangerous, httpOnly, SameSite=Lax; SESSION_SECRET, else a random secret kept beside
the accounts file). A POST or DELETE must come from this site (its Origin header), else 403.
Per user, --limit-per-hour stories start per hour and --limit-running run at once (the
engine's throttle and concurrency keys on the input's owner); over them, generate answers
429 with Retry-After. Each story's LLM budget is the calls its pages and quality need.

The workflow is story.py's (imported): one definition for the CLI and the service. Its
text comes from the engine's llm step: OpenAI, OpenRouter or Anthropic when their key is in
the environment, else the offline provider (placeholder text, not a language model).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import sys
import time
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import accounts
import book_routes
import story
import storyloom

HOUR = 3600.0
MAX_BODY_BYTES = 64 * 1024
MAX_JSON_DEPTH = 32

HEALTH_WORKFLOW = "health.ping"
PAGES = Path(__file__).resolve().parent / "static"


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


def _engine_error(e: storyloom.StoryloomError) -> JSONResponse:
    status = {
        storyloom.NotFound: 404,
        storyloom.InvalidState: 409,
        storyloom.InvalidArgument: 400,
        storyloom.PayloadTooLarge: 413,
    }.get(type(e), 500)
    return _error(status, e.message, code=e.code_name)


async def _json_body(request: Request, *, optional: bool = False) -> tuple[Any, Response | None]:
    """The JSON body, read up to MAX_BODY_BYTES (a larger one is a 413 without reading on);
    bad or too deeply nested JSON is a 400."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return None, _error(413, f"the request body is over {MAX_BODY_BYTES} bytes")
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY_BYTES:
            return None, _error(413, f"the request body is over {MAX_BODY_BYTES} bytes")
    if not raw.strip() and optional:
        return {}, None
    if _json_depth(bytes(raw)) > MAX_JSON_DEPTH:
        return None, _error(
            400, f"the body nests arrays or objects deeper than {MAX_JSON_DEPTH} levels"
        )
    try:
        return json.loads(raw), None
    except (ValueError, RecursionError) as e:
        return None, _error(400, "the body is not JSON", fields={"body": str(e)})


def _json_depth(raw: bytes) -> int:
    """How deeply arrays and objects nest in JSON text (strings skipped), stopping once
    past MAX_JSON_DEPTH: checked before parsing, so no parser recursion is at stake."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            deepest = max(deepest, depth)
            if deepest > MAX_JSON_DEPTH:
                break
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return deepest


def _same_origin(request: Request) -> Response | None:
    """403 for a POST or DELETE that does not come from this site's own pages (CSRF):
    its Origin must be this host; without one, Sec-Fetch-Site must say same-origin."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return None
    origin = request.headers.get("origin")
    if origin is not None:
        if origin.split("://", 1)[-1] == request.headers.get("host"):
            return None
        return _error(403, f"cross-origin request refused (Origin {origin} is not this site)")
    if request.headers.get("sec-fetch-site") == "same-origin":
        return None
    return _error(
        403, "request refused: a request that changes something must carry this site as Origin"
    )


def _session_secret(accounts_db: str) -> str:
    configured = os.environ.get("SESSION_SECRET")
    if configured:
        if len(configured) < 32:
            raise SystemExit("SESSION_SECRET must be at least 32 characters")
        return configured
    path = Path(f"{accounts_db}.session-secret")
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    return path.read_text().strip()


def _story_view(run: storyloom.Run) -> dict[str, Any]:
    progress = run.progress if isinstance(run.progress, dict) else {}
    return {
        "id": run.id,
        "status": run.status,
        "topic": (run.input or {}).get("topic"),
        "author_style": (run.input or {}).get("author_style"),
        "pages_total": progress.get("pages_total", (run.input or {}).get("pages")),
        "pages_completed": progress.get("pages_completed", 0),
        "stage": progress.get("stage"),
        "created_at_ms": run.created_at_ms,
        "finished_at_ms": run.finished_at_ms,
        # The library's thumbnail: the first page's picture there is (404 before one).
        "cover_url": f"/api/story/{run.id}/cover",
    }


async def recovered_runs(engine: storyloom.Engine) -> list[storyloom.Run]:
    """The story runs left running or queued in the store (by a stopped or killed server),
    which the engine executes once launched, with no request."""
    found: list[storyloom.Run] = []
    for status in ("running", "queued"):
        after = None
        while True:
            page = await engine.alist(
                status=status, workflow=story.WORKFLOW, limit=1000, after=after
            )
            found += page.runs
            if not page.next_cursor:
                break
            after = page.next_cursor
    return found


def log(message: str) -> None:
    print(f"storyloom server: {message}", file=sys.stderr, flush=True)


def is_postgres(db: str) -> bool:
    """Whether the store is a PostgreSQL URL (the forms the engine takes)."""
    return db.startswith(("postgresql://", "postgres://")) or db == "postgresql:"


def default_accounts_file(db: str) -> str:
    """The accounts file beside an SQLite store; for a PostgreSQL store (not a file),
    story.accounts in the current folder."""
    return "story.accounts" if is_postgres(db) else f"{db}.accounts"


def create_app(
    db: str,
    *,
    workers: int = 0,
    word_delay: float = 0.02,
    accounts_db: str | None = None,
    limit_per_hour: int = 10,
    limit_running: int = 2,
) -> Starlette:
    """The app; the engine opens, registers its workflows and launches with the app's
    lifespan (at server start, before any request: stories left unfinished by a stopped
    or killed server resume at once), and closes with it. word_delay: seconds between the
    offline provider's streamed words. accounts_db: the accounts file [<db>.accounts, or
    story.accounts in the current folder when db is a PostgreSQL URL].
    limit_per_hour / limit_running: per-user limits on stories."""
    state: dict[str, storyloom.Engine] = {}
    # Set when the server begins to stop (main's first Ctrl-C): event streams end, so
    # that the server does not wait for them.
    stopping = asyncio.Event()
    accounts_db = accounts_db or default_accounts_file(db)
    users = accounts.Accounts(accounts_db)
    user_locks: dict[str, asyncio.Lock] = {}

    def engine() -> storyloom.Engine:
        return state["engine"]

    def signed_in(request: Request) -> accounts.User | None:
        user_id = request.session.get("user_id")
        return users.by_id(user_id) if isinstance(user_id, str) else None

    def require_user(request: Request) -> tuple[accounts.User | None, Response | None]:
        """(user, None), or (None, the 403 / 401 response)."""
        refused = _same_origin(request)
        if refused:
            return None, refused
        user = signed_in(request)
        if user is None:
            return None, _error(401, "sign in first: this needs a signed-in user")
        return user, None

    async def owned_run(
        rid: str, user: accounts.User
    ) -> tuple[storyloom.Run | None, Response | None]:
        """The user's story, or the 404 that an unknown one gets too."""
        try:
            run = await engine().aget(rid)
        except storyloom.NotFound:
            run = None
        if run is None or run.workflow != story.WORKFLOW or run.owner != user.id:
            return None, _error(404, f"no story '{rid}'", code="not_found")
        return run, None

    async def over_limit(user: accounts.User) -> Response | None:
        """The 429 when the user may not start a story now (counted in the engine's
        store: created in the last hour, queued or running now), else None."""
        runs: list[storyloom.Run] = []
        after = None
        while True:
            page = await engine().alist(
                workflow=story.WORKFLOW, owner=user.id, limit=1000, after=after
            )
            runs += page.runs
            if not page.next_cursor:
                break
            after = page.next_cursor
        now_ms = time.time() * 1000
        recent = sorted(r.created_at_ms for r in runs if r.created_at_ms > now_ms - HOUR * 1000)
        if len(recent) >= limit_per_hour:
            retry_at = recent[len(recent) - limit_per_hour] + HOUR * 1000
            wait = max(1, int((retry_at - now_ms + 999) // 1000))
            message = (
                f"you have started {len(recent)} stories in the last hour "
                f"(the limit is {limit_per_hour} an hour)"
            )
        elif sum(r.status in ("queued", "running") for r in runs) >= limit_running:
            wait = 30  # when a story ends is not known: ask again in a while
            message = (
                f"you have {limit_running} stories being written (the limit is "
                f"{limit_running} at once): start another when one finishes"
            )
        else:
            return None
        return JSONResponse(
            {"error": message, "retry_after_seconds": wait},
            status_code=429,
            headers={"Retry-After": str(wait)},
        )

    async def signup(request: Request) -> Response:
        refused = _same_origin(request)
        if refused:
            return refused
        body, bad = await _json_body(request)
        if bad:
            return bad
        creds, errors = accounts.check_credentials(body)
        if errors:
            return _error(400, "invalid sign-up", fields=errors)
        user = await asyncio.to_thread(users.create, *creds)
        if user is None:
            return _error(409, "invalid sign-up", fields={"username": "is taken: choose another"})
        request.session.clear()
        request.session["user_id"] = user.id
        return JSONResponse({"user": {"username": user.username}}, status_code=201)

    async def signin(request: Request) -> Response:
        refused = _same_origin(request)
        if refused:
            return refused
        body, bad = await _json_body(request)
        if bad:
            return bad
        name = body.get("username") if isinstance(body, dict) else None
        password = body.get("password") if isinstance(body, dict) else None
        if not isinstance(name, str) or not isinstance(password, str):
            return _error(400, "invalid sign-in", fields={"body": "needs username and password"})
        user = await asyncio.to_thread(users.check, name.strip().lower(), password)
        if user is None:
            return _error(401, "wrong user name or password")
        request.session.clear()
        request.session["user_id"] = user.id
        return JSONResponse({"user": {"username": user.username}})

    async def signout(request: Request) -> Response:
        refused = _same_origin(request)
        if refused:
            return refused
        request.session.clear()
        return JSONResponse({"signed_out": True})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        e = storyloom.Engine(db, workers=workers, llm=story.llm_config(word_delay))
        # Register every workflow, then launch: a recovered run finds what it needs.
        story.register(e, per_hour=limit_per_hour, running=limit_running)
        e.register(HEALTH_WORKFLOW, lambda ctx, input: {"ok": True})
        # Listed just before launch (reads work before it): once launched, the engine
        # moves a run it reclaims from running to queued and back while two lists run.
        runs = await recovered_runs(e)
        await e.alaunch()
        state["engine"] = e
        if runs:
            listed = ", ".join(f"{r.id} ({r.status})" for r in runs)
            log(
                f"recovered {len(runs)} unfinished stor{'y' if len(runs) == 1 else 'ies'}: {listed}"
            )
        else:
            log("no unfinished stories to recover")
        loop = asyncio.get_running_loop()
        app.state.stop_streams = lambda: loop.call_soon_threadsafe(stopping.set)
        try:
            yield
        finally:
            stopping.set()
            await e.aclose()
            users.close()

    async def generate(request: Request) -> Response:
        user, refused = require_user(request)
        if refused:
            return refused
        body, bad = await _json_body(request)
        if bad:
            return bad
        clean, errors = story.validate_input(body)
        if errors:
            return _error(400, "invalid story request", fields=errors)
        # The owner is in the input: the engine's per-user limits key on it, and the
        # idempotency key is per user.
        clean["owner"] = user.id
        # One start at a time per user in this process, so the count holds under load.
        async with user_locks.setdefault(user.id, asyncio.Lock()):
            limited = await over_limit(user)
            if limited:
                return limited
            try:
                run = await engine().astart(
                    story.WORKFLOW,
                    clean,
                    idempotency_key=story.idempotency_key(clean),
                    owner=user.id,
                    budget={"llm_calls": story.llm_calls(clean)},
                )
            except storyloom.StoryloomError as e:
                return _engine_error(e)
        rid = run.id
        return JSONResponse(
            {
                "id": rid,
                "status": run.status,
                "status_url": f"/api/story/{rid}/status",
                "events_url": f"/api/events/{rid}",
            },
            status_code=202,
        )

    async def status(request: Request) -> Response:
        user, refused = require_user(request)
        if refused:
            return refused
        run, missing = await owned_run(request.path_params["id"], user)
        if missing:
            return missing
        try:
            snap = await engine().asnapshot(run.id)
        except storyloom.StoryloomError as e:
            return _engine_error(e)
        artifacts = {a.key: a.value for a in snap.artifacts}
        pictures = book_routes.latest_pictures(snap.artifacts)
        pages = [
            {"page": n, **v, "picture": book_routes.picture_view(run.id, pictures.get(n))}
            for k, v in artifacts.items()
            if (n := story.page_number(k)) is not None and isinstance(v, dict)
        ]
        return JSONResponse(
            {
                **_story_view(snap.run),
                "progress": snap.run.progress,
                "error": snap.run.error,
                "outline": artifacts.get("outline"),
                "pages": sorted(pages, key=lambda p: p["page"]),
                "story": artifacts.get("story"),
                # Per chunk stream: where its current llm attempt's text begins, and its
                # end. A live view subscribing after last_event_id starts each stream at
                # attempt_start (see the README: retried text replaces, never appends).
                "streams": snap.streams,
                "last_event_id": snap.last_event_id,
                # What the story's llm steps used, and what is left of its budget.
                "usage": {
                    "llm_calls": snap.usage.llm_calls,
                    "total_tokens": snap.usage.total_tokens,
                },
                "budget": {
                    "llm_calls": snap.budget.llm_calls,
                    "remaining_llm_calls": snap.budget.remaining_llm_calls,
                },
            }
        )

    async def cancel(request: Request) -> Response:
        rid = request.path_params["id"]
        user, refused = require_user(request)
        if refused:
            return refused
        _, missing = await owned_run(rid, user)
        if missing:
            return missing
        try:
            await engine().acancel(rid)
            run = await engine().aget(rid)
        except storyloom.StoryloomError as e:
            return _engine_error(e)
        return JSONResponse({"id": rid, "status": run.status})

    async def approve(request: Request) -> Response:
        rid = request.path_params["id"]
        user, refused = require_user(request)
        if refused:
            return refused
        _, missing = await owned_run(rid, user)
        if missing:
            return missing
        body, bad = await _json_body(request, optional=True)
        if bad:
            return bad
        if not isinstance(body, dict):
            return _error(400, "invalid approval", fields={"body": "must be a JSON object"})
        outline = body.get("outline")
        if outline is not None and not (
            isinstance(outline, list) and all(isinstance(p, str) and p.strip() for p in outline)
        ):
            return _error(
                400, "invalid approval", fields={"outline": "must be a list of non-empty strings"}
            )
        try:
            run = await engine().aget(rid)
            pages = (run.input or {}).get("pages")
            if outline is not None and len(outline) != pages:
                return _error(
                    400,
                    "invalid approval",
                    fields={"outline": f"must have {pages} plans, got {len(outline)}"},
                )
            # First wins: of two approvals racing, the engine delivers exactly one.
            await engine().asignal_once(rid, "approve", {"by": "api", **body})
        except storyloom.InvalidState as e:
            first = await first_approval(rid)
            if first is not None:
                return _error(409, "this story was already approved", approved=first)
            return _engine_error(e)
        except storyloom.StoryloomError as e:
            return _engine_error(e)
        return JSONResponse({"id": rid, "approved": True}, status_code=202)

    async def first_approval(rid: str) -> Any:
        """The payload of the story's first approve signal (from its stored events), or None."""
        after = 0
        while True:
            events = await engine().astored_events(rid, after=after, limit=1000)
            if not events:
                return None
            for e in events:
                if e.type == "signal.received" and e.data.get("name") == "approve":
                    return e.data.get("payload")
            after = events[-1].id

    async def events(request: Request) -> Response:
        rid = request.path_params["id"]
        user, refused = require_user(request)
        if refused:
            return refused
        _, missing = await owned_run(rid, user)
        if missing:
            return missing
        last = request.headers.get("last-event-id") or request.query_params.get("lastEventId")
        try:
            await engine().aget(rid)
            stream = storyloom.sse(engine(), rid, last, heartbeat=10, retry=2)
        except storyloom.StoryloomError as e:
            return _engine_error(e)
        except ValueError as e:
            return _error(400, "invalid Last-Event-ID", fields={"Last-Event-ID": str(e)})

        async def body():
            async with stream:  # stops the feeder thread when the client goes away
                async for chunk in _until(stream, stopping):
                    yield chunk

        return StreamingResponse(
            body(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    async def on_owned_run(request: Request, answer) -> Response:
        """The signed-in user's run of the path's id, handed to `answer`; engine errors as JSON."""
        user, refused = require_user(request)
        if refused:
            return refused
        run, missing = await owned_run(request.path_params["id"], user)
        if missing:
            return missing
        try:
            return await answer(run)
        except storyloom.StoryloomError as e:
            return _engine_error(e)

    async def picture(request: Request) -> Response:
        page = request.path_params.get("page")
        return await on_owned_run(
            request, lambda run: book_routes.picture_response(engine(), request, run.id, page))

    async def retry_picture(request: Request) -> Response:
        return await on_owned_run(
            request,
            lambda run: book_routes.retry_picture(engine(), run, request.path_params["page"]))

    async def book(request: Request) -> Response:
        return await on_owned_run(
            request,
            lambda run: book_routes.book_response(engine(), run, request.path_params["format"]))

    async def page(request: Request) -> Response:
        # The pages are static: they read everything through the API above.
        name = "story.html" if "id" in request.path_params else "index.html"
        return FileResponse(PAGES / name, headers={"Cache-Control": "no-cache"})

    async def stories(request: Request) -> Response:
        user, refused = require_user(request)
        if refused:
            return refused
        q = request.query_params
        try:
            limit = int(q.get("limit", "50"))
        except ValueError:
            limit = -1
        if not 1 <= limit <= 1000:
            return _error(
                400, "invalid query", fields={"limit": "must be an integer from 1 to 1000"}
            )
        try:
            page = await engine().alist(
                workflow=story.WORKFLOW, owner=user.id, limit=limit, after=q.get("after")
            )
        except storyloom.InvalidArgument as e:
            return _error(400, "invalid query", fields={"limit": e.message})
        except storyloom.StoryloomError as e:
            return _engine_error(e)
        return JSONResponse(
            {"stories": [_story_view(r) for r in page.runs], "next_cursor": page.next_cursor}
        )

    async def health(request: Request) -> Response:
        e = engine()
        report: dict[str, Any] = {"store": "unreachable", "workers": "unknown", "queue_depth": None}
        try:
            depth, after = 0, None
            while True:  # runs waiting for a worker, across pages
                page = await e.alist(status="queued", limit=1000, after=after)
                depth += len(page.runs)
                if not page.next_cursor:
                    break
                after = page.next_cursor
            report.update(store="reachable", queue_depth=depth)
            # Workers alive: a no-op run must complete (the C ABI has no worker stats yet).
            probe = await e.astart(HEALTH_WORKFLOW, {})
            try:
                done = await e.await_run(probe.id, timeout=5)
                report["workers"] = "alive" if done.status == "completed" else done.status
            except storyloom.Timeout:
                report["workers"] = "not responding within 5 s"
            with contextlib.suppress(storyloom.StoryloomError):
                if report["workers"] == "alive":
                    await e.adelete(probe.id)
        except storyloom.StoryloomError as err:
            report["error"] = err.message
        ok = report["store"] == "reachable" and report["workers"] == "alive"
        return JSONResponse(
            {"status": "ok" if ok else "degraded", **report}, status_code=200 if ok else 503
        )

    return Starlette(
        routes=[
            Route("/api/auth/signup", signup, methods=["POST"]),
            Route("/api/auth/signin", signin, methods=["POST"]),
            Route("/api/auth/signout", signout, methods=["POST"]),
            Route("/api/story/generate", generate, methods=["POST"]),
            Route("/api/story/{id}/status", status, methods=["GET"]),
            Route("/api/story/{id}/cancel", cancel, methods=["DELETE"]),
            Route("/api/story/{id}/approve", approve, methods=["POST"]),
            Route("/api/story/{id}/pictures/{page:int}", picture, methods=["GET"]),
            Route("/api/story/{id}/cover", picture, methods=["GET"]),
            Route("/api/story/{id}/pictures/{page:int}/retry", retry_picture, methods=["POST"]),
            Route("/api/story/{id}/book.{format}", book, methods=["GET"]),
            Route("/api/events/{id}", events, methods=["GET"]),
            Route("/api/stories", stories, methods=["GET"]),
            Route("/api/health", health, methods=["GET"]),
            Route("/", page, methods=["GET"]),
            Route("/story/{id}", page, methods=["GET"]),
            Mount("/static", StaticFiles(directory=PAGES), name="static"),
        ],
        lifespan=lifespan,
        middleware=[
            Middleware(
                SessionMiddleware,
                secret_key=_session_secret(accounts_db),
                session_cookie="story_session",
                max_age=14 * 24 * 3600,
                same_site="lax",
                https_only=os.environ.get("STORY_COOKIE_SECURE", "0") == "1",
            )
        ],
    )


async def _until(stream, stopping: asyncio.Event):
    """The chunks of ``stream`` until it ends or ``stopping`` is set."""
    chunks = stream.__aiter__()
    stop = asyncio.ensure_future(stopping.wait())
    nxt: asyncio.Future | None = None
    try:
        while True:
            nxt = asyncio.ensure_future(chunks.__anext__())
            await asyncio.wait({nxt, stop}, return_when=asyncio.FIRST_COMPLETED)
            if not nxt.done():
                nxt.cancel()
                await asyncio.gather(nxt, return_exceptions=True)
                return
            try:
                yield nxt.result()
            except StopAsyncIteration:
                return
    finally:
        stop.cancel()
        # The client went away while a chunk was awaited: that wait ends later (the
        # stream closes with the engine), and its outcome is nobody's to report.
        if nxt is not None and not nxt.done():
            nxt.cancel()
            nxt.add_done_callback(lambda t: t.cancelled() or t.exception())


def main(argv: list[str] | None = None) -> None:
    """Serves create_app(--db) with uvicorn on --host:--port until Ctrl-C."""
    import uvicorn

    p = argparse.ArgumentParser(description="the storyloom story service")
    p.add_argument(
        "--db",
        default=os.environ.get("STORYLOOM_STORE") or "story.db",
        help="the store: an SQLite path or a PostgreSQL URL [$STORYLOOM_STORE, else story.db]",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--word-delay", type=float, default=0.02, help="offline text pace [0.02]")
    p.add_argument(
        "--accounts",
        default=None,
        help="the accounts file [<db>.accounts; story.accounts for a PostgreSQL store]",
    )
    p.add_argument("--limit-per-hour", type=int, default=10, help="stories a user starts an hour")
    p.add_argument("--limit-running", type=int, default=2, help="stories a user runs at once")
    args = p.parse_args(argv)
    if args.limit_per_hour < 1 or args.limit_running < 1:
        p.error("--limit-per-hour and --limit-running must be at least 1")
    app = create_app(
        args.db,
        word_delay=args.word_delay,
        accounts_db=args.accounts,
        limit_per_hour=args.limit_per_hour,
        limit_running=args.limit_running,
    )

    class Server(uvicorn.Server):
        # The first Ctrl-C ends the event streams (which never end by themselves), so
        # that uvicorn's graceful shutdown does not wait for their clients to leave.
        def handle_exit(self, sig: int, frame: object) -> None:
            stop_streams = getattr(app.state, "stop_streams", None)
            if stop_streams is not None:
                stop_streams()
            super().handle_exit(sig, frame)  # type: ignore[arg-type]

    config = uvicorn.Config(
        app, host=args.host, port=args.port, log_level="warning", timeout_graceful_shutdown=5
    )
    try:
        Server(config).run()
    except KeyboardInterrupt:  # uvicorn raises the signal again once it has stopped
        pass


if __name__ == "__main__":
    main()
