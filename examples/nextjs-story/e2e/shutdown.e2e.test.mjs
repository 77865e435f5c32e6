// The first Ctrl-C (SIGINT to the server's process group, as a terminal sends
// it) or SIGTERM stops `next start` within seconds although a client holds an
// event stream open: the stream ends, the engine closes, the store is intact
// (the story is back in the queue, every event readable) and a restarted
// server finishes the story.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { Engine } from 'storyloom';
import { startServer, storeDir } from './server.mjs';
import { PASSWORD } from './auth.mjs';

async function signUp(base, username) {
  const response = await fetch(`${base}/api/auth/signup`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: base },
    body: JSON.stringify({ username, password: PASSWORD }),
  });
  assert.equal(response.status, 201, await response.text());
  return response.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
}

async function stopsOn(signal, exitCode) {
  const dir = storeDir();
  let server;
  try {
    // Slow words: the story is still being written when the signal comes.
    server = await startServer({ wordDelayMs: 200, dir });
    const cookie = await signUp(server.base, `shutdown-${signal.toLowerCase()}`);
    const started = await fetch(`${server.base}/api/story/generate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: server.base, cookie },
      body: JSON.stringify({ topic: 'a heron who counts the tides', pages: 5, quality: 0 }),
    });
    assert.equal(started.status, 201, await started.clone().text());
    const id = (await started.json()).sessionId;

    const events = await fetch(`${server.base}/api/events/${id}`, { headers: { cookie } });
    assert.equal(events.status, 200);
    const stream = events.body.getReader();
    let received = '';
    while (!received.includes('event: chunk')) {
      const { value, done } = await stream.read();
      assert.ok(!done, `the stream ended before any text: ${received}`);
      received += new TextDecoder().decode(value);
    }

    const t0 = Date.now();
    process.kill(-server.pid, signal);
    // The open stream ends (it would never end by itself while the story runs).
    for (;;) {
      const { done } = await stream.read().catch(() => ({ done: true }));
      if (done) break;
    }
    const code = await server.exited;
    const took = Date.now() - t0;
    assert.equal(code, exitCode, server.output());
    assert.ok(took < 8000, `the server took ${took} ms to stop`);
    assert.match(server.output(), new RegExp(`storyloom: ${signal}: ending event streams and closing the engine`));
    assert.match(server.output(), /storyloom: engine closed/);

    // The store is intact: the story went back to the queue, its events are readable.
    const reader = await Engine.open({ store: `sqlite:${server.dbPath}` });
    try {
      const run = await reader.get(id);
      assert.equal(run.status, 'queued', JSON.stringify(run));
      assert.ok((await reader.storedEvents(id, { limit: 1000 })).length > 0);
    } finally {
      await reader.close();
    }

    // A restarted server finishes it.
    server = await startServer({ wordDelayMs: 1, dir, port: server.port });
    const deadline = Date.now() + 60000;
    for (;;) {
      const reader2 = await Engine.open({ store: `sqlite:${server.dbPath}` });
      const status = (await reader2.get(id)).status;
      await reader2.close();
      if (status === 'completed') break;
      assert.ok(Date.now() < deadline && status !== 'failed', `the story is ${status} after the restart`);
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

test('the first Ctrl-C (SIGINT) stops the server with an event stream open', () => stopsOn('SIGINT', 130));

test('SIGTERM stops the server with an event stream open', () => stopsOn('SIGTERM', 143));
