#!/usr/bin/env python3
"""The story pipeline on storyloom, in Python: outline -> (approval) -> pages written,
critiqued and revised -> illustration briefs -> the story. Durable: Ctrl-C, then the same
command again, resumes the same run without writing finished pages again.

    python story.py --topic "a lighthouse cat" --style "Roald Dahl" --pages 3 --quality 1
    python story.py ... --approve-outline        # asks before writing pages
    python story.py ... --export story.md        # the story as Markdown when done

The text comes from ONE function, generate(): today it streams OFFLINE TEXT, NOT A
LANGUAGE MODEL (a deterministic word generator), so the example runs with no key and no
network. The core's built-in `llm` step will replace its body; nothing else changes.

server.py imports this module: one workflow definition for the CLI and the web API.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time
from typing import Any

import storyloom

WORKFLOW = "story"
STREAMS_PREFIX = "page/"

# Seconds between streamed words of the offline generator (a demo pace; 0 in tests).
word_delay = 0.0

# ---- input ----------------------------------------------------------------------------

LIMITS = {"pages": (1, 30), "quality": (0, 3)}


def validate_input(raw: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """(clean input, {field: error}) for a story request; errors is empty when valid.
    Fields: topic (required text), author_style (text, default "plain"), pages (1..30,
    default 3), quality (critique/revise rounds, 0..3, default 1), approve_outline (bool)."""
    errors: dict[str, str] = {}
    if not isinstance(raw, dict):
        return {}, {"body": "must be a JSON object"}
    known = {"topic", "author_style", "pages", "quality", "approve_outline"}
    for k in sorted(set(raw) - known):
        errors[k] = "unknown field"
    topic = raw.get("topic")
    if not isinstance(topic, str) or not topic.strip():
        errors["topic"] = "required: a non-empty string"
    elif len(topic) > 500:
        errors["topic"] = f"at most 500 characters, got {len(topic)}"
    style = raw.get("author_style", "plain")
    if not isinstance(style, str) or not style.strip():
        errors["author_style"] = "must be a non-empty string"
    elif len(style) > 200:
        errors["author_style"] = f"at most 200 characters, got {len(style)}"
    clean: dict[str, Any] = {}
    for field, default in (("pages", 3), ("quality", 1)):
        value = raw.get(field, default)
        lo, hi = LIMITS[field]
        if isinstance(value, bool) or not isinstance(value, int):
            errors[field] = f"must be an integer from {lo} to {hi}"
        elif not lo <= value <= hi:
            errors[field] = f"must be from {lo} to {hi}, got {value}"
        clean[field] = value
    approve = raw.get("approve_outline", False)
    if not isinstance(approve, bool):
        errors["approve_outline"] = "must be true or false"
    if errors:
        return {}, errors
    clean.update(topic=topic.strip(), author_style=style.strip(), approve_outline=approve)
    return clean, {}


def idempotency_key(input: dict[str, Any]) -> str:
    """The same request is the same run: a key derived from the canonical input."""
    canonical = json.dumps(input, sort_keys=True, separators=(",", ":"))
    return "story:" + hashlib.sha256(canonical.encode()).hexdigest()[:32]


# ---- the one text-generation seam ------------------------------------------------------

_WORDS = [
    "the",
    "wind",
    "moon",
    "harbour",
    "lantern",
    "whispered",
    "small",
    "brave",
    "old",
    "keeper",
    "tide",
    "salt",
    "door",
    "quiet",
    "bright",
    "stair",
    "map",
    "gull",
    "rope",
    "storm",
    "shell",
    "window",
    "midnight",
    "kettle",
    "song",
    "crooked",
    "warm",
    "far",
    "softly",
    "suddenly",
    "remembered",
    "carried",
    "listened",
    "waited",
]


def offline_text(prompt: str, words: int) -> str:
    """Offline text, not a language model: deterministic sentences seeded by the prompt."""
    rng = random.Random(hashlib.sha256(prompt.encode()).digest())
    out, sentence = [], []
    for _ in range(words):
        sentence.append(rng.choice(_WORDS))
        if len(sentence) >= rng.randint(6, 11):
            out.append(" ".join(sentence).capitalize() + ".")
            sentence = []
    if sentence:
        out.append(" ".join(sentence).capitalize() + ".")
    return " ".join(out)


def generate(ctx: storyloom.Context, step_name: str, prompt: str, *, words: int = 60) -> str:
    """THE text-generation seam: a durable step named ``step_name`` whose text streams as
    chunks of stream ``step_name``. Today: offline text, not a language model. Later: the
    core's `llm` built-in step with the same name, prompt and stream."""

    def produce() -> str:
        text = offline_text(prompt, words)
        for i, word in enumerate(text.split(" ")):
            ctx.chunk(step_name, word if i == 0 else " " + word)
            if word_delay:
                time.sleep(word_delay)
        return text

    return ctx.step(step_name, produce)


