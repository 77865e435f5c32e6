"""Must FAIL ``mypy --strict`` (test_typing.py checks each error below is reported): the
types catch a step result used as the wrong type."""

from __future__ import annotations

from typing import Any

import storyloom
from storyloom import AsyncContext, Context

engine = storyloom.Engine(":memory:")


async def fetch_page(n: int) -> str:
    return f"page {n}"


@engine.workflow("w")
def w(ctx: Context, input: dict[str, Any]) -> None:
    pages: int = ctx.step("title", lambda: "a title")  # error: str is not int


@engine.workflow("a")
async def a(ctx: AsyncContext, input: dict[str, Any]) -> None:
    page: int = await ctx.step("page", lambda: fetch_page(1))  # error: str is not int
