// A workflow's retry option against the llm steps' default policy: absent is
// unset (llm steps retry, 3 attempts), `false` and `{}` are one attempt, an
// object with maxAttempts is that policy (sl_workflow_options version 3).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openEngine, waitForRun } from '../test-support/helpers.mjs';
import { startFakeServer } from '../test-support/fake-llm-server.mjs';

const STORY = [{ role: 'user', content: 'Tell me a story' }];

async function attempts(t, retry, tag) {
  const server = await startFakeServer(t);
  const scenario = `server_error_then_ok~${tag};status=503`;
  const engine = await openEngine(t, {
    llm: {
      useEnvironment: false,
      providers: [{ name: 'f', kind: 'openai', baseUrl: server.url(scenario), apiKey: 'test-key-not-a-secret', model: 'm' }],
    },
  });
  const options = retry === undefined ? {} : { retry };
  engine.workflow('tell', options, async (ctx) => ctx.llm('story', { provider: 'f', messages: STORY }));
  engine.launch();
  const run = await waitForRun(engine, (await engine.start('tell', {})).id, undefined, 20000);
  return { status: run.status, requests: (await server.stats()).requests[scenario] };
}

test('no retry option: llm steps take the default policy, a 503 then ok completes', async (t) => {
  assert.deepEqual(await attempts(t, undefined, 'unset'), { status: 'completed', requests: 2 });
});

test('retry: false makes one attempt, llm steps too', async (t) => {
  assert.deepEqual(await attempts(t, false, 'off'), { status: 'failed', requests: 1 });
});

test('retry: {} is a policy of one attempt, not "unset"', async (t) => {
  assert.deepEqual(await attempts(t, {}, 'empty'), { status: 'failed', requests: 1 });
});

test('an explicit policy applies to llm steps', async (t) => {
  assert.deepEqual(await attempts(t, { maxAttempts: 2, initialBackoffMs: 1 }, 'two'), { status: 'completed', requests: 2 });
});
