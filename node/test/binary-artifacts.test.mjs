// Binary artifacts (pictures) from Node: a Buffer in through ctx.binaryArtifact,
// the same bytes out through engine.artifactBytes, limits and errors named.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { InvalidArgumentError, NotFoundError, PayloadTooLargeError } from 'storyloom';
import { openEngine, waitForRun } from '../test-support/helpers.mjs';

const picture = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x00, 0x00, 0xff, 0x01, 0x0a]);

test('a picture is stored with its type, size and digest and read back as a Buffer', async (t) => {
  const engine = await openEngine(t);
  engine.workflow('painter', {}, async (ctx) => {
    ctx.binaryArtifact('cover', 'image/png', Buffer.from('first'));
    ctx.binaryArtifact('cover', 'image/png', picture);
    ctx.artifact('outline', { title: 'Fox' });
    return {};
  });
  engine.launch();
  const run = await waitForRun(engine, (await engine.start('painter', {})).id);
  assert.equal(run.status, 'completed');

  const bytes = await engine.artifactBytes(run.id, 'cover');
  assert.ok(Buffer.isBuffer(bytes));
  assert.deepEqual(bytes, picture);
  assert.deepEqual(await engine.artifactBytes(run.id, 'cover', 1), Buffer.from('first'));

  const snap = await engine.snapshot(run.id);
  const cover = snap.artifacts.find((a) => a.key === 'cover');
  assert.equal(cover.contentType, 'image/png');
  assert.equal(cover.version, 2);
  assert.deepEqual(cover.value, {
    content_type: 'image/png',
    size: picture.length,
    sha256: createHash('sha256').update(picture).digest('hex'),
  });
  assert.equal(snap.artifacts.find((a) => a.key === 'outline').contentType, undefined);
});

test('binary artifact errors name the problem', async (t) => {
  const engine = await openEngine(t, { maxArtifactBytes: 1024 });
  const errors = [];
  engine.workflow('bad', {}, async (ctx) => {
    for (const f of [
      () => ctx.binaryArtifact('big', 'image/png', Buffer.alloc(1025)),
      () => ctx.binaryArtifact('k', 'png', picture),
      () => ctx.binaryArtifact('k', 'image/png', 'not bytes'),
    ]) {
      try {
        f();
      } catch (e) {
        errors.push(e);
      }
    }
    ctx.artifact('outline', {});
    return {};
  });
  engine.launch();
  const run = await waitForRun(engine, (await engine.start('bad', {})).id);
  assert.equal(run.status, 'completed');
  assert.equal(errors.length, 3);
  assert.ok(errors[0] instanceof PayloadTooLargeError);
  assert.equal(errors[0].message, "binary artifact 'big' is 1025 bytes; the limit is 1024 (max_artifact_bytes)");
  assert.ok(errors[1] instanceof InvalidArgumentError);
  assert.match(errors[1].message, /content type 'png' is not a media type/);
  assert.match(errors[2].message, /must be a Buffer or Uint8Array/);

  await assert.rejects(engine.artifactBytes(run.id, 'outline'), (e) => {
    assert.ok(e instanceof InvalidArgumentError);
    assert.match(e.message, /holds JSON, not bytes/);
    return true;
  });
  await assert.rejects(engine.artifactBytes(run.id, 'nope'), (e) => {
    assert.ok(e instanceof NotFoundError);
    assert.equal(e.message, `no artifact 'nope' of run '${run.id}'`);
    return true;
  });
});

test('maxArtifactBytes below 1024 is refused when the engine opens', async (t) => {
  await assert.rejects(openEngine(t, { maxArtifactBytes: 10 }), (e) => {
    assert.ok(e instanceof InvalidArgumentError);
    assert.match(e.message, /config.max_artifact_bytes must be an integer of at least 1024, got 10/);
    return true;
  });
});

test('exportBook writes an EPUB, a PDF and Markdown with the pictures beside it', async (t) => {
  const { mkdtempSync, readFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const path = await import('node:path');
  const dir = mkdtempSync(path.join(tmpdir(), 'storyloom-book-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const engine = await openEngine(t);
  engine.workflow('book', {}, async (ctx) => {
    ctx.binaryArtifact('page/1/picture', 'image/png', picture);
    ctx.artifact('story', { title: 'Owls', pages: [{ page: 1, content: 'Hoo hoo.' }] });
    return {};
  });
  engine.launch();
  const run = await waitForRun(engine, (await engine.start('book', {})).id);
  await engine.exportBook(run.id, 'epub', path.join(dir, 'owls.epub'));
  assert.equal(readFileSync(path.join(dir, 'owls.epub')).subarray(0, 2).toString(), 'PK');
  await engine.exportBook(run.id, 'pdf', path.join(dir, 'owls.pdf'));
  assert.equal(readFileSync(path.join(dir, 'owls.pdf')).subarray(0, 5).toString(), '%PDF-');
  await engine.exportBook(run.id, 'md', path.join(dir, 'owls.md'));
  assert.match(readFileSync(path.join(dir, 'owls.md'), 'utf8'), /!\[Picture of page 1\]\(owls_pictures\/page-1\.png\)/);
  assert.deepEqual(readFileSync(path.join(dir, 'owls_pictures', 'page-1.png')), picture);
  await assert.rejects(engine.exportBook(run.id, 'docx', path.join(dir, 'x')), (e) => {
    assert.ok(e instanceof InvalidArgumentError);
    assert.equal(e.message, "unknown book format 'docx'; use epub, pdf or md");
    return true;
  });
});
