// Gemini through Node: a streamed answer, its errors and an out-of-quota
// answer, against the project's fake server (tests/support/FAKE_LLM_SERVER.md).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { QuotaExceededError } from 'storyloom';
import { openEngine, waitForRun } from '../test-support/helpers.mjs';
import { startFakeServer } from '../test-support/fake-llm-server.mjs';

const KEY = 'test-key-not-a-secret';
const STORY = [{ role: 'user', content: 'Tell me a story about a lighthouse' }];

async function geminiEngine(t, server, scenario, workflowOptions = {}) {
  const engine = await openEngine(t, {
    llm: {
      useEnvironment: false,
      providers: [{ name: 'g', kind: 'gemini', baseUrl: server.geminiUrl(scenario), apiKey: KEY, model: 'fake-model' }],
    },
  });
  engine.workflow('tell', workflowOptions, async (ctx) => {
    try {
      return { ok: await ctx.llm('story', { provider: 'g', messages: STORY }) };
    } catch (e) {
      return { error: e.constructor.name, message: e.message, errorClass: e.errorClass };
    }
  });
  engine.launch();
  return engine;
}

test('a Gemini stream: the text equals its chunk events, the key went in a header only', async (t) => {
  const server = await startFakeServer(t);
  const engine = await geminiEngine(t, server, 'normal');
  const run = await waitForRun(engine, (await engine.start('tell', {})).id);
  assert.equal(run.status, 'completed', JSON.stringify(run.error));
  const result = run.output.ok;
  assert.ok(result, JSON.stringify(run.output));
  assert.equal(result.provider, 'g');
  assert.equal(result.model, 'fake-model');
  assert.equal(result.finishReason, 'stop');
  assert.ok(result.usage.totalTokens > 0, JSON.stringify(result.usage));
  const chunks = (await engine.storedEvents(run.id)).filter((e) => e.type === 'chunk').map((e) => e.data.text);
  assert.equal(chunks.join(''), result.text);
  const [request] = await server.requests();
  assert.equal(request.path, '/s/normal/v1beta/models/fake-model:streamGenerateContent?alt=sse');
  assert.equal(request.headers['x-goog-api-key'], KEY);
  assert.ok(!request.path.includes(KEY));
});

test('Gemini errors: an overloaded stream is retryable, a bad key fatal, with the provider message', async (t) => {
  const server = await startFakeServer(t);
  const overloaded = await geminiEngine(t, server, 'in_stream_error~node', { retry: false });
  let run = await waitForRun(overloaded, (await overloaded.start('tell', {})).id);
  assert.equal(run.output.errorClass, 'retryable');
  assert.match(run.output.message, /UNAVAILABLE/);
  assert.match(run.output.message, /The model is overloaded/);
  const badKey = await geminiEngine(t, server, 'unauthorized~node');
  run = await waitForRun(badKey, (await badKey.start('tell', {})).id);
  assert.equal(run.output.errorClass, 'fatal');
  assert.match(run.output.message, /API key not valid/);
  assert.doesNotMatch(JSON.stringify(run), new RegExp(KEY));
  assert.equal((await server.stats()).requests['unauthorized~node'], 1); // fatal: asked once
});

test('a Gemini out-of-quota answer fails after one request with QuotaExceededError', async (t) => {
  const server = await startFakeServer(t);
  const engine = await geminiEngine(t, server, 'quota~node');
  const run = await waitForRun(engine, (await engine.start('tell', {})).id);
  assert.equal(run.output.error, QuotaExceededError.name);
  assert.equal(run.output.errorClass, 'fatal');
  assert.match(run.output.message, /RESOURCE_EXHAUSTED|quota/i);
  assert.equal((await server.stats()).requests['quota~node'], 1);
});