# ---- the workflow ----------------------------------------------------------------------


def story(ctx: storyloom.Context, input: dict[str, Any]) -> dict[str, Any]:
    """outline -> optional approve signal (may carry {"outline": [plan, ...]} edits) ->
    per page: write -> (critique -> revise) x quality -> illustration brief -> artifact
    page/N -> artifact story. Progress: {pages_total, pages_completed, pages_failed,
    pages_in_progress, stage}."""
    topic, style, pages, quality = (
        input["topic"],
        input["author_style"],
        input["pages"],
        input["quality"],
    )
    progress = {
        "pages_total": pages,
        "pages_completed": 0,
        "pages_failed": 0,
        "pages_in_progress": 0,
        "stage": "outline",
    }
    ctx.progress(progress)
    outline_text = generate(
        ctx,
        "outline",
        f"Outline a {pages}-page story about {topic} in the style of {style}; "
        "one sentence per page.",
        words=pages * 10,
    )
    plans = _split_plans(outline_text, pages)
    if input.get("approve_outline"):
        ctx.artifact("outline", {"plans": plans, "approved": False})
        progress["stage"] = "awaiting approval"
        ctx.progress(progress)
        decision = ctx.wait_for_signal("approve") or {}
        edited = decision.get("outline") if isinstance(decision, dict) else None
        if (
            isinstance(edited, list)
            and len(edited) == pages
            and all(isinstance(p, str) and p.strip() for p in edited)
        ):
            plans = [p.strip() for p in edited]
    ctx.artifact("outline", {"plans": plans, "approved": True})

    texts = []
    for n, plan in enumerate(plans, 1):
        progress.update(pages_in_progress=1, stage=f"page {n}: writing")
        ctx.progress(progress)
        try:
            page = _page(ctx, n, plan, style, quality, progress)
        except Exception:
            progress.update(
                pages_in_progress=0,
                pages_failed=progress["pages_failed"] + 1,
                stage=f"page {n}: failed",
            )
            ctx.progress(progress)
            raise
        texts.append(page["content"])
        progress.update(pages_in_progress=0, pages_completed=n, stage=f"page {n}: done")
        ctx.progress(progress)
    result = {"title": topic.capitalize(), "author_style": style, "plans": plans, "pages": texts}
    ctx.artifact("story", result)
    progress["stage"] = "done"
    ctx.progress(progress)
    return {"pages": len(texts), "artifact": "story"}


def _page(ctx, n, plan, style, quality, progress) -> dict[str, Any]:
    base = f"{STREAMS_PREFIX}{n}"
    content = generate(ctx, f"{base}/write", f"Write page {n} in the style of {style}: {plan}")
    critique = ""
    for r in range(1, quality + 1):
        progress["stage"] = f"page {n}: critique {r}/{quality}"
        ctx.progress(progress)
        critique = generate(ctx, f"{base}/critique/{r}", f"Critique: {content}", words=25)
        progress["stage"] = f"page {n}: revision {r}/{quality}"
        ctx.progress(progress)
        content = generate(ctx, f"{base}/revise/{r}", f"Revise per {critique}: {content}")
    progress["stage"] = f"page {n}: illustration"
    ctx.progress(progress)
    illustration = generate(ctx, f"{base}/illustration", f"Illustrate: {content}", words=20)
    page = {
        "content": content,
        "plan": plan,
        "critique": critique,
        "iteration": quality,
        "illustration": illustration,
    }
    ctx.artifact(base, page)
    return page


def _split_plans(text: str, pages: int) -> list[str]:
    sentences = [s.strip() + "." for s in text.split(".") if s.strip()]
    while len(sentences) < pages:
        sentences.append(f"The story goes on ({len(sentences) + 1}).")
    if len(sentences) > pages:  # fold the tail into the last page
        sentences[pages - 1] = " ".join(sentences[pages - 1 :])
    return sentences[:pages]


def register(engine: storyloom.Engine) -> None:
    """Registers the story workflow (retries: 3 attempts, short backoff)."""
    engine.register(
        WORKFLOW,
        story,
        retries=storyloom.RetryPolicy(max_attempts=3, initial_backoff=0.5, max_backoff=5),
    )


def to_markdown(story_value: dict[str, Any]) -> str:
    """The story artifact as Markdown."""
    lines = [f"# {story_value['title']}", "", f"*In the style of {story_value['author_style']}*"]
    for n, text in enumerate(story_value["pages"], 1):
        lines += ["", f"## Page {n}", "", text]
    return "\n".join(lines) + "\n"


