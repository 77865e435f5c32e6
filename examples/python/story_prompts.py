"""What the story asks a language model, per kind of text: the prompts of the C++ example
(examples/story/prompts.cc), so both examples write the same story from the same request.

The outline and the critique are asked for as JSON matching a schema (structured output,
docs/llm.md): every provider is told the schema, and the answer comes back parsed in
``LlmResult.json``; the engine's offline provider fills a schema in deterministically, so
the pipeline works with no key too (placeholder text, not a language model).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from story_outline import critique_schema, outline_schema


@dataclass(frozen=True)
class Prompt:
    system: str
    user: str
    max_tokens: int
    json_schema: dict[str, Any] | None = None  # structured output, or None for text

    def messages(self) -> list[dict[str, str]]:
        return [{"role": "system", "content": self.system}, {"role": "user", "content": self.user}]


def _system(input: dict[str, Any]) -> str:
    return (
        "You write illustrated stories, one short page at a time. Author style: "
        f"{input['author_style']}."
    )


def _page_of(input: dict[str, Any], page: int) -> str:
    return f"page {page} of {input['pages']}"


def outline(input: dict[str, Any]) -> Prompt:
    pages = input["pages"]
    return Prompt(
        _system(input),
        f"Plan an illustrated story about {input['topic']} in exactly {pages} pages. Answer "
        "with JSON: the title, the visual style of the illustrations (a few words), the "
        "characters and how each looks (so every picture draws them alike) and, for each "
        "page in order, what happens on it in one or two sentences.",
        200 + 80 * pages,
        outline_schema(pages),
    )


def page(input: dict[str, Any], title: str, plan: str, n: int) -> Prompt:
    return Prompt(
        _system(input),
        f'The story "{title}" is about {input["topic"]}. Write {_page_of(input, n)}. Its '
        f"plan: {plan}\nAnswer with the page's text only: one paragraph of 80 to 150 words.",
        400,
    )


def critique(input: dict[str, Any], title: str, plan: str, n: int, draft: str) -> Prompt:
    return Prompt(
        _system(input),
        f'Critique {_page_of(input, n)} of "{title}" (plan: {plan}). Answer with JSON: the '
        f"critique in two or three sentences, and the single most useful change.\n\n{draft}",
        200,
        critique_schema(),
    )


def revision(input: dict[str, Any], title: str, n: int, critique: str, draft: str) -> Prompt:
    return Prompt(
        _system(input),
        f'Revise {_page_of(input, n)} of "{title}" by applying this critique: {critique}\n'
        f"Answer with the revised page's text only.\n\n{draft}",
        500,
    )


def illustration(
    input: dict[str, Any], title: str, visual_style: str, n: int, draft: str
) -> Prompt:
    return Prompt(
        _system(input),
        f'Write the illustration brief for {_page_of(input, n)} of "{title}": what the '
        "picture shows (characters, setting, action, mood), in the book's visual style: "
        f"{visual_style}. Two or three sentences, nothing else.\n\nThe page:\n{draft}",
        200,
    )
