// storyloom/client: chunk text deduplicated by offset and reset at a new
// attempt (pure functions), and a RunReader following a run over SSE through
// dropped connections shows the text the run wrote, byte for byte.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { Readable } from 'node:stream';
import { applyChunk, applyAttempt, RunReader, applyRunEvent, emptyView, withAfter } from 'storyloom/client';
import { openEngine } from '../test-support/helpers.mjs';
import { TestEventSource } from '../test-support/event-source.mjs';

const chunk = (offset, text, attempt_start = 0) => ({ stream: 's', offset, text, attempt_start });

test('chunks seen twice or overlapping add only their new bytes, multi-byte text included', () => {
  let streams = {};
  for (const c of [chunk(0, 'Once '), chunk(0, 'Once '), chunk(5, 'upon'), chunk(3, 'e upon a'), chunk(9, ' a tĩme')]) {
    streams = applyChunk(streams, c).streams;
  }
  assert.equal(streams.s.text, 'Once upon a tĩme');
  // 'ĩ' is two UTF-8 bytes: a chunk overlapping up to its end cuts it whole.
  const r = applyChunk(streams, chunk(12, 'tĩme!'));
  assert.equal(r.streams.s.text, 'Once upon a tĩme!');
  assert.equal(r.streams.s.bytes, 18);
  const same = applyChunk(r.streams, chunk(0, 'Once'));
  assert.equal(same.changed, false);
  assert.equal(same.streams, r.streams);
});

test('a newer attempt replaces the text, an older one is dropped, a gap is reported', () => {
  let streams = applyChunk({}, chunk(0, 'first try')).streams;
  streams = applyChunk(streams, chunk(9, 'second', 9)).streams;
  assert.deepEqual(streams.s, { text: 'second', start: 9, bytes: 15 });
  assert.equal(applyChunk(streams, chunk(0, 'first try more', 0)).changed, false);
  const gap = applyChunk(streams, chunk(20, 'later', 9));
  assert.equal(gap.gap, true);
  // llm.attempt {stream, offset} clears at once, before the new attempt's text.
  const cleared = applyAttempt(streams, 's', 30);
  assert.deepEqual(cleared.s, { text: '', start: 30, bytes: 30 });
  assert.equal(applyAttempt(streams, 's', 9), streams);
});

test('a stored event at or before lastEventId is a duplicate', () => {
  let view = emptyView();
  view = applyRunEvent(view, { id: 3, type: 'run.started', data: {} });
  view = applyRunEvent(view, { id: 4, type: 'progress', data: { pages: 1 } });
  const again = applyRunEvent(view, { id: 3, type: 'run.queued', data: {} });
  assert.equal(again, view);
  view = applyRunEvent(view, { id: 5, type: 'run.completed', data: { output: { ok: 1 } } });
  assert.deepEqual([view.status, view.progress, view.output, view.lastEventId], ['completed', { pages: 1 }, { ok: 1 }, 5]);
});

test('withAfter sets the after query parameter of absolute and relative URLs', () => {
  assert.equal(withAfter('/api/events/r1', 7), '/api/events/r1?after=7');
  assert.equal(withAfter('/api/events/r1?after=3&x=1', 7), '/api/events/r1?after=7&x=1');
  assert.equal(withAfter('http://h/e?x=1#top', 7), 'http://h/e?x=1&after=7#top');
});

for (const giveUp of [false, true]) {
test(`a RunReader resumed after dropped connections shows the written text byte for byte (${giveUp ? 'EventSource gives up: the reader reopens it' : 'EventSource reconnects'})`, async (t) => {
  const engine = await openEngine(t);
  const words = Array.from({ length: 60 }, (_, i) => `wörd${i} `);
  engine.workflow('writer', {}, async (ctx) => {
    for (const [i, w] of words.entries()) {
      ctx.chunk('page/1', w);
      if (i % 6 === 5) {
        ctx.progress({ words: i + 1 });
        await new Promise((r) => setTimeout(r, 30)); // lets the text be stored in pieces
      }
    }
    return { words: words.length };
  });
  engine.launch();
  const run = await engine.start('writer');
  let served = 0;
  const server = http.createServer(async (req, res) => {
    served++;
    const after = new URL(req.url, 'http://x').searchParams.get('after');
    const response = engine.sseResponse(run.id, { lastEventId: req.headers['last-event-id'] ?? after });
    res.writeHead(200, Object.fromEntries(response.headers));
    const body = Readable.fromWeb(response.body);
    body.pipe(res);
    // The first three connections drop mid-stream, as a network would, after a
    // few writes (the replay of stored events on reconnecting gives them).
    if (served <= 3) {
      let writes = 0;
      body.on('data', () => ++writes === 4 && res.destroy());
    }
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  const source = { current: null };
  const Source = class extends TestEventSource {
    constructor(url) {
      super(url, { giveUp });
      source.current = this;
      source.opened = (source.opened ?? 0) + 1;
    }
  };
  const reader = new RunReader(`http://127.0.0.1:${server.address().port}/events`, { EventSource: Source });
  const done = new Promise((resolve) => reader.onChange((view) => view.status === 'completed' && resolve(view)));
  const view = await done;
  if (giveUp) assert.ok(source.opened >= 4, `only ${source.opened} EventSources`);
  else assert.ok(source.current.connections >= 4, `only ${source.current.connections} connections`);
  assert.equal(reader.text('page/1'), words.join(''));
  assert.equal(view.gaps, 0);
  assert.deepEqual(view.output, { words: 60 });
  assert.deepEqual(view.progress, { words: 60 });
  assert.equal(reader.connection, 'closed');
});
}
