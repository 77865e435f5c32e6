// What an llm step's result and errors say in Node, against the fake LLM
// server: finishReason, stopReason, truncated and usage; structured output
// parsed into `json` (from the server and offline); the quota error class;
// default retries and a step's own policy (retry: false).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProviderError, QuotaExceededError } from 'storyloom';
import { openEngine, waitForRun } from '../test-support/helpers.mjs';
import { startFakeServer } from '../test-support/fake-llm-server.mjs';

const KEY = 'test-key-not-a-secret';
const STORY = [{ role: 'user', content: 'Tell me a story about a lighthouse' }];
const SCHEMA = {
  type: 'object',
  properties: { title: { type: 'string' }, chapters: { type: 'array', items: { type: 'string' }, minItems: 3 } },
  required: ['title', 'chapters'],
  additionalProperties: false,
};

async function engineFor(t, server, scenarios) {
  const providers = Object.entries(scenarios).map(([name, scenario]) => ({
    name,
    kind: 'openai',
    baseUrl: server.url(scenario),
    apiKey: KEY,
    model: 'fake-model',
    idleTimeoutMs: 5000,
  }));
  return openEngine(t, { llm: { useEnvironment: false, providers } });
}

/** Runs one llm step in a workflow; {result} or {error: {name, message, quota}}. */
async function ask(engine, request, options) {
  const name = `w${Math.random().toString(36).slice(2)}`;
  engine.workflow(name, async (ctx) => {
    try {
      return { result: await ctx.llm('ask', request, options) };
    } catch (e) {
      if (e?.name === 'Parked') throw e;
      return { error: { name: e.name, message: e.message, quota: e instanceof QuotaExceededError, provider: e instanceof ProviderError } };
    }
  });
  const { id } = await engine.start(name, {});
  const run = await waitForRun(engine, id, ['completed', 'failed', 'cancelled'], 20000);
  assert.equal(run.status, 'completed', JSON.stringify(run.error));
  return run.output;
}

test('a truncated answer is flagged with its reasons and usage, and not retried', async (t) => {
  const server = await startFakeServer(t);
  const engine = await engineFor(t, server, { cut: 'truncated~n' });
  engine.launch();
  const { result } = await ask(engine, { provider: 'cut', messages: STORY, maxTokens: 20 });
  assert.equal(result.finishReason, 'length');
  assert.equal(result.stopReason, 'length');
  assert.equal(result.truncated, true);
  assert.equal(result.usage.totalTokens, result.usage.inputTokens + result.usage.outputTokens);
  assert.ok(result.usage.outputTokens > 0);
  assert.equal(result.json, null);
  assert.equal((await server.stats()).requests['truncated~n'], 1);
});

test('structured output comes back parsed in json, from a server and offline', async (t) => {
  const server = await startFakeServer(t);
  const engine = await engineFor(t, server, { fake: 'normal~json' });
  engine.launch();
  const online = (await ask(engine, { provider: 'fake', messages: STORY, jsonSchema: SCHEMA })).result;
  assert.equal(online.finishReason, 'stop');
  assert.equal(online.truncated, false);
  assert.deepEqual(Object.keys(online.json).sort(), ['chapters', 'title']);
  assert.equal(online.json.chapters.length, 3);
  assert.deepEqual(JSON.parse(online.text), online.json);
  const offline = (await ask(engine, { provider: 'offline', messages: STORY, jsonSchema: SCHEMA })).result;
  assert.equal(typeof offline.json.title, 'string');
  assert.equal(offline.json.chapters.length, 3);
  // The same request gives the same JSON offline.
  const again = (await ask(engine, { provider: 'offline', messages: STORY, jsonSchema: SCHEMA })).result;
  assert.deepEqual(again.json, offline.json);
});

test('an out-of-quota answer is QuotaExceededError after exactly one request', async (t) => {
  const server = await startFakeServer(t);
  const engine = await engineFor(t, server, { broke: 'quota~q' });
  engine.launch();
  const { error } = await ask(engine, { provider: 'broke', messages: STORY });
  assert.equal(error.quota, true, JSON.stringify(error));
  assert.equal(error.name, 'QuotaExceededError');
  assert.match(error.message, /out of quota or credit \(HTTP 429, insufficient_quota\).*You exceeded your current quota/);
  assert.ok(!error.message.includes(KEY));
  assert.equal((await server.stats()).requests['quota~q'], 1);
});

test('a 503 then ok succeeds with no policy set; retry: false stops after one request', async (t) => {
  const server = await startFakeServer(t);
  const engine = await engineFor(t, server, {
    flaky: 'server_error_then_ok~d;status=503',
    once: 'server_error_then_ok~e;status=503',
  });
  engine.launch();
  const ok = await ask(engine, { provider: 'flaky', messages: STORY });
  assert.ok(ok.result, JSON.stringify(ok));
  assert.equal((await server.stats()).requests['server_error_then_ok~d;status=503'], 2);
  const off = await ask(engine, { provider: 'once', messages: STORY }, { retry: false });
  assert.equal(off.error?.provider, true, JSON.stringify(off));
  assert.match(off.error.message, /HTTP 503/);
  assert.equal((await server.stats()).requests['server_error_then_ok~e;status=503'], 1);
});

test('a bad per-step retry policy is refused naming the field', async (t) => {
  const engine = await openEngine(t);
  engine.launch();
  const { error } = await ask(engine, { provider: 'offline', messages: STORY }, { retry: { maxAttemps: 2 } });
  assert.match(error.message, /unknown retry option 'maxAttemps'/);
  const zero = await ask(engine, { provider: 'offline', messages: STORY }, { retry: { maxAttempts: 0 } });
  assert.match(zero.error.message, /max_attempts must be 1 to 1000000, got 0/);
});
