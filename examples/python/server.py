#!/usr/bin/env python3
"""The story service over HTTP: a Starlette app on uvicorn with the endpoints of the
planned Next.js app, embedding storyloom (no Redis, no queue service, no session map).

    python server.py --db story.db --port 8000

    POST   /api/story/generate        {topic, author_style, pages, quality, approve_outline}
    GET    /api/story/{id}/status     run, progress, outline, pages, last_event_id
    DELETE /api/story/{id}/cancel
    POST   /api/story/{id}/approve    optional {"outline": [plan, ...]} edits
    GET    /api/events/{id}           SSE; resumes after the Last-Event-ID header
    GET    /api/stories               the library: ?limit=&after=
    GET    /api/health                store reachable, workers alive, queue depth

The workflow is story.py's (imported): one definition for the CLI and the service. Its
text comes from the engine's llm step: OpenAI, OpenRouter or Anthropic when their key is in
the environment, else the offline provider (placeholder text, not a language model).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import story
import storyloom

HEALTH_WORKFLOW = "health.ping"


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
    raw = await request.body()
    if not raw.strip() and optional:
        return {}, None
    try:
        import json

        return json.loads(raw), None
    except ValueError as e:
        return None, _error(400, "the body is not JSON", fields={"body": str(e)})


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


def create_app(db: str, *, workers: int = 0, word_delay: float = 0.02) -> Starlette:
    """The app; the engine opens, registers its workflows and launches with the app's
    lifespan (at server start, before any request: stories left unfinished by a stopped
    or killed server resume at once), and closes with it. word_delay: seconds between the
    offline provider's streamed words."""
    state: dict[str, storyloom.Engine] = {}
    # Set when the server begins to stop (main's first Ctrl-C): event streams end, so
    # that the server does not wait for them.
    stopping = asyncio.Event()

    def engine() -> storyloom.Engine:
        return state["engine"]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        e = storyloom.Engine(db, workers=workers, llm=story.llm_config(word_delay))
        # Register every workflow, then launch: a recovered run finds what it needs.
        story.register(e)
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

    async def generate(request: Request) -> Response:
        body, bad = await _json_body(request)
        if bad:
            return bad
        clean, errors = story.validate_input(body)
        if errors:
            return _error(400, "invalid story request", fields=errors)
        try:
            run = await engine().astart(
                story.WORKFLOW, clean, idempotency_key=story.idempotency_key(clean)
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
        try:
            snap = await engine().asnapshot(request.path_params["id"])
        except storyloom.StoryloomError as e:
            return _engine_error(e)
        if snap.run.workflow != story.WORKFLOW:
            return _error(404, f"no story '{snap.run.id}'", code="not_found")
        artifacts = {a.key: a.value for a in snap.artifacts}
        pages = [
            {"page": int(k.split("/")[1]), **v}
            for k, v in artifacts.items()
            if k.startswith(story.STREAMS_PREFIX) and isinstance(v, dict)
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
            }
        )

    async def cancel(request: Request) -> Response:
        rid = request.path_params["id"]
        try:
            await engine().acancel(rid)
            run = await engine().aget(rid)
        except storyloom.StoryloomError as e:
            return _engine_error(e)
        return JSONResponse({"id": rid, "status": run.status})

    async def approve(request: Request) -> Response:
        rid = request.path_params["id"]
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
            await engine().asignal(rid, "approve", {"by": "api", **body})
        except storyloom.StoryloomError as e:
            return _engine_error(e)
        return JSONResponse({"id": rid, "approved": True}, status_code=202)

    async def events(request: Request) -> Response:
        rid = request.path_params["id"]
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

    async def stories(request: Request) -> Response:
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
            page = await engine().alist(workflow=story.WORKFLOW, limit=limit, after=q.get("after"))
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
            Route("/api/story/generate", generate, methods=["POST"]),
            Route("/api/story/{id}/status", status, methods=["GET"]),
            Route("/api/story/{id}/cancel", cancel, methods=["DELETE"]),
            Route("/api/story/{id}/approve", approve, methods=["POST"]),
            Route("/api/events/{id}", events, methods=["GET"]),
            Route("/api/stories", stories, methods=["GET"]),
            Route("/api/health", health, methods=["GET"]),
        ],
        lifespan=lifespan,
    )


async def _until(stream, stopping: asyncio.Event):
    """The chunks of ``stream`` until it ends or ``stopping`` is set."""
    chunks = stream.__aiter__()
    stop = asyncio.ensure_future(stopping.wait())
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


def main(argv: list[str] | None = None) -> None:
    """Serves create_app(--db) with uvicorn on --host:--port until Ctrl-C."""
    import uvicorn

    p = argparse.ArgumentParser(description="the storyloom story service")
    p.add_argument("--db", default="story.db")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--word-delay", type=float, default=0.02, help="offline text pace [0.02]")
    args = p.parse_args(argv)
    app = create_app(args.db, word_delay=args.word_delay)

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
