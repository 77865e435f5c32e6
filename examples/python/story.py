#!/usr/bin/env python3
"""The story pipeline on storyloom, in Python: outline -> (approval) -> pages written,
critiqued and revised -> illustration briefs -> the story. Durable: Ctrl-C, then the same
command again, resumes the same run without writing finished pages again.

    python story.py --topic "a lighthouse cat" --style "Roald Dahl" --pages 3 --quality 1
    python story.py ... --approve-outline        # asks before writing pages
    python story.py ... --export story.md        # the story as Markdown when done
    python story.py ... --export story.epub --export story.pdf   # the book, with pictures
    python story.py ... --provider openai --model gpt-4o-mini

Every text is the engine's built-in llm step (ctx.llm, one function: write_text()), with
the prompts of the C++ example (story_prompts.py). The provider is the engine's: OpenAI,
OpenRouter or Anthropic when OPENAI_API_KEY, OPENROUTER_API_KEY or ANTHROPIC_API_KEY is
set, else the core's offline provider, which writes PLACEHOLDER TEXT, NOT A LANGUAGE MODEL
(deterministic, streamed word by word), so the example runs with no key and no network.
The story says which one wrote it.

server.py imports this module: one workflow definition for the CLI and the web API.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import story_prompts
import storyloom
from story_email import email_story_ready
from story_outline import critique_from_answer, outline_from_answer

WORKFLOW = "story"
STREAMS_PREFIX = "page/"


def page_number(key: str) -> int | None:
    """N for the key of page N's text artifact ("page/N"); None for any other key,
    page/N/picture included."""
    head, _, n = key.partition("/")
    return int(n) if head == "page" and n.isdigit() else None
OFFLINE_LABEL = "offline placeholder text, not a language model"

# ---- input ----------------------------------------------------------------------------

LIMITS = {"pages": (1, 30), "quality": (0, 3)}
NAMES = ("provider", "model")  # optional: the engine's default provider and its model


def validate_input(raw: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """(clean input, {field: error}) for a story request; errors is empty when valid.
    Fields: topic (required text), author_style (text, default "plain"), pages (1..30,
    default 3), quality (critique/revise rounds, 0..3, default 1), approve_outline (bool),
    provider and model (optional names: the engine's default provider, its model)."""
    errors: dict[str, str] = {}
    if not isinstance(raw, dict):
        return {}, {"body": "must be a JSON object"}
    known = {"topic", "author_style", "pages", "quality", "approve_outline", *NAMES}
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
    for field in NAMES:
        value = raw.get(field)
        if value is None:
            continue
        if not isinstance(value, str) or not value.strip() or len(value) > 100:
            errors[field] = "must be a name of 1 to 100 characters"
        else:
            clean[field] = value.strip()
    if errors:
        return {}, errors
    clean.update(topic=topic.strip(), author_style=style.strip(), approve_outline=approve)
    return clean, {}


def idempotency_key(input: dict[str, Any]) -> str:
    """The same request is the same run: a key derived from the canonical input."""
    canonical = json.dumps(input, sort_keys=True, separators=(",", ":"))
    return "story:" + hashlib.sha256(canonical.encode()).hexdigest()[:32]


# ---- text: the engine's llm step ---------------------------------------------------------


def llm_config(word_delay: float = 0.0) -> storyloom.LlmConfig:
    """The engine's LLM providers for the story: those of the environment, and the
    offline provider streaming its placeholder words ``word_delay`` seconds apart (a
    visible stream in the demo; 0 in tests)."""
    offline: storyloom.LlmProviderConfig = {
        "name": "offline",
        "kind": "offline",
        "model": "offline-placeholder",
        "offline_word_delay_ms": max(0, round(word_delay * 1000)),
    }
    return {"providers": [offline]}


def write_text(
    ctx: storyloom.Context, step: str, prompt: story_prompts.Prompt, input: dict[str, Any]
) -> storyloom.LlmResult:
    """THE text seam: the built-in llm step ``step`` (memoized: a finished step is never
    asked again), its text streamed live as chunks of the stream ``step``, on the
    request's provider and model (None: the engine's default provider, its model)."""
    return ctx.llm(
        step,
        prompt.messages(),
        provider=input.get("provider"),
        model=input.get("model"),
        max_tokens=prompt.max_tokens,
        json_schema=prompt.json_schema,
    )


def written_by(engine: storyloom.Engine, answer: storyloom.LlmResult) -> dict[str, Any]:
    """{provider, model, language_model}: who wrote the text; the offline provider is not
    a language model."""
    try:
        kind = engine.llm_providers()[answer.provider].kind
    except KeyError:  # configured by the process that wrote it, not by this one
        kind = "offline" if answer.provider == "offline" else "unknown"
    return {"provider": answer.provider, "model": answer.model, "language_model": kind != "offline"}


def written_by_label(by: dict[str, Any] | None) -> str:
    """ "offline placeholder text, not a language model" or "written by P (M)"."""
    if not isinstance(by, dict):
        return "written by an unknown source"
    if by.get("language_model") is False:
        return OFFLINE_LABEL
    return f"written by {by.get('provider')} ({by.get('model')})"


def provider_label(engine: storyloom.Engine, provider: str | None) -> str:
    """What the engine will write with: the label of ``provider`` (None: the default)."""
    providers = engine.llm_providers()
    name = provider or providers.default
    try:
        p = providers[name]
    except KeyError:
        return f"provider '{name}' (not configured)"
    return OFFLINE_LABEL if p.kind == "offline" else f"written by {p.name} ({p.model})"


# ---- the workflow ----------------------------------------------------------------------


def story(ctx: storyloom.Context, input: dict[str, Any]) -> dict[str, Any]:
    """outline -> optional approve signal (may carry {"outline": [plan, ...]} edits) ->
    per page: write -> (critique -> revise) x quality -> illustration brief -> artifact
    page/N; then per page a picture (the image step, binary artifact page/N/picture) ->
    artifact story. Progress: {pages_total, pages_completed, pages_failed,
    pages_in_progress, illustrations_total, illustrations_done, illustrations_failed,
    illustrations_in_progress, stage}."""
    pages = input["pages"]
    progress = {
        "pages_total": pages,
        "pages_completed": 0,
        "pages_failed": 0,
        "pages_in_progress": 0,
        "stage": "outline",
    }
    ctx.progress(progress)
    answer = write_text(ctx, "outline", story_prompts.outline(input), input)
    by = written_by(ctx.engine, answer)  # the outline's writer speaks for the book
    outline = outline_from_answer(answer.text, answer.json, input)
    plans = outline["plans"]
    if input.get("approve_outline"):
        ctx.artifact("outline", {**outline, "approved": False})
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
    outline = {**outline, "plans": plans}
    ctx.artifact("outline", {**outline, "approved": True})

    texts, briefs = [], []
    for n, plan in enumerate(plans, 1):
        progress.update(pages_in_progress=1, stage=f"page {n}: writing")
        ctx.progress(progress)
        try:
            page = _page(ctx, input, outline, n, plan, progress)
        except Exception as e:
            if not getattr(e, "will_retry", False):  # a retried attempt is not a failed page
                progress.update(
                    pages_in_progress=0,
                    pages_failed=progress["pages_failed"] + 1,
                    stage=f"page {n}: failed",
                )
                ctx.progress(progress)
            raise
        texts.append(page["content"])
        briefs.append(page["illustration"])
        progress.update(pages_in_progress=0, pages_completed=n, stage=f"page {n}: done")
        ctx.progress(progress)
    # The pictures follow every page's text, so redoing one (a rewind to its step) never
    # rewrites a page.
    pictures = _illustrate(ctx, outline, briefs, progress)
    result = {
        "title": outline["title"],
        "author_style": input["author_style"],
        "visual_style": outline["visual_style"],
        "plans": plans,
        "pages": texts,
        "pictures": pictures,
        "written_by": by,
    }
    ctx.artifact("story", result)
    email_story_ready(ctx, outline["title"])
    progress["stage"] = "done"
    ctx.progress(progress)
    return {"pages": len(texts), "artifact": "story"}


def _page(ctx, input, outline, n, plan, progress) -> dict[str, Any]:
    base, title, quality = f"{STREAMS_PREFIX}{n}", outline["title"], input["quality"]
    content = write_text(
        ctx, f"{base}/write", story_prompts.page(input, title, plan, n), input
    ).text
    critique = ""
    for r in range(1, quality + 1):
        progress["stage"] = f"page {n}: critique {r}/{quality}"
        ctx.progress(progress)
        prompt = story_prompts.critique(input, title, plan, n, content)
        said = write_text(ctx, f"{base}/critique/{r}", prompt, input)
        critique = critique_from_answer(said.text, said.json)
        progress["stage"] = f"page {n}: revision {r}/{quality}"
        ctx.progress(progress)
        prompt = story_prompts.revision(input, title, n, critique, content)
        content = write_text(ctx, f"{base}/revise/{r}", prompt, input).text
    progress["stage"] = f"page {n}: illustration"
    ctx.progress(progress)
    prompt = story_prompts.illustration(input, title, outline["visual_style"], n, content)
    illustration = write_text(ctx, f"{base}/illustration", prompt, input).text
    page = {
        "content": content,
        "plan": plan,
        "critique": critique,
        "iteration": quality,
        "illustration": illustration,
    }
    ctx.artifact(base, page)
    return page


def picture_prompt(outline: dict[str, Any], brief: str) -> str:
    """Page N's picture prompt: the outline's visual style, title and characters (who
    appears and how they look), the same on every page so the pictures stay alike, then
    the page's brief. An outline stored before characters were asked for has none."""
    prompt = f'Style: {outline["visual_style"]}. A picture for the story "{outline["title"]}". '
    if outline.get("characters"):
        prompt += f'Characters: {outline["characters"]}. '
    return prompt + brief


def _illustrate(ctx, outline, briefs, progress) -> list[str | None]:
    """Page N's picture through the engine's image step, kept as the binary artifact
    page/N/picture. One that keeps failing leaves its page with no picture (None, and a
    page.no_picture event) and the story goes on; rewinding to its step redoes it alone."""
    total = len(briefs)
    progress.update(
        illustrations_total=total,
        illustrations_done=0,
        illustrations_failed=0,
        illustrations_in_progress=0,
    )
    pictures: list[str | None] = []
    for n, brief in enumerate(briefs, 1):
        key = f"{STREAMS_PREFIX}{n}/picture"
        progress.update(illustrations_in_progress=1, stage=f"page {n}: picture")
        ctx.progress(progress)
        try:
            ctx.image(key, picture_prompt(outline, brief))
            pictures.append(key)
            progress["illustrations_done"] += 1
        except storyloom.StoryloomError as e:
            # A retried attempt, a cancelled run or a closing engine is not a lost picture.
            if getattr(e, "will_retry", False) or isinstance(
                e, (storyloom.Cancelled, storyloom.Closed)
            ):
                raise
            pictures.append(None)
            progress["illustrations_failed"] += 1
            ctx.emit("page.no_picture", {"page": n, "message": str(e)})
        progress["illustrations_in_progress"] = 0
    ctx.progress(progress)
    return pictures


class StreamText:
    """The text of one chunk stream as a live view shows it: only the current llm
    attempt's text, each byte once. Chunk events carry ``offset`` (the stream's byte offset
    of their text) and ``attempt_start`` (where the current attempt's text begins: a retry,
    or an attempt run again after a crash, starts at the stream's end). A chunk of a newer
    attempt drops the text of the earlier one; bytes already shown (a chunk delivered live
    and again from the store) are not appended twice."""

    def __init__(self, attempt_start: int = 0, end: int | None = None) -> None:
        self.start = attempt_start
        self.end = attempt_start if end is None else end
        self._bytes = bytearray()

    @property
    def text(self) -> str:
        return self._bytes.decode("utf-8", errors="replace")

    def add(self, data: dict[str, Any]) -> None:
        """Applies one chunk event's data ({stream, offset, text, attempt_start})."""
        chunk = str(data.get("text", "")).encode("utf-8")
        offset = data.get("offset")
        attempt = data.get("attempt_start")
        if isinstance(attempt, int) and attempt > self.start:
            self._bytes.clear()
            self.start = self.end = attempt
        if not isinstance(offset, int):  # a store without offsets: append as it comes
            self._bytes += chunk
            self.end += len(chunk)
            return
        if offset + len(chunk) <= self.end or offset < self.start:
            return  # already shown, or an earlier attempt's text
        self._bytes += chunk[max(0, self.end - offset) :]
        self.end = offset + len(chunk)


def register(
    engine: storyloom.Engine, *, per_hour: int | None = None, running: int | None = None
) -> None:
    """Registers the story workflow (retries: 3 attempts, short backoff; a provider's
    429 waits its Retry-After instead). per_hour / running: per user (the input's
    ``owner``, set by server.py), at most that many stories start per hour / run at once;
    the engine queues the others."""
    engine.register(
        WORKFLOW,
        story,
        retries=storyloom.RetryPolicy(max_attempts=3, initial_backoff=0.5, max_backoff=5),
        throttle=storyloom.Throttle(per_hour, 3600.0, "$.owner") if per_hour else None,
        concurrency=storyloom.Concurrency("$.owner", running) if running else None,
    )


def llm_calls(input: dict[str, Any]) -> int:
    """The llm calls a story needs: its outline, then per page a draft, a critique and a
    revision per quality round, and an illustration brief. server.py makes it the run's
    budget, so a story never costs more."""
    return 1 + input["pages"] * (2 + 2 * input["quality"])


def to_markdown(story_value: dict[str, Any]) -> str:
    """The story artifact as Markdown, saying who wrote it."""
    label = written_by_label(story_value.get("written_by"))
    lines = [
        f"# {story_value['title']}",
        "",
        f"> {label[0].upper()}{label[1:]}.",
        "",
        f"*In the style of {story_value['author_style']}*",
    ]
    pictures = story_value.get("pictures") or []
    for n, text in enumerate(story_value["pages"], 1):
        lines += ["", f"## Page {n}", ""]
        if n <= len(pictures) and pictures[n - 1] is None:
            lines += ["*(no picture)*", ""]
        lines.append(text)
    return "\n".join(lines) + "\n"


# ---- the command line ------------------------------------------------------------------

EXPORT_FORMATS = (".md", ".epub", ".pdf")


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--topic", required=True)
    p.add_argument("--style", default="plain", dest="author_style")
    p.add_argument("--pages", type=int, default=3)
    p.add_argument("--quality", type=int, default=1, help="critique/revise rounds (0..3)")
    p.add_argument("--approve-outline", action="store_true")
    p.add_argument("--yes", action="store_true", help="approve the outline without asking")
    p.add_argument("--db", default="story.db", help="the store [story.db]")
    p.add_argument(
        "--export",
        metavar="FILE",
        action="append",
        default=[],
        help="when done, write the story to FILE.md (Markdown), FILE.epub (EPUB 3) or "
        "FILE.pdf (a cover, then a page per story page with its picture); repeatable",
    )
    p.add_argument(
        "--provider",
        help="openai, openrouter, anthropic or offline (default: the first with a key in "
        "the environment, else offline; STORYLOOM_LLM_PROVIDER also sets it)",
    )
    p.add_argument("--model", help="the model (default: the provider's, e.g. $OPENAI_MODEL)")
    p.add_argument(
        "--word-delay", type=float, default=0.02, help="offline text: seconds per word [0.02]"
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """The command line: 0 when the story completed, 1 when it failed, 2 for bad input,
    130 after Ctrl-C (run the same command again to resume)."""
    args = _parse(argv)
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
            **{k: v for k, v in (("provider", args.provider), ("model", args.model)) if v},
        }
    )
    for path in args.export:
        if not path.endswith(EXPORT_FORMATS):
            errors["export"] = f"{path}: the file must end in .md, .epub or .pdf"
    if errors:
        for field, message in errors.items():
            console.print(f"[red]error:[/] {field}: {message}")
        return 2
    try:
        with storyloom.Engine(args.db, drain_timeout=2, llm=llm_config(args.word_delay)) as engine:
            register(engine)
            engine.launch()  # after every workflow is registered
            asked_at_ms = int(time.time() * 1000)
            run = engine.start(WORKFLOW, request, idempotency_key=idempotency_key(request))
            snap = engine.snapshot(run.id)
            label = provider_label(engine, request.get("provider"))
            console.print(f"[dim]text: {label}[/]")
            if run.created_at_ms < asked_at_ms:  # the key was seen: the same run goes on
                done = sum(1 for a in snap.artifacts if page_number(a.key) is not None)
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
            # The stream being written, shown from the snapshot's cursor on, current attempt
            # only: a retried page (or one written again after a crash) replaces the text
            # of the abandoned attempt instead of following it.
            stream: dict[str, Any] = {"name": "", "text": StreamText()}

            def view():
                title = stream["name"] or "waiting"
                text = Text(stream["text"].text[-600:])
                return Group(Panel(text, title=title, subtitle=label), bar)

            with Live(view(), console=console, refresh_per_second=12, transient=True) as live:
                for e in engine.events(run.id, after=snap.last_event_id):
                    if e.type == "chunk" and e.kind != "cursor":  # cursor: text already seen
                        name = e.data.get("stream", "")
                        if name != stream["name"]:
                            at = snap.streams.get(name, {}).get("attempt_start", 0)
                            stream.update(name=name, text=StreamText(at))
                        stream["text"].add(e.data)
                    elif e.type == "progress":
                        p = e.data if isinstance(e.data, dict) else {}
                        bar.update(
                            task,
                            completed=p.get("pages_completed", 0),
                            description=p.get("stage", "pages"),
                        )
                    elif (
                        e.type == "artifact"
                        and page_number(str(e.data.get("key", ""))) is not None
                    ):
                        key = e.data["key"]
                        page = e.data.get("value") or {}
                        content = page.get("content", "")
                        live.console.print(Panel(content, title=key, subtitle=label))
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
            console.print(f"[dim]text: {written_by_label(story_value.get('written_by'))}[/]")
            for path in args.export:
                if path.endswith(".md"):
                    with open(path, "w", encoding="utf-8") as f:
                        f.write(to_markdown(story_value))
                else:  # the engine's book export: EPUB 3 or PDF, with the pictures
                    engine.export_book(run.id, path.rsplit(".", 1)[1], path)
                console.print(f"exported {path}")
            return 0
    except KeyboardInterrupt:
        console.print("interrupted: run the same command again to resume")
        return 130


if __name__ == "__main__":
    sys.exit(main())
