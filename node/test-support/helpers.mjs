// Shared fixtures for test/ (kept outside it: node --test runs every .mjs under a test/ directory).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Engine } from 'storyloom';

export function tempDir(t) {
  const dir = mkdtempSync(path.join(tmpdir(), 'storyloom-node-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Opens an engine on a new SQLite file, closed after the test. */
export async function openEngine(t, options = {}) {
  const dir = tempDir(t);
  const engine = await Engine.open({ store: `sqlite:${path.join(dir, 'test.db')}`, pollIntervalMs: 10, ...options });
  t.after(() => engine.close());
  return engine;
}

const FINISHED = ['completed', 'failed', 'cancelled'];

/** Polls until the run's status is one of `statuses` (default: finished). */
export async function waitForRun(engine, runId, statuses = FINISHED, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const run = await engine.get(runId);
    if (statuses.includes(run.status)) return run;
    if (Date.now() > deadline) throw new Error(`run ${runId} is still ${run.status} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Reads a whole Response body stream as text. */
export async function readAll(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return text;
    text += decoder.decode(value, { stream: true });
  }
}

/** The ids of the `id:` lines of SSE text, in order. */
export function sseIds(text) {
  return [...text.matchAll(/^id: ?(\d+)$/gm)].map((m) => Number(m[1]));
}
