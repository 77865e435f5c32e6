// Compiled with `tsc --noEmit` by types.test.mjs: the shipped declarations
// type a typical program (not run).
import { Engine, NotFoundError, StoryloomError, type Run, type StoryEvent, type Context } from 'storyloom';

interface StoryInput {
  topic: string;
}

export async function main(): Promise<void> {
  const engine: Engine = await Engine.open({ store: 'sqlite:./x.db', workers: 2 });
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
  const run: Run = await engine.start('story', { topic: 'storm' }, { idempotencyKey: 'k', owner: 'o', priority: 1 });
  const page = await engine.list({ status: 'failed', limit: 10 });
  const snap = await engine.snapshot(run.id);
  const last: number = snap.lastEventId;
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
  }
  console.log(page.nextCursor, response.status);
  await engine.close();
}
