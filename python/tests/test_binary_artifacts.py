"""Binary artifacts (pictures) from Python: bytes in through ctx.binary_artifact, the
same bytes out through engine.artifact_bytes, limits and errors named."""

import asyncio
import hashlib

import pytest

import storyloom

PICTURE = b"\x89PNG\x00\x00\xff\x01\n"


def test_a_picture_is_stored_with_type_size_digest_and_read_back(engine):
    @engine.workflow("painter")
    def painter(ctx, input):
        ctx.binary_artifact("cover", "image/png", b"first")
        ctx.binary_artifact("cover", "image/png", PICTURE)
        ctx.artifact("outline", {"title": "Fox"})
        return {}

    engine.launch()
    run = engine.wait(engine.start("painter", {}).id, timeout=10)
    assert run.status == "completed", run
    assert engine.artifact_bytes(run.id, "cover") == PICTURE
    assert engine.artifact_bytes(run.id, "cover", 1) == b"first"
    latest = {a.key: a for a in engine.snapshot(run.id).artifacts}
    assert latest["cover"].content_type == "image/png"
    assert latest["cover"].version == 2
    assert latest["cover"].value == {
        "content_type": "image/png",
        "size": len(PICTURE),
        "sha256": hashlib.sha256(PICTURE).hexdigest(),
    }
    assert latest["outline"].content_type is None


def test_artifact_bytes_without_blocking_the_loop(engine):
    @engine.workflow("painter")
    def painter(ctx, input):
        ctx.binary_artifact("cover", "image/png", PICTURE)
        return {}

    engine.launch()
    run = engine.wait(engine.start("painter", {}).id, timeout=10)
    assert asyncio.run(engine.aartifact_bytes(run.id, "cover")) == PICTURE


def test_binary_artifact_errors_name_the_problem(db):
    errors = []
    with storyloom.Engine(db, poll_interval=0.01, max_artifact_bytes=1024) as engine:

        @engine.workflow("bad")
        def bad(ctx, input):
            for call in (
                lambda: ctx.binary_artifact("big", "image/png", bytes(1025)),
                lambda: ctx.binary_artifact("k", "png", PICTURE),
            ):
                try:
                    call()
                except storyloom.StoryloomError as e:
                    errors.append(e)
            ctx.artifact("outline", {})
            return {}

        engine.launch()
        run = engine.wait(engine.start("bad", {}).id, timeout=10)
        assert run.status == "completed", run
        assert isinstance(errors[0], storyloom.PayloadTooLarge)
        assert str(errors[0]) == (
            "binary artifact 'big' is 1025 bytes; the limit is 1024 (max_artifact_bytes)"
        )
        assert isinstance(errors[1], storyloom.InvalidArgument)
        assert "content type 'png' is not a media type" in str(errors[1])
        with pytest.raises(storyloom.InvalidArgument, match="holds JSON, not bytes"):
            engine.artifact_bytes(run.id, "outline")
        with pytest.raises(storyloom.NotFound, match=f"no artifact 'nope' of run '{run.id}'"):
            engine.artifact_bytes(run.id, "nope")


def test_max_artifact_bytes_below_1024_is_refused(db):
    with pytest.raises(storyloom.InvalidArgument, match="at least 1024, got 10"):
        storyloom.Engine(db, max_artifact_bytes=10)


def test_export_book_writes_epub_pdf_and_markdown_with_the_pictures(engine, tmp_path):
    @engine.workflow("book")
    def book(ctx, input):
        ctx.binary_artifact("page/1/picture", "image/png", PICTURE)
        ctx.artifact(
            "story", {"title": "Owls", "pages": [{"page": 1, "content": "Hoo hoo."}]}
        )
        return {}

    engine.launch()
    run = engine.wait(engine.start("book", {}).id, timeout=10)
    engine.export_book(run.id, "epub", tmp_path / "owls.epub")
    assert (tmp_path / "owls.epub").read_bytes()[:2] == b"PK"
    engine.export_book(run.id, "pdf", tmp_path / "owls.pdf")
    assert (tmp_path / "owls.pdf").read_bytes()[:5] == b"%PDF-"
    engine.export_book(run.id, "md", tmp_path / "owls.md")
    assert "![Picture of page 1](owls_pictures/page-1.png)" in (tmp_path / "owls.md").read_text()
    assert (tmp_path / "owls_pictures" / "page-1.png").read_bytes() == PICTURE
    with pytest.raises(storyloom.InvalidArgument, match="unknown book format 'docx'"):
        engine.export_book(run.id, "docx", tmp_path / "owls.docx")
