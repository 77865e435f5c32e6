"""The outline and the critique a model answers: asked for as JSON (the schemas below, as
the C++ example's examples/story/structured_answers.cc), read from ``LlmResult.json``. An
answer without JSON falls back to the text form ``TITLE:``, ``STYLE:``, ``CHARACTERS:`` and
one ``PAGE N:`` line per page (any case, markdown bold or headings tolerated), as the C++ example's
parse_outline (examples/story/outline.cc) reads it. Missing parts get defaults, so a
sloppy answer still gives every page a plan."""

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
    """{"title", "visual_style", "characters", "plans": [one per page]} from the model's
    answer. ``characters`` (who appears and how they look) goes into every picture's
    prompt, so the pictures draw them alike; never blank."""
    pages = input["pages"]
    title = style = characters = None
    plans: list[str | None] = [None] * pages
    for line in text.splitlines():
        if title is None and (value := _labelled(line, "TITLE")):
            title = value
        elif style is None and (value := _labelled(line, "STYLE")):
            style = value
        elif characters is None and (value := _labelled(line, "CHARACTERS")):
            characters = value
        elif m := _PAGE.match(_strip(line)):
            n, plan = int(m.group(1)), m.group(2).strip()
            if 1 <= n <= pages and plans[n - 1] is None and plan:
                plans[n - 1] = plan
    return {
        "title": title or f"A Story About {input['topic']}",
        "visual_style": style or "soft watercolour illustrations",
        "characters": characters
        or f"the characters of a story about {input['topic']}, each drawn the same way on "
        "every page",
        "plans": [
            p or f"Page {n} of the story of {input['topic']}." for n, p in enumerate(plans, 1)
        ],
    }


def _string(description: str) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "description": description}


def outline_schema(pages: int) -> dict[str, Any]:
    """{"title", "visual_style", "characters", "pages": [exactly ``pages`` strings]}."""
    return {
        "type": "object",
        "properties": {
            "title": _string("the story's title"),
            "visual_style": _string("the illustrations' visual style, a few words"),
            "characters": _string(
                "each character and how they look (species, age, clothes, colours), one "
                "sentence each"
            ),
            "pages": {
                "type": "array",
                "items": _string("what happens on this page, one or two sentences"),
                "minItems": pages,
                "maxItems": pages,
            },
        },
        "required": ["title", "visual_style", "characters", "pages"],
        "additionalProperties": False,
    }


def critique_schema() -> dict[str, Any]:
    """{"critique", "change": the single most useful change}."""
    return {
        "type": "object",
        "properties": {
            "critique": _string("two or three sentences on what works and what does not"),
            "change": _string("the single most useful change"),
        },
        "required": ["critique", "change"],
        "additionalProperties": False,
    }


def outline_from_answer(text: str, value: Any, input: dict[str, Any]) -> dict[str, Any]:
    """The outline of an answer: its JSON ``value`` when it is an object (blank parts
    derived from the input), else :func:`parse_outline` of its ``text``."""
    if not isinstance(value, dict):
        return parse_outline(text, input)
    lines = [
        f"TITLE: {value.get('title') or ''}",
        f"STYLE: {value.get('visual_style') or ''}",
        f"CHARACTERS: {value.get('characters') or ''}",
    ]
    pages = value.get("pages") if isinstance(value.get("pages"), list) else []
    lines += [f"PAGE {n}: {p if isinstance(p, str) else ''}" for n, p in enumerate(pages, 1)]
    return parse_outline("\n".join(lines), input)


def critique_from_answer(text: str, value: Any) -> str:
    """The critique as one text: "<critique> Most useful change: <change>"."""
    if not isinstance(value, dict):
        return text
    critique = value.get("critique") if isinstance(value.get("critique"), str) else ""
    change = value.get("change") if isinstance(value.get("change"), str) else ""
    if not change:
        return critique
    return f"{critique} Most useful change: {change}".strip()
