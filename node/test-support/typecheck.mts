// Compiled with `tsc --noEmit` by types.test.mjs: the shipped declarations
// type a typical program (not run).
import {
  Engine,
  NotFoundError,
  ProviderError,
  StoryloomError,
  type Context,
  type Durability,
  type LlmProviders,
  type LlmResult,
  type ResourceStatus,
  type Run,
  type SignalResult,
  type StartResult,
  type StoryEvent,
  type WorkflowOptions,
} from 'storyloom';

interface StoryInput {
  topic: string;
}

export async function main(): Promise<void> {
  const engine: Engine = await Engine.open({
    store: 'sqlite:./x.db',
    workers: 2,
    durability: 'full',
    llm: {
      defaultProvider: 'offline',
      useEnvironment: true,
      providers: [
        { name: 'offline', kind: 'offline', model: 'offline-placeholder', offlineWordDelayMs: 30 },
        { name: 'local', kind: 'openai', baseUrl: 'http://127.0.0.1:8080/v1', apiKey: 'test-key', model: 'm', resource: 'gpu', connectTimeoutMs: 1000, idleTimeoutMs: 5000 },
      ],
    },
    resources: { 'llm:openai': { requests: 60, periodMs: 60000, burst: 10, maxInFlight: 4, tokensPerMinute: 100000 } },
  });
  const limits: WorkflowOptions = {
    retry: { maxAttempts: 2, timeoutMs: 30000 },
    maxRunning: 8,
    concurrency: { key: '$.user', limit: 2 },
    throttle: { key: '$.user', limit: 10, periodMs: 60000 },
    runTimeoutMs: 3_600_000,
  };
  engine.workflow<StoryInput, LlmResult>('write', limits, async (ctx, input) => {
    const answer: LlmResult = await ctx.llm('draft', {
      provider: 'offline',
      model: 'offline-placeholder',
      messages: [
        { role: 'system', content: 'You write stories.' },
        { role: 'user', content: input.topic },
      ],
      maxTokens: 400,
      temperature: 0.7,
      stream: true,
      streamName: 'draft',
    });
    await ctx.step('long', async ({ heartbeat }) => heartbeat());
    ctx.heartbeat();
    const tokens: number = answer.usage.inputTokens + answer.usage.outputTokens;
    return { ...answer, text: `${answer.text} ${answer.finishReason} ${answer.provider} ${answer.model} ${tokens}` };
  });
  const providers: LlmProviders = await engine.llmProviders();
  const offline: boolean = providers.default === 'offline' && providers.providers.every((p) => !p.hasKey || p.kind !== 'offline');
  await engine.configureResource('llm:openai', { requests: 1, periodMs: 1000, maxInFlight: 1 });
  const status: ResourceStatus = await engine.resourceStatus('llm:openai');
  const inFlight: number = status.inFlight + status.waiting + (status.availableRequests ?? Infinity);
  const retried: number = await engine.retryFailed({ workflow: 'write', owner: 'o', errorClass: 'rate_limited', finishedAfterMs: 0, finishedBeforeMs: Date.now() });
  const cancelled: string[] = await engine.cancelMany({ status: 'waiting' });
  console.log(offline, inFlight, retried, cancelled.length);
  engine.workflow<StoryInput, { title: string }>('story', { retry: { maxAttempts: 3, initialBackoffMs: 100, multiplier: 2, maxBackoffMs: 1000, jitter: true } }, async (ctx: Context, input) => {
    const title = await ctx.step('outline', async ({ idempotencyKey, signal }) => {
      signal.throwIfAborted();
      return `${input.topic} ${idempotencyKey}`;
    });
    await ctx.sleep('nap', 50);
    const approval = await ctx.waitForSignal<{ ok: boolean }>('approve', { timeout: 1000 });
    if (approval?.ok) ctx.progress({ approved: true });
    ctx.artifact('outline', { title });
    ctx.emit('note', { title });
    ctx.chunk('page/1', 'text');
    const child = await ctx.invoke<number>('child', 'other', { n: 1 });
    return { title: `${title} ${child}` };
  });
  engine.launch();
  const normal: Durability = 'normal';
  const other: Engine = await Engine.open({ store: 'sqlite:./x.db', durability: normal });
  await other.close();
  const many: StartResult[] = await engine.startMany([{ workflow: 'story', input: { topic: 'a' }, idempotencyKey: 'k2', owner: 'o', priority: 1 }]);
  const signalled: SignalResult[] = await engine.signalMany([{ runId: many[0].run?.id ?? '', name: 'approve', payload: { ok: true } }]);
  console.log(many[0].error?.code, signalled[0].ok);
  const run: Run = await engine.start('story', { topic: 'storm' }, { idempotencyKey: 'k', owner: 'o', priority: 1 });
  await engine.setPriority(run.id, 5);
  await engine.rewind(run.id, 'outline');
  const page = await engine.list({ status: 'failed', limit: 10, errorClass: 'fatal' });
  const snap = await engine.snapshot(run.id);
  const last: number = snap.lastEventId;
  for (const [stream, { attemptStart, end }] of Object.entries(snap.streams)) console.log(stream, end - attemptStart);
  for await (const e of engine.events(run.id, { after: last })) {
    const event: StoryEvent = e;
    if (event.kind === 'transient') continue;
  }
  const response: Response = engine.sseResponse(run.id, { lastEventId: '3', signal: AbortSignal.timeout(1000), heartbeatMs: 15000 });
  try {
    await engine.get('x');
  } catch (e) {
    if (e instanceof NotFoundError) console.log(e.code, e.message);
    if (e instanceof StoryloomError && e.code === 'not_found') console.log(e.errorClass);
    if (e instanceof ProviderError && e.code === 'provider') console.log(e.message);
  }
  console.log(page.nextCursor, response.status);
  await engine.close();
}
