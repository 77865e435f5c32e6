// ctx.llm on the engine's offline provider (no key, no network): the text
// streams as chunk events, the result is memoized across executions, and bad
// requests are refused naming the field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError, NotFoundError } from 'storyloom';
import { openEngine, waitForRun } from '../test-support/helpers.mjs';

const OFFLINE = { name: 'offline', kind: 'offline', model: 'offline-placeholder', offlineWordDelayMs: 1 };
const PLAN = 'Plan a story about a lighthouse.\nTITLE: <the title>\nPAGE 1: <what happens on page 1>\nPAGE 2: <what happens on page 2>';

test('an offline llm step streams chunk events and is memoized across a signal wait', async (t) => {
  const engine = await openEngine(t, { llm: { providers: [OFFLINE] } });
  let executions = 0;
  let subscribed;
  const gate = new Promise((resolve) => (subscribed = resolve));
  engine.workflow('plan', async (ctx) => {
    executions++;
    await ctx.step('subscribed', () => gate); // the answer streams once the test listens
    const answer = await ctx.llm('outline', { messages: [{ role: 'user', content: PLAN }], maxTokens: 200, streamName: 'outline/text' });
    const go = await ctx.waitForSignal('go');
    return { answer, go };
  });
  engine.launch();
  const { id } = await engine.start('plan', {});
  const live = [];
  const events = engine.events(id);
  const first = events.next(); // subscribes
  subscribed(true);
  const reading = (async () => {
    for (let e = await first; !e.done; e = await events.next()) live.push(e.value);
  })();
  await waitForRun(engine, id, ['waiting']);
  await engine.signal(id, 'go', 7);
  const run = await waitForRun(engine, id);
  await reading;
  assert.equal(run.status, 'completed', JSON.stringify(run.error));
  assert.equal(executions, 2);
  const { answer } = run.output;
  assert.equal(answer.provider, 'offline');
  assert.equal(answer.model, 'offline-placeholder');
  assert.equal(answer.finishReason, 'stop');
  assert.ok(answer.usage.inputTokens > 0 && answer.usage.outputTokens > 0, JSON.stringify(answer.usage));
  // The offline provider fills in the answer form, one line per form line.
  const lines = answer.text.split('\n');
  assert.deepEqual(lines.map((l) => l.split(':')[0]), ['TITLE', 'PAGE 1', 'PAGE 2']);

  const transient = live.filter((e) => e.type === 'chunk' && e.kind === 'transient');
  assert.ok(transient.length > 3, `${transient.length} live chunks`);
  assert.ok(transient.every((e) => e.data.stream === 'outline/text'));
  assert.equal(transient.map((e) => e.data.text).join(''), answer.text);
  const stored = (await engine.storedEvents(id)).filter((e) => e.type === 'chunk');
  assert.equal(stored.map((e) => e.data.text).join(''), answer.text);

  // Asked once: one attempt, and the replay after the signal returned the stored result.
  const types = (await engine.storedEvents(id)).map((e) => e.type);
  assert.equal(types.filter((x) => x === 'llm.attempt').length, 1, types.join(','));
  const snap = await engine.snapshot(id);
  assert.deepEqual(snap.steps.map((s) => [s.name, s.kind, s.status]), [
    ['subscribed', 'step', 'completed'],
    ['outline', 'llm', 'completed'],
    ['go', 'signal', 'completed'],
  ]);
});

