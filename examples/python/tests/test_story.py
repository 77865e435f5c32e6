"""story.py end to end in a child process: the whole story, Ctrl-C (SIGINT) and a re-run
that resumes the same run without writing finished pages again, --export, bad input."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
import zipfile
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(EXAMPLE))

import story
import storyloom

# --provider offline: the core's offline provider whatever keys the environment holds.
ARGS = [
    "--topic",
    "a lighthouse cat",
    "--style",
    "Roald Dahl",
    "--pages",
    "3",
    "--quality",
    "1",
    "--provider",
    "offline",
]


def _story(tmp_path, *extra, delay="0.0", stdin=None):
    return subprocess.Popen(
        [
            sys.executable,
            str(EXAMPLE / "story.py"),
            *ARGS,
            "--db",
            str(tmp_path / "s.db"),
            "--word-delay",
            delay,
            *extra,
        ],
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "120"},
    )


def _completed_steps(db):
    with sqlite3.connect(db) as c:
        return {name for (name,) in c.execute("SELECT name FROM steps WHERE status='completed'")}


def test_story_runs_end_to_end_and_exports_markdown_epub_and_pdf(tmp_path):
    out_md = tmp_path / "story.md"
    epub, pdf = tmp_path / "story.epub", tmp_path / "story.pdf"
    proc = _story(tmp_path, "--export", str(out_md), "--export", str(epub), "--export", str(pdf))
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, (out, err)
    assert "completed" in out
    assert "text: offline placeholder text, not a language model" in out
    text = out_md.read_text()
    title, _, label = text.splitlines()[:3]
    # The outline's title, from its JSON answer (the offline provider fills the schema).
    assert title.startswith("# ") and title != "# A Story About a lighthouse cat", title
    assert label == "> Offline placeholder text, not a language model."
    assert text.count("## Page ") == 3
    # The book, with a picture per page: an EPUB zip and a PDF.
    with zipfile.ZipFile(epub) as z:
        assert z.namelist()[0] == "mimetype" and z.read("mimetype") == b"application/epub+zip"
        assert len([n for n in z.namelist() if n.endswith(".png")]) == 3, z.namelist()
    assert pdf.read_bytes().startswith(b"%PDF-")
    assert f"exported {pdf}" in out


def test_an_export_to_an_unknown_format_is_refused_before_writing(tmp_path):
    proc = _story(tmp_path, "--export", str(tmp_path / "story.docx"))
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, (out, err)
    said = " ".join(out.split())  # as one line, however the terminal view wrapped it
    assert "export: " in said and "story.docx: the file must end in .md, .epub or .pdf" in said
    assert not (tmp_path / "s.db").exists()  # no story was started


def test_ctrl_c_then_rerun_resumes_without_rewriting_pages(tmp_path):
    db = tmp_path / "s.db"
    proc = _story(tmp_path, delay="0.01")
    try:
        deadline = time.monotonic() + 60
        while not (db.exists() and "page/2/write" in _safe_steps(db)):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "page 2 never got written"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, (out, err)
    assert "interrupted" in out
    before = _completed_steps(db)
    assert "page/1/illustration" in before and "page/3/illustration" not in before

    # Count how often each step's text was produced, across both processes: resumed
    # steps are not produced again (their completed rows are never rewritten).
    proc = _story(tmp_path, "--export", str(tmp_path / "s.md"))
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, (out, err)
    assert "resuming run" in out
    with storyloom.Engine(f"sqlite:{db}") as engine:
        runs = engine.list(workflow="story").runs
        assert len(runs) == 1 and runs[0].status == "completed"
        events = engine.stored_events(runs[0].id, limit=10000)
    completed = [e.data["name"] for e in events if e.type == "step.completed"]
    assert len(completed) == len(set(completed)), "a finished step ran twice"
    assert before <= set(completed)
    assert sum(1 for e in events if e.type == "run.started") >= 2  # two executions


def _safe_steps(db):
    try:
        return _completed_steps(db)
    except sqlite3.Error:
        return set()


def test_bad_input_names_the_field(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            str(EXAMPLE / "story.py"),
            "--topic",
            "x",
            "--pages",
            "0",
            "--db",
            str(tmp_path / "s.db"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "pages: must be from 1 to 30, got 0" in proc.stdout


def _engine(db):
    llm = {**story.llm_config(0.0), "default_provider": "offline"}  # no real LLM in tests
    return storyloom.Engine(f"sqlite:{db}", poll_interval=0.01, llm=llm)


def test_workflow_in_process_with_outline_edits(tmp_path):
    with _engine(tmp_path / "p.db") as engine:
        story.register(engine)
        req, errors = story.validate_input(
            {"topic": "owls", "pages": 2, "quality": 2, "approve_outline": True}
        )
        assert errors == {}
        engine.launch()
        run = engine.start(story.WORKFLOW, req, idempotency_key=story.idempotency_key(req))
        deadline = time.monotonic() + 10
        while engine.get(run.id).status != "waiting":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        # The offline provider filled in the outline's schema: a plan per page, no defaults.
        proposed = next(a.value for a in engine.artifacts(run.id) if a.key == "outline")
        assert proposed["approved"] is False and proposed["title"] != "A Story About owls"
        assert len(proposed["plans"]) == 2
        assert not any(p.startswith("Page ") for p in proposed["plans"]), proposed
        engine.signal(run.id, "approve", {"outline": ["One.", "Two."]})
        done = engine.wait(run.id, timeout=30)
        assert done.status == "completed", done
        arts = {a.key: a.value for a in engine.snapshot(run.id).artifacts}
        assert arts["page/2"]["plan"] == "Two." and arts["page/2"]["iteration"] == 2
        assert arts["outline"]["plans"] == ["One.", "Two."] and arts["outline"]["approved"]
        assert arts["story"]["written_by"] == {
            "provider": "offline",
            "model": "offline-placeholder",
            "language_model": False,
        }
        # Every page got its picture through the image step (the offline placeholder).
        assert arts["story"]["pictures"] == ["page/1/picture", "page/2/picture"]
        picture = engine.artifact_bytes(run.id, "page/2/picture")
        assert picture[:8] == b"\x89PNG\r\n\x1a\n"
        progress = engine.get(run.id).progress
        assert progress["illustrations_done"] == 2 and progress["illustrations_failed"] == 0
        names = [s.name for s in engine.snapshot(run.id).steps]
        assert names[-2:] == ["page/1/picture", "page/2/picture"]
        assert names[:2] == ["outline", "approve"]
        assert "page/1/critique/2" in names and "page/2/revise/2" in names
        chunks = [e for e in engine.stored_events(run.id, limit=10000) if e.type == "chunk"]
        streamed = "".join(e.data["text"] for e in chunks if e.data["stream"] == "page/1/write")
        write = next(s for s in engine.snapshot(run.id).steps if s.name == "page/1/write")
        assert streamed == write.result["text"]


def test_rerun_while_the_outline_awaits_approval_asks_again_and_finishes(tmp_path):
    db = tmp_path / "s.db"
    req, errors = story.validate_input(
        {
            "topic": "a lighthouse cat",
            "author_style": "Roald Dahl",
            "pages": 3,
            "quality": 1,
            "approve_outline": True,
            "provider": "offline",  # as the CLI's ARGS ask: the same request, the same run
        }
    )
    assert errors == {}
    with _engine(db) as engine:
        story.register(engine)
        engine.launch()
        run = engine.start(story.WORKFLOW, req, idempotency_key=story.idempotency_key(req))
        deadline = time.monotonic() + 10
        while engine.get(run.id).status != "waiting":  # the CLI was stopped at its prompt
            assert time.monotonic() < deadline
            time.sleep(0.01)
    proc = _story(tmp_path, "--approve-outline", stdin=subprocess.PIPE)
    out, err = proc.communicate("3: The cat rings the bell.\n\n", timeout=120)
    assert proc.returncode == 0, (out, err)
    assert f"resuming run {run.id}" in out
    with storyloom.Engine(f"sqlite:{db}") as engine:
        pages = {a.key: a.value for a in engine.artifacts(run.id) if a.key.startswith("page/")}
    assert pages["page/3"]["plan"] == "The cat rings the bell."


def test_the_outline_parser_reads_the_answer_form_and_fills_gaps():
    from story_outline import parse_outline

    text = (
        "**TITLE:** The Owl\nstyle: ink and wash\nCharacters: a grey owl in a red scarf\n"
        "## PAGE 2: Night falls.\nPAGE 9: too far"
    )
    outline = parse_outline(text, {"pages": 2, "topic": "owls"})
    assert outline == {
        "title": "The Owl",
        "visual_style": "ink and wash",
        "characters": "a grey owl in a red scarf",
        "plans": ["Page 1 of the story of owls.", "Night falls."],
    }
    # No characters in the answer: derived from the topic, never blank.
    assert parse_outline("TITLE: T", {"pages": 1, "topic": "owls"})["characters"] == (
        "the characters of a story about owls, each drawn the same way on every page"
    )


def test_the_outline_and_critique_are_asked_for_as_json_and_read_from_it():
    import story_prompts
    from story_outline import critique_from_answer, outline_from_answer

    input = {"topic": "owls", "pages": 3, "author_style": "plain"}
    prompt = story_prompts.outline(input)
    assert "Answer with JSON" in prompt.user
    pages = prompt.json_schema["properties"]["pages"]
    assert pages["minItems"] == pages["maxItems"] == 3
    assert "characters" in prompt.json_schema["required"]
    assert "the characters and how each looks" in prompt.user
    assert prompt.max_tokens == 200 + 80 * 3
    assert story_prompts.critique(input, "T", "plan", 1, "draft").json_schema["required"] == [
        "critique",
        "change",
    ]

    answer = {
        "title": "The Owl",
        "visual_style": "ink",
        "characters": "Hoo, a small brown owl",
        "pages": ["One.", "", "Three."],
    }
    assert outline_from_answer("ignored", answer, input) == {
        "title": "The Owl",
        "visual_style": "ink",
        "characters": "Hoo, a small brown owl",
        "plans": ["One.", "Page 2 of the story of owls.", "Three."],
    }
    # No JSON (a truncated answer): the text form is read instead.
    assert outline_from_answer("TITLE: Plain", None, input)["title"] == "Plain"
    said = {"critique": "Vivid.", "change": "Cut the ending."}
    assert critique_from_answer("", said) == "Vivid. Most useful change: Cut the ending."
    assert critique_from_answer("free text", None) == "free text"


@contextlib.contextmanager
def _fake_llm_server():
    """The project's fake LLM server program (tests/support/FAKE_LLM_SERVER.md); its port."""
    program = os.environ.get("STORYLOOM_FAKE_LLM_SERVER") or str(
        EXAMPLE.parents[1] / "build" / "tests" / "support" / "fake_llm_server"
    )
    assert os.access(program, os.X_OK), f"the fake LLM server program {program} is missing"
    proc = subprocess.Popen([program], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        yield int(proc.stdout.readline().split()[1])
    finally:
        proc.stdin.close()
        proc.wait(timeout=5)


def test_the_story_parses_outline_and_critique_from_a_servers_json_answers(tmp_path):
    """Against the fake LLM server (OpenAI-compatible): the answers are JSON filling the
    schemas, read into the outline and the critique."""
    with _fake_llm_server() as port, storyloom.Engine(
        f"sqlite:{tmp_path / 'f.db'}",
        poll_interval=0.01,
        llm={
            "providers": [
                {
                    "name": "fake",
                    "kind": "openai",
                    "base_url": f"http://127.0.0.1:{port}/s/normal/v1",
                    "api_key": "test-key-not-a-secret",
                    "model": "fake-model",
                }
            ]
        },
    ) as engine:
        story.register(engine)
        req, errors = story.validate_input(
            {"topic": "owls", "pages": 2, "quality": 1, "provider": "fake"}
        )
        assert errors == {}
        engine.launch()
        run = engine.start(story.WORKFLOW, req)
        done = engine.wait(run.id, timeout=30)
        assert done.status == "completed", done
        arts = {a.key: a.value for a in engine.snapshot(run.id).artifacts}
        assert arts["outline"]["title"].startswith("title of «Plan an illustrated"), arts
        assert arts["outline"]["plans"][1].startswith("pages of «"), arts
        assert arts["outline"]["characters"].startswith("characters of «"), arts
        critique = arts["page/1"]["critique"]
        assert critique.startswith("critique of «Critique page 1"), critique
        assert " Most useful change: change of «" in critique


def test_the_story_says_who_wrote_it():
    assert story.written_by_label({"provider": "offline", "language_model": False}) == (
        "offline placeholder text, not a language model"
    )
    assert story.written_by_label(
        {"provider": "openai", "model": "gpt-4o-mini", "language_model": True}
    ) == ("written by openai (gpt-4o-mini)")


def test_provider_and_model_are_optional_names_in_the_request():
    clean, errors = story.validate_input({"topic": "owls", "provider": "openai", "model": "m"})
    assert errors == {} and (clean["provider"], clean["model"]) == ("openai", "m")
    assert "provider" not in story.validate_input({"topic": "owls"})[0]
    _, errors = story.validate_input({"topic": "owls", "provider": ""})
    assert errors == {"provider": "must be a name of 1 to 100 characters"}


def _chunk(offset, text, attempt_start=None):
    data = {"stream": "page/1/write", "offset": offset, "text": text}
    if attempt_start is not None:
        data["attempt_start"] = attempt_start
    return data


def test_the_live_view_shows_a_retried_attempt_instead_of_appending_it():
    view = story.StreamText()
    view.add(_chunk(0, "In the", 0))
    view.add(_chunk(6, " betwee", 0))
    assert view.text == "In the betwee"
    # The attempt is retried (or run again after a crash): it starts at the stream's end.
    view.add(_chunk(13, "Just past", 13))
    view.add(_chunk(22, " the old bridge", 13))
    assert view.text == "Just past the old bridge"
    # The same bytes again (live, then from the store, coalesced): shown once.
    view.add(_chunk(13, "Just past the old", 13))
    view.add(_chunk(27, "old bridge, a cat", 13))
    assert view.text == "Just past the old bridge, a cat"
    # A late chunk of the abandoned attempt changes nothing.
    view.add(_chunk(6, " betwee", 0))
    assert view.text == "Just past the old bridge, a cat"


def test_the_live_view_starts_at_the_snapshots_attempt_and_counts_bytes_not_characters():
    view = story.StreamText(attempt_start=10)
    view.add(_chunk(4, "old attempt", 0))  # before the snapshot's attempt: not shown
    view.add(_chunk(10, "café ", 10))  # é is two bytes
    view.add(_chunk(16, "noir", 10))
    view.add(_chunk(10, "café noir", 10))
    assert view.text == "café noir"


def test_a_picture_that_keeps_failing_leaves_no_picture_and_a_rewind_redoes_it_alone(
    tmp_path,
):
    # The picture comes from the fake images server, which refuses the first request
    # with a 400 (fatal: not retried).
    with _fake_llm_server() as port, storyloom.Engine(
        f"sqlite:{tmp_path / 'pic.db'}",
        poll_interval=0.01,
        images={
            "use_environment": False,
            "default_provider": "fake",
            "providers": [
                {
                    "name": "fake",
                    "base_url": f"http://127.0.0.1:{port}/s/server_error_then_ok;status=400/v1",
                    "api_key": "test-key-not-a-secret",
                    "model": "fake-image-model",
                    "size": "64x64",
                }
            ],
        },
    ) as engine:
        story.register(engine)
        req, errors = story.validate_input({"topic": "owls", "pages": 1, "quality": 0})
        assert errors == {}
        engine.launch()
        run = engine.start(story.WORKFLOW, req)
        done = engine.wait(run.id, timeout=30)
        assert done.status == "completed", done  # a lost picture does not fail the story
        value = next(a.value for a in engine.artifacts(run.id) if a.key == "story")
        assert value["pictures"] == [None]
        assert "*(no picture)*" in story.to_markdown(value)
        assert done.progress["illustrations_failed"] == 1
        events = engine.stored_events(run.id, limit=10000)
        lost = [e for e in events if e.type == "page.no_picture"]
        assert "HTTP 400" in lost[0].data["message"], lost
        # Redo the picture alone: the server now answers with one.
        engine.rewind(run.id, "page/1/picture")
        done = engine.wait(run.id, timeout=30)
        assert done.status == "completed", done
        stories = [a for a in engine.artifacts(run.id) if a.key == "story"]
        value = max(stories, key=lambda a: a.version).value
        assert value["pictures"] == ["page/1/picture"]
        assert engine.artifact_bytes(run.id, "page/1/picture")[:8] == b"\x89PNG\r\n\x1a\n"
        writes = [
            e
            for e in engine.stored_events(run.id, limit=10000)
            if e.type == "step.completed" and e.data["name"] == "page/1/write"
        ]
        assert len(writes) == 1  # the page's text was not written again


def test_every_picture_prompt_carries_the_outlines_characters(tmp_path):
    """The offline image provider draws its placeholder from the prompt alone, so page
    N's picture is the very picture of the prompt "Style: S. A picture for the story "T".
    Characters: C. <brief>": drawn again here from that prompt, it is the same bytes."""
    outline = {"title": "T", "visual_style": "ink", "characters": "Hoo, a brown owl"}
    assert story.picture_prompt(outline, "Hoo flies.") == (
        'Style: ink. A picture for the story "T". Characters: Hoo, a brown owl. Hoo flies.'
    )
    # An outline stored before characters were asked for: no Characters part.
    assert story.picture_prompt({"title": "T", "visual_style": "ink"}, "B.") == (
        'Style: ink. A picture for the story "T". B.'
    )
    with _engine(tmp_path / "c.db") as engine:
        story.register(engine)
        engine.register("draw", lambda ctx, input: ctx.image("again", input["prompt"]).sha256)
        req, errors = story.validate_input({"topic": "owls", "pages": 2, "quality": 0})
        assert errors == {}
        engine.launch()
        run = engine.start(story.WORKFLOW, req)
        assert engine.wait(run.id, timeout=30).status == "completed"
        arts = {a.key: a for a in engine.artifacts(run.id)}
        outline = arts["outline"].value
        # The offline provider filled in the schema's characters (words of the prompt).
        assert outline["characters"].strip(), outline
        assert not outline["characters"].startswith("the characters of a story"), outline
        for n in (1, 2):
            brief = arts[f"page/{n}"].value["illustration"]
            prompt = (
                f'Style: {outline["visual_style"]}. A picture for the story '
                f'"{outline["title"]}". Characters: {outline["characters"]}. {brief}'
            )
            drawn = engine.start("draw", {"prompt": prompt})
            again = engine.wait(drawn.id, timeout=30)
            assert again.status == "completed", again
            assert again.output == arts[f"page/{n}/picture"].value["sha256"], n
