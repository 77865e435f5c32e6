"""The outline a model answers to story_prompts.outline(): ``TITLE:``, ``STYLE:`` and one
``PAGE N:`` line per page (any case, markdown bold or headings tolerated), as the C++
example's parse_outline (examples/story/outline.cc) reads it. Missing lines get defaults,
so a sloppy answer still gives every page a plan."""

from __future__ import annotations

import re
from typing import Any

_PAGE = re.compile(r"^PAGE\s*(\d+)[*:.\s]*(.*)$", re.IGNORECASE)


def _strip(line: str) -> str:
    return line.lstrip("*#").strip()


def _labelled(line: str, label: str) -> str | None:
    line = _strip(line)
    if len(line) <= len(label) or line[: len(label)].upper() != label:
        return None
    return line[len(label) :].lstrip("*: ").strip() or None


def parse_outline(text: str, input: dict[str, Any]) -> dict[str, Any]:
    """{"title", "visual_style", "plans": [one per page]} from the model's answer."""
    pages = input["pages"]
    title = style = None
    plans: list[str | None] = [None] * pages
    for line in text.splitlines():
        if title is None and (value := _labelled(line, "TITLE")):
            title = value
        elif style is None and (value := _labelled(line, "STYLE")):
            style = value
        elif m := _PAGE.match(_strip(line)):
            n, plan = int(m.group(1)), m.group(2).strip()
            if 1 <= n <= pages and plans[n - 1] is None and plan:
                plans[n - 1] = plan
    return {
        "title": title or f"A Story About {input['topic']}",
        "visual_style": style or "soft watercolour illustrations",
        "plans": [
            p or f"Page {n} of the story of {input['topic']}." for n, p in enumerate(plans, 1)
        ],
    }