# ---- the command line ------------------------------------------------------------------


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--topic", required=True)
    p.add_argument("--style", default="plain", dest="author_style")
    p.add_argument("--pages", type=int, default=3)
    p.add_argument("--quality", type=int, default=1, help="critique/revise rounds (0..3)")
    p.add_argument("--approve-outline", action="store_true")
    p.add_argument("--yes", action="store_true", help="approve the outline without asking")
    p.add_argument("--db", default="story.db", help="the store [story.db]")
    p.add_argument("--export", metavar="FILE.md", help="write the story as Markdown")
    p.add_argument("--word-delay", type=float, default=0.02, help="seconds per word [0.02]")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """The command line: 0 when the story completed, 1 when it failed, 2 for bad input,
    130 after Ctrl-C (run the same command again to resume)."""
    global word_delay
    args = _parse(argv)
    word_delay = args.word_delay
    from rich.console import Console, Group
    from rich.live import Live
    from rich.panel import Panel
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
    from rich.text import Text

    console = Console()
    request, errors = validate_input(
        {
            "topic": args.topic,
            "author_style": args.author_style,
            "pages": args.pages,
            "quality": args.quality,
            "approve_outline": args.approve_outline,
        }
    )
    if errors:
        for field, message in errors.items():
            console.print(f"[red]error:[/] {field}: {message}")
        return 2
    try:
        with storyloom.Engine(args.db, drain_timeout=2) as engine:
            register(engine)
            asked_at_ms = int(time.time() * 1000)
            run = engine.start(WORKFLOW, request, idempotency_key=idempotency_key(request))
            snap = engine.snapshot(run.id)
            console.print("[dim]text: offline text, not a language model[/]")
            if run.created_at_ms < asked_at_ms:  # the key was seen: the same run goes on
                done = sum(1 for a in snap.artifacts if a.key.startswith(STREAMS_PREFIX))
                console.print(f"resuming run {run.id} ({done} page(s) already written)")
            else:
                console.print(f"run {run.id}")
            if snap.run.status == "failed":
                console.print(f"[yellow]retrying the failed run:[/] {snap.run.error}")
                engine.retry(run.id)

            def approve() -> None:
                outline = next(
                    (a.value for a in engine.artifacts(run.id) if a.key == "outline"),
                    {"plans": []},
                )
                plans = list(outline["plans"])
                for n, plan in enumerate(plans, 1):
                    console.print(f"  {n}. {plan}")
                edited = False
                while not args.yes:
                    line = console.input("edit a page as 'N: plan', or press enter to approve: ")
                    number, _, plan = line.partition(":")
                    if not line.strip():
                        break
                    if number.strip().isdigit() and 1 <= int(number) <= len(plans) and plan.strip():
                        plans[int(number) - 1] = plan.strip()
                        edited = True
                    else:
                        console.print(f"[red]expected 'N: plan' with N from 1 to {len(plans)}[/]")
                engine.signal(
                    run.id, "approve", {"by": "cli", **({"outline": plans} if edited else {})}
                )

            if snap.run.status == "waiting":
                approve()
            bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                console=console,
            )
            before = snap.run.progress if isinstance(snap.run.progress, dict) else {}
            task = bar.add_task(
                before.get("stage", "pages"),
                total=request["pages"],
                completed=before.get("pages_completed", 0),
            )
            stream = {"name": "", "text": ""}

            def view():
                title = stream["name"] or "waiting"
                return Group(Panel(Text(stream["text"][-600:]), title=title), bar)

            with Live(view(), console=console, refresh_per_second=12, transient=True) as live:
                for e in engine.events(run.id, after=snap.last_event_id):
                    if e.type == "chunk" and e.kind != "cursor":  # cursor: text already seen
                        name = e.data.get("stream", "")
                        if name != stream["name"]:
                            stream.update(name=name, text="")
                        stream["text"] += e.data.get("text", "")
                    elif e.type == "progress":
                        p = e.data if isinstance(e.data, dict) else {}
                        bar.update(
                            task,
                            completed=p.get("pages_completed", 0),
                            description=p.get("stage", "pages"),
                        )
                    elif e.type == "artifact" and str(e.data.get("key", "")).startswith(
                        STREAMS_PREFIX
                    ):
                        key = e.data["key"]
                        page = e.data.get("value") or {}
                        live.console.print(Panel(page.get("content", ""), title=key))
                    elif e.type == "run.waiting" and "signal:approve" in e.data.get("for", []):
                        live.stop()
                        approve()
                        live.start()
                    live.update(view())
            final = engine.get(run.id)
            console.print(f"run {run.id} {final.status}")
            if final.status != "completed":
                console.print(f"[red]{final.error}[/]")
                return 1
            story_value = next(a.value for a in engine.artifacts(run.id) if a.key == "story")
            if args.export:
                with open(args.export, "w", encoding="utf-8") as f:
                    f.write(to_markdown(story_value))
                console.print(f"exported {args.export}")
            return 0
    except KeyboardInterrupt:
        console.print("interrupted: run the same command again to resume")
        return 130


if __name__ == "__main__":
    sys.exit(main())
