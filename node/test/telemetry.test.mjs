// OpenTelemetry: with @opentelemetry/api installed (a dev dependency here) and
// a tracer provider registered, runs and step attempts become spans, children
// of the span active at start(), also after a kill -9 and a resume elsewhere.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { Engine, InvalidArgumentError } from 'storyloom';
import { openEngine, tempDir, waitForRun } from '../test-support/helpers.mjs';
import { startFakeServer } from '../test-support/fake-llm-server.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const exporter = new InMemorySpanExporter();
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
const tracer = trace.getTracer('test');

const parentOf = (s) => s.parentSpanContext?.spanId ?? s.parentSpanId;

async function spansUntil(predicate, what) {
  const deadline = Date.now() + 10000;
  for (;;) {
    const spans = exporter.getFinishedSpans();
    if (predicate(spans)) return spans;
    if (Date.now() > deadline) throw new Error(`no ${what} after 10 s: ${spans.map((s) => s.name).join(', ')}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('a run and each step attempt are spans under the span active at start()', async (t) => {
  exporter.reset();
  const engine = await openEngine(t);
  let tries = 0;
  engine.workflow('flaky', { retry: { maxAttempts: 2, initialBackoffMs: 1 } }, async (ctx) => {
    await ctx.step('call', () => {
      if (++tries === 1) throw new Error('first try fails');
      return 'ok';
    });
    return 'done';
  });
  engine.launch();
  let request;
  const started = await tracer.startActiveSpan('request', async (span) => {
    request = span.spanContext();
    try {
      return await engine.start('flaky', {});
    } finally {
      span.end();
    }
  });
  assert.equal(started.traceParent, `00-${request.traceId}-${request.spanId}-01`);
  assert.equal((await waitForRun(engine, started.id)).status, 'completed');
  const spans = await spansUntil((s) => s.filter((x) => x.name === 'storyloom.run flaky').length === 2, 'two run spans');
  const runs = spans.filter((s) => s.name === 'storyloom.run flaky');
  const steps = spans.filter((s) => s.name === 'storyloom.step call');
  // One span per execution: the first ends queued for the retry, the second completed.
  assert.deepEqual(runs.map((s) => s.attributes['storyloom.run.outcome']).sort(), ['completed', 'queued']);
  for (const run of runs) {
    assert.equal(run.spanContext().traceId, request.traceId);
    assert.equal(parentOf(run), request.spanId);
    assert.equal(run.attributes['storyloom.run.id'], started.id);
    assert.equal(run.attributes['storyloom.workflow'], 'flaky');
  }
  assert.equal(steps.length, 2);
  const byAttempt = Object.fromEntries(steps.map((s) => [s.attributes['storyloom.step.attempt'], s]));
  assert.equal(byAttempt[1].attributes['storyloom.error.class'], 'retryable');
  assert.equal(byAttempt[1].attributes['storyloom.step.will_retry'], true);
  assert.equal(byAttempt[1].status.code, 2); // SpanStatusCode.ERROR
  assert.equal(byAttempt[2].attributes['storyloom.error.class'], undefined);
  assert.equal(byAttempt[2].attributes['storyloom.step.kind'], 'step');
  const runIds = new Set(runs.map((s) => s.spanContext().spanId));
  for (const step of steps) {
    assert.ok(runIds.has(parentOf(step)), 'a step span is a child of its execution span');
    assert.equal(step.spanContext().traceId, request.traceId);
  }
  // No payloads: the error message is nowhere in the spans.
  assert.doesNotMatch(JSON.stringify(spans.map((s) => s.attributes)), /first try fails/);
});

test('after a kill -9 the resumed run is still a child of the caller span given at start', async (t) => {
  exporter.reset();
  const dir = tempDir(t);
  const db = path.join(dir, 'trace.db');
  const ready = path.join(dir, 'ready');
  const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
  const spanId = '00f067aa0ba902b7';
  const child = spawn(process.execPath, [path.join(here, '..', 'test-support', 'trace-crash-child.mjs'), db, `00-${traceId}-${spanId}-01`, ready], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const exited = new Promise((r) => child.on('exit', (code, signal) => r({ code, signal })));
  const deadline = Date.now() + 15000;
  while (!existsSync(ready) && child.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.ok(existsSync(ready), `the child did not reach its second step: ${err}`);
  child.kill('SIGKILL');
  await exited;
  const runId = out.trim();

  const engine = await Engine.open({ store: `sqlite:${db}`, pollIntervalMs: 10 });
  t.after(() => engine.close());
  engine.workflow('traced', async (ctx) => {
    await ctx.step('first', () => 1);
    return ctx.step('second', () => 2);
  });
  engine.launch();
  assert.equal((await waitForRun(engine, runId, ['completed', 'failed'], 20000)).status, 'completed');
  const spans = await spansUntil((s) => s.some((x) => x.name === 'storyloom.run traced'), 'run span');
  const run = spans.find((s) => s.name === 'storyloom.run traced');
  assert.equal(run.spanContext().traceId, traceId);
  assert.equal(parentOf(run), spanId);
  const second = spans.find((s) => s.name === 'storyloom.step second');
  assert.ok(second, 'the step in flight at the kill runs again, as a span of the resumed execution');
  assert.equal(parentOf(second), run.spanContext().spanId);
  assert.equal(second.spanContext().traceId, traceId);
  assert.ok(!spans.some((s) => s.name === 'storyloom.step first'), 'a memoized step is not an attempt');
});

test('telemetry: false makes no spans, and a bad traceParent is refused', async (t) => {
  exporter.reset();
  const engine = await openEngine(t, { telemetry: false });
  engine.workflow('quiet', async (ctx) => ctx.step('s', () => 1));
  engine.launch();
  const run = await tracer.startActiveSpan('request', async (span) => {
    try {
      return await engine.start('quiet', {});
    } finally {
      span.end();
    }
  });
  assert.equal(run.traceParent, ''); // nothing taken from the active span either
  assert.equal((await waitForRun(engine, run.id)).status, 'completed');
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(exporter.getFinishedSpans().map((s) => s.name), ['request']);
  await assert.rejects(engine.start('quiet', {}, { traceParent: 'nope' }), (e) => {
    assert.ok(e instanceof InvalidArgumentError);
    assert.equal(e.message, "trace_parent 'nope' is not a W3C traceparent (00-<32 hex>-<16 hex>-<2 hex>)");
    return true;
  });
  await assert.rejects(Engine.open({ telemetry: 'yes' }), /Engine.open: telemetry must be a boolean, got "yes"/);
});

test('an llm span carries its tokens; one stopped by a cancel ends with the class cancelled', async (t) => {
  exporter.reset();
  const server = await startFakeServer(t);
  const providers = [
    { name: 'fake', kind: 'openai', baseUrl: server.url('normal~spans;words=12'), apiKey: 'test-key-not-a-secret', model: 'fake-model' },
    { name: 'slow', kind: 'openai', baseUrl: server.url('slow_trickle~spans;delay_ms=200;words=100'), apiKey: 'test-key-not-a-secret', model: 'fake-model' },
  ];
  const engine = await openEngine(t, { llm: { useEnvironment: false, providers } });
  const story = [{ role: 'user', content: 'Tell me a story' }];
  engine.workflow('told', async (ctx, input) => ctx.llm('story', { provider: input.provider, messages: story }));
  engine.launch();

  const done = await waitForRun(engine, (await engine.start('told', { provider: 'fake' })).id);
  assert.equal(done.status, 'completed', JSON.stringify(done.error));
  let spans = await spansUntil((s) => s.some((x) => x.name === 'storyloom.run told'), 'run span');
  const llm = spans.find((s) => s.name === 'storyloom.step story');
  assert.equal(llm.attributes['storyloom.step.kind'], 'llm');
  assert.equal(llm.attributes['storyloom.llm.model'], 'fake-model');
  assert.equal(llm.attributes['storyloom.llm.output_tokens'], done.output.usage.outputTokens);
  assert.equal(llm.attributes['storyloom.llm.input_tokens'], done.output.usage.inputTokens);
  assert.equal(llm.attributes['storyloom.llm.total_tokens'], done.output.usage.totalTokens);

  exporter.reset();
  const { id } = await engine.start('told', { provider: 'slow' });
  for (;;) {
    if ((await engine.storedEvents(id)).some((e) => e.type === 'llm.attempt')) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  await engine.cancel(id);
  assert.equal((await waitForRun(engine, id)).status, 'cancelled');
  spans = await spansUntil((s) => s.some((x) => x.name === 'storyloom.run told'), 'run span');
  const run = spans.find((s) => s.name === 'storyloom.run told');
  const stopped = spans.find((s) => s.name === 'storyloom.step story');
  assert.equal(run.attributes['storyloom.run.outcome'], 'cancelled');
  assert.equal(stopped.attributes['storyloom.error.class'], 'cancelled');
  assert.equal(stopped.attributes['storyloom.step.will_retry'], false);
  assert.equal(stopped.status.code, 2); // SpanStatusCode.ERROR
  assert.equal(stopped.status.message, 'cancelled');
  // Its own end, reported before the run's: the step span is finished first.
  assert.ok(spans.indexOf(stopped) < spans.indexOf(run), spans.map((s) => s.name).join(', '));
});
