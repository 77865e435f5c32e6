// OpenTelemetry metrics: with @opentelemetry/api installed (a dev dependency
// here) and a meter provider registered, real runs are counted by workflow,
// step attempts timed by kind and outcome, llm tokens counted by model, 429s
// counted as rate-limit pauses, and the queue observed, under the names the
// README documents. Read with the SDK's in-memory exporter.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { metrics } from '@opentelemetry/api';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import { openEngine, waitForRun } from '../test-support/helpers.mjs';
import { startFakeServer } from '../test-support/fake-llm-server.mjs';

const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3600000 });
metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }));

const STORY = [{ role: 'user', content: 'Tell me a story about a lighthouse' }];

/** Every data point of the metric `name` at the last collection: [{ attributes, value }]. */
async function points(name) {
  exporter.reset();
  await reader.forceFlush();
  const all = exporter.getMetrics().flatMap((rm) => rm.scopeMetrics.flatMap((sm) => sm.metrics));
  return all.filter((m) => m.descriptor.name === name).flatMap((m) => m.dataPoints);
}

/** The value of the point whose attributes include `attrs` (undefined when none). */
function valueAt(list, attrs) {
  const p = list.find((x) => Object.entries(attrs).every(([k, v]) => x.attributes[k] === v));
  return p?.value;
}

