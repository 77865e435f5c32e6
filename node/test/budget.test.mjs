// A run's LLM budget through the Node package: the llm step stops after the
// affordable calls (counted by the fake LLM server), BudgetExceededError for
// the run, usage per provider and model in the snapshot, bad budgets named.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BudgetExceededError, InvalidArgumentError, errorFor } from 'storyloom';
import { openEngine, waitForRun } from '../test-support/helpers.mjs';
import { startFakeServer } from '../test-support/fake-llm-server.mjs';

async function storyEngine(t, server, scenario) {
  const engine = await openEngine(t, {
    llm: {
      useEnvironment: false,
      providers: [{ name: 'fake', kind: 'openai', baseUrl: server.url(scenario), apiKey: 'test-key-not-a-secret', model: 'fake-model' }],
    },
  });
  engine.workflow('story', async (ctx, input) => {
    for (let i = 1; i <= input.pages; i++) {
      await ctx.llm(`page-${i}`, { provider: 'fake', messages: [{ role: 'user', content: `Page ${i} of a story` }], maxTokens: 40 });
    }
    return input.pages;
  });
  engine.launch();
  return engine;
}

test('a call budget smaller than the story fails it after exactly the affordable calls', async (t) => {
  const server = await startFakeServer(t);
  const engine = await storyEngine(t, server, 'normal~budget');
  const started = await engine.start('story', { pages: 5 }, { budget: { llmCalls: 2 } });
  assert.deepEqual(started.budget, { llmCalls: 2, llmTokens: 0 });
  const run = await waitForRun(engine, started.id);
  assert.equal(run.status, 'failed');
  assert.equal(run.error.code, 'budget_exceeded');
  assert.equal(run.error.step, 'page-3');
  assert.equal(run.error.message, "llm step 'page-3' was not sent: the run's budget is spent (its 2 of 2 LLM calls are used)");
  assert.ok(errorFor(run.error.code, run.error.message) instanceof BudgetExceededError);
  assert.equal((await server.stats()).requests['normal~budget'], 2);

  const snap = await engine.snapshot(started.id);
  assert.equal(snap.usage.llmCalls, 2);
  assert.equal(snap.usage.byModel.length, 1);
  assert.deepEqual(
    { provider: snap.usage.byModel[0].provider, model: snap.usage.byModel[0].model, calls: snap.usage.byModel[0].calls },
    { provider: 'fake', model: 'fake-model', calls: 2 },
  );
  assert.equal(snap.usage.totalTokens, snap.usage.inputTokens + snap.usage.outputTokens);
  assert.ok(snap.usage.totalTokens > 0);
  assert.deepEqual(snap.budget, {
    llmCalls: 2,
    llmTokens: 0,
    spentLlmCalls: 2,
    spentLlmTokens: snap.usage.totalTokens,
    remainingLlmCalls: 0,
    remainingLlmTokens: null,
    exceeded: true,
  });
});

test('startMany carries a budget per request', async (t) => {
  const server = await startFakeServer(t);
  const engine = await storyEngine(t, server, 'normal~many');
  const [a, b] = await engine.startMany([
    { workflow: 'story', input: { pages: 3 }, budget: { llmCalls: 1 } },
    { workflow: 'story', input: { pages: 2 } },
  ]);
  const [ra, rb] = [await waitForRun(engine, a.run.id), await waitForRun(engine, b.run.id)];
  assert.equal(ra.error?.code, 'budget_exceeded');
  assert.equal(rb.status, 'completed');
  assert.equal((await server.stats()).requests['normal~many'], 3);
});

test('a budget that is not whole numbers >= 0 is refused, naming the field', async (t) => {
  const server = await startFakeServer(t);
  const engine = await storyEngine(t, server, 'normal');
  await assert.rejects(engine.start('story', { pages: 1 }, { budget: { llmCalls: -1 } }), {
    name: 'InvalidArgumentError',
    message: 'engine.start: budget.llmCalls must be a whole number >= 0 (0: no limit), got -1',
  });
  await assert.rejects(engine.start('story', { pages: 1 }, { budget: { calls: 3 } }), (e) => {
    assert.ok(e instanceof InvalidArgumentError);
    assert.match(e.message, /unknown option 'calls' \(known: llmCalls, llmTokens\)/);
    return true;
  });
});