test('stream: false records no chunks; the default provider is offline without keys', async (t) => {
  const engine = await openEngine(t, { llm: { useEnvironment: false, providers: [OFFLINE] } });
  const providers = await engine.llmProviders();
  assert.equal(providers.default, 'offline');
  assert.deepEqual(providers.providers, [
    { name: 'offline', kind: 'offline', baseUrl: '', model: 'offline-placeholder', resource: 'llm:offline', hasKey: false },
  ]);
  engine.workflow('quiet', async (ctx) =>
    ctx.llm('note', { messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Write two sentences about tides.' }], stream: false }),
  );
  engine.launch();
  const run = await waitForRun(engine, (await engine.start('quiet', {})).id);
  assert.equal(run.status, 'completed', JSON.stringify(run.error));
  assert.match(run.output.text, /\./);
  const types = (await engine.storedEvents(run.id)).map((e) => e.type);
  assert.ok(!types.includes('chunk'), types.join(','));
});

test('llmProviders never hands out a key', async (t) => {
  const key = 'test-key-not-a-secret-123';
  const engine = await openEngine(t, {
    llm: {
      useEnvironment: false,
      defaultProvider: 'local',
      providers: [{ name: 'local', kind: 'openai', baseUrl: 'http://127.0.0.1:9/v1', apiKey: key, model: 'm', resource: 'gpu', connectTimeoutMs: 500, idleTimeoutMs: 1000 }],
    },
  });
  const providers = await engine.llmProviders();
  assert.equal(providers.default, 'local');
  const local = providers.providers.find((p) => p.name === 'local');
  assert.deepEqual(local, { name: 'local', kind: 'openai', baseUrl: 'http://127.0.0.1:9/v1', model: 'm', resource: 'gpu', hasKey: true });
  assert.ok(!JSON.stringify(providers).includes(key));
});

test('bad llm requests are InvalidArgumentError naming the field; an unknown provider is NotFoundError', async (t) => {
  const engine = await openEngine(t, { llm: { useEnvironment: false, providers: [OFFLINE] } });
  const user = [{ role: 'user', content: 'hi' }];
  const cases = [
    [undefined, InvalidArgumentError, /^llm step 'x' must be an object, got undefined$/],
    [{ messages: 'hi' }, InvalidArgumentError, /llm step 'x'\.messages must be an array, got "hi"/],
    [{}, InvalidArgumentError, /llm step 'x'\.messages must be an array, got undefined/],
    [{ messages: [{ role: 'user' }] }, InvalidArgumentError, /llm step 'x'\.messages\[0\]\.content must be a string, got undefined/],
    [{ messages: [{ role: 'user', content: 'a', name: 'n' }] }, InvalidArgumentError, /messages\[0\]: unknown option 'name'/],
    [{ messages: user, maxTokens: 1.5 }, InvalidArgumentError, /llm step 'x'\.maxTokens must be an integer, got 1\.5/],
    [{ messages: user, temperature: '1' }, InvalidArgumentError, /llm step 'x'\.temperature must be a finite number, got "1"/],
    [{ messages: user, stream: 1 }, InvalidArgumentError, /llm step 'x'\.stream must be a boolean, got 1/],
    [{ messages: user, max_tokens: 5 }, InvalidArgumentError, /llm step 'x': unknown option 'max_tokens' \(known: provider, model, messages, maxTokens/],
    // Ranges and names are the engine's.
    [{ messages: user, maxTokens: 0 }, InvalidArgumentError, /max_tokens must be between 1 and 1000000, got 0/],
    [{ messages: user, temperature: 3 }, InvalidArgumentError, /temperature must be between 0 and 2/],
    [{ messages: [{ role: 'wizard', content: 'a' }] }, InvalidArgumentError, /messages\[0\]\.role must be system, user or assistant, got 'wizard'/],
    [{ messages: [{ role: 'system', content: 'a' }] }, InvalidArgumentError, /at least one user message/],
    [{ messages: [] }, InvalidArgumentError, /messages must not be empty/],
    [{ messages: user, provider: 'nowhere' }, NotFoundError, /^llm provider 'nowhere' is not configured \(configured: offline\)$/],
  ];
  const seen = [];
  engine.workflow('bad', async (ctx, input) => {
    try {
      await ctx.llm('x', cases[input.i][0]);
      seen[input.i] = 'no error';
    } catch (e) {
      seen[input.i] = e;
    }
    return null;
  });
  engine.launch();
  for (let i = 0; i < cases.length; i++) await waitForRun(engine, (await engine.start('bad', { i })).id);
  cases.forEach(([request, type, message], i) => {
    const e = seen[i];
    assert.ok(e instanceof type, `${JSON.stringify(request)}: ${e}`);
    assert.match(e.message, message, JSON.stringify(request));
  });
});

test('a bad llm request that is not caught fails the run with its message', async (t) => {
  const engine = await openEngine(t, { llm: { useEnvironment: false, providers: [OFFLINE] } });
  engine.workflow('bad', async (ctx) => ctx.llm('x', { messages: [{ role: 'user', content: 'hi' }], provider: 'nowhere' }));
  engine.launch();
  const run = await waitForRun(engine, (await engine.start('bad', {})).id);
  assert.equal(run.status, 'failed');
  assert.equal(run.error.message, "NotFoundError: llm provider 'nowhere' is not configured (configured: offline)");
});