/** Waits until the metric `name` has a point with `attrs` whose value satisfies `ok`. */
async function eventually(name, attrs, ok = (v) => v !== undefined) {
  const deadline = Date.now() + 10000;
  for (;;) {
    const value = valueAt(await points(name), attrs);
    if (ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`${name} ${JSON.stringify(attrs)} is ${JSON.stringify(value)} after 10 s`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function llmEngine(t, server, scenarios) {
  const providers = Object.entries(scenarios).map(([name, scenario]) => ({
    name,
    kind: 'openai',
    baseUrl: server.url(scenario),
    apiKey: 'test-key-not-a-secret',
    model: 'fake-model',
    connectTimeoutMs: 2000,
    idleTimeoutMs: 5000,
  }));
  return openEngine(t, { llm: { useEnvironment: false, providers } });
}

test('runs are counted by workflow and step attempts timed by kind and outcome', async (t) => {
  const engine = await openEngine(t);
  let tries = 0;
  engine.workflow('m-flaky', { retry: { maxAttempts: 2, initialBackoffMs: 1 } }, async (ctx) => {
    await ctx.step('call', () => {
      if (++tries === 1) throw new Error('first try fails');
      return 'ok';
    });
    return 'done';
  });
  engine.workflow('m-broken', async (ctx) => {
    await ctx.step('boom', () => {
      throw Object.assign(new Error('no'), { errorClass: 'fatal' });
    });
  });
  engine.launch();
  const ok = await engine.start('m-flaky', {});
  const bad = await engine.start('m-broken', {});
  assert.equal((await waitForRun(engine, ok.id)).status, 'completed');
  assert.equal((await waitForRun(engine, bad.id)).status, 'failed');

  // Two executions of m-flaky (the retry's backoff parks it), one run started.
  assert.equal(await eventually('storyloom.runs.completed', { 'storyloom.workflow': 'm-flaky' }), 1);
  assert.equal(valueAt(await points('storyloom.runs.started'), { 'storyloom.workflow': 'm-flaky' }), 1);
  assert.equal(valueAt(await points('storyloom.runs.started'), { 'storyloom.workflow': 'm-broken' }), 1);
  assert.equal(
    await eventually('storyloom.runs.failed', { 'storyloom.workflow': 'm-broken', 'storyloom.error.class': 'fatal' }),
    1,
  );
  assert.equal(valueAt(await points('storyloom.runs.failed'), { 'storyloom.workflow': 'm-flaky' }), undefined);

  const durations = await points('storyloom.step.duration');
  const at = (workflow, outcome) =>
    valueAt(durations, { 'storyloom.workflow': workflow, 'storyloom.step.kind': 'step', 'storyloom.step.outcome': outcome });
  assert.equal(at('m-flaky', 'retrying')?.count, 1);
  assert.equal(at('m-flaky', 'completed')?.count, 1);
  assert.equal(at('m-broken', 'failed')?.count, 1);
  assert.ok(at('m-flaky', 'completed').sum >= 0);
  // No payloads in the attributes: not the error message, not the input.
  assert.doesNotMatch(JSON.stringify(durations.map((p) => p.attributes)), /first try fails|no'/);
});

test('an llm step counts its input and output tokens by model', async (t) => {
  const server = await startFakeServer(t);
  const engine = await llmEngine(t, server, { fake: 'normal~metrics;words=30' });
  engine.workflow('m-tell', async (ctx) => ctx.llm('story', { provider: 'fake', messages: STORY, maxTokens: 100 }));
  engine.launch();
  const run = await waitForRun(engine, (await engine.start('m-tell', {})).id);
  assert.equal(run.status, 'completed', JSON.stringify(run.error));
  const { inputTokens, outputTokens } = run.output.usage;
  assert.equal(outputTokens, 30);
  assert.ok(inputTokens > 0);
  const model = { 'storyloom.workflow': 'm-tell', 'storyloom.llm.model': 'fake-model' };
  assert.equal(await eventually('storyloom.llm.tokens', { ...model, 'storyloom.llm.token.type': 'output' }), outputTokens);
  assert.equal(valueAt(await points('storyloom.llm.tokens'), { ...model, 'storyloom.llm.token.type': 'input' }), inputTokens);
  const llm = valueAt(await points('storyloom.step.duration'), {
    'storyloom.workflow': 'm-tell',
    'storyloom.step.kind': 'llm',
    'storyloom.step.outcome': 'completed',
  });
  assert.equal(llm?.count, 1);
});

test('a 429 counts one rate-limit pause and a retrying llm attempt', async (t) => {
  const server = await startFakeServer(t);
  const engine = await llmEngine(t, server, { busy: 'rate_limited_then_ok~metrics;retry_after_ms=200' });
  engine.workflow('m-busy', { retry: { maxAttempts: 3, initialBackoffMs: 10 } }, async (ctx) =>
    ctx.llm('story', { provider: 'busy', messages: STORY }),
  );
  engine.launch();
  const run = await waitForRun(engine, (await engine.start('m-busy', {})).id);
  assert.equal(run.status, 'completed', JSON.stringify(run.error));
  const kind = { 'storyloom.workflow': 'm-busy', 'storyloom.step.kind': 'llm' };
  assert.equal(await eventually('storyloom.rate_limit.pauses', kind), 1);
  const durations = await points('storyloom.step.duration');
  assert.equal(valueAt(durations, { ...kind, 'storyloom.step.outcome': 'retrying' })?.count, 1);
  assert.equal(valueAt(durations, { ...kind, 'storyloom.step.outcome': 'completed' })?.count, 1);
});

test('the queue depth gauge reads the queued runs by workflow, down to 0', async (t) => {
  const engine = await openEngine(t);
  engine.workflow('m-queued-a', async () => 'a');
  engine.workflow('m-queued-b', async () => 'b');
  // Not launched yet: started runs stay queued.
  const ids = [];
  for (let i = 0; i < 3; i++) ids.push((await engine.start('m-queued-a', {})).id);
  for (let i = 0; i < 2; i++) ids.push((await engine.start('m-queued-b', {})).id);
  const depth = await points('storyloom.queue.depth');
  assert.equal(valueAt(depth, { 'storyloom.workflow': 'm-queued-a' }), 3);
  assert.equal(valueAt(depth, { 'storyloom.workflow': 'm-queued-b' }), 2);
  engine.launch();
  for (const id of ids) assert.equal((await waitForRun(engine, id)).status, 'completed');
  const drained = await points('storyloom.queue.depth');
  assert.equal(valueAt(drained, { 'storyloom.workflow': 'm-queued-a' }), 0);
  assert.equal(valueAt(drained, { 'storyloom.workflow': 'm-queued-b' }), 0);
  await engine.close();
  await points('storyloom.queue.depth'); // a closed engine is not read: no error
});

test('telemetry: false records no metrics', async (t) => {
  const engine = await openEngine(t, { telemetry: false });
  engine.workflow('m-quiet', async (ctx) => ctx.step('s', () => 1));
  engine.launch();
  assert.equal((await waitForRun(engine, (await engine.start('m-quiet', {})).id)).status, 'completed');
  await new Promise((r) => setTimeout(r, 50));
  for (const name of ['storyloom.runs.started', 'storyloom.runs.completed', 'storyloom.step.duration']) {
    assert.equal(valueAt(await points(name), { 'storyloom.workflow': 'm-quiet' }), undefined, name);
  }
});
