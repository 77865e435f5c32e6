"""Type-checked by test_typing.py with ``mypy --strict`` (never run): the typed API as a
program uses it. ctx.step returns what its function returns (awaited for async ones)."""

from __future__ import annotations

from typing import Any, TypedDict

import storyloom
from storyloom import AsyncContext, Context


class Outline(TypedDict):
    title: str
    pages: int


def outline() -> Outline:
    return {"title": "The storm", "pages": 3}


async def fetch_page(n: int) -> str:
    return f"page {n}"


engine = storyloom.Engine(":memory:")


@engine.workflow("sync-story")
def sync_story(ctx: Context, input: dict[str, Any]) -> dict[str, Any]:
    plan: Outline = ctx.step("outline", outline)
    count: int = ctx.step("count", lambda: plan["pages"])
    first: str = ctx.step("first", lambda: fetch_page(1))  # an async fn, awaited
    ctx.sleep("pause", 0.5)
    return {"title": plan["title"], "count": count, "first": first}


@engine.workflow("async-story")
async def async_story(ctx: AsyncContext, input: dict[str, Any]) -> dict[str, Any]:
    plan: Outline = await ctx.step("outline", outline)
    page: str = await ctx.step("page", lambda: fetch_page(2))
    signal: Any = await ctx.wait_for_signal("approve", timeout=60)
    return {"title": plan["title"], "page": page, "approved": signal}


async def register_async() -> None:
    engine.register("async-again", async_story, retries=storyloom.RetryPolicy(max_attempts=3))
    engine.register("sync-again", sync_story)


def read_back(run_id: str) -> str:
    try:
        output: Any = engine.result(run_id, timeout=5)
    except storyloom.WorkflowFailed as e:
        return f"{e.origin_type}: {e.message}\n{e.traceback}"
    return str(output)
