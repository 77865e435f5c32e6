// One storyloom engine per server process, opened and launched at server
// start by src/instrumentation.ts (so stories a dead server left behind
// resume with no request), or by the first request that needs it. It lives on
// globalThis so that a dev-server hot reload, which evaluates this module
// again, reuses it instead of opening the store twice. (After a reload the
// workflow keeps the code it was registered with; restart `next dev` to pick
// up workflow changes.)
import { STORY_WORKFLOW } from '../story';
import { imageOptions } from './images-config';
import { llmOptions } from './llm-config';
import { Engine } from './storyloom';
import { registerStoryWorkflow } from './story-workflow';
import { userLimits } from './user-limits';
import { configureOutboundWebhooks } from './webhooks';

export const HEALTH_PROBE_WORKFLOW = 'health.probe';

/** STORYLOOM_STORE, default sqlite:./storyloom.db (relative to where the server starts). */
export function storeUrl(): string {
  return process.env.STORYLOOM_STORE || 'sqlite:./storyloom.db';
}

/** The store for log lines: a PostgreSQL URL's password is never printed. */
export function storeForLog(store: string = storeUrl()): string {
  if (!/^postgres(ql)?:\/\//.test(store)) return store;
  try {
    const url = new URL(store);
    if (url.password) url.password = '***';
    return url.toString();
  } catch {
    return 'a PostgreSQL URL (unparsable, not printed)';
  }
}

const holder = globalThis as typeof globalThis & { __storyloomEngine?: Promise<Engine> };

async function open(): Promise<Engine> {
  const workers = Number(process.env.STORYLOOM_WORKERS ?? 4);
  const engine = await Engine.open({
    store: storeUrl(),
    workers: Number.isInteger(workers) && workers > 0 ? workers : 4,
    llm: llmOptions(),
    images: imageOptions(),
  });
  // Every workflow is registered before launch: a recovered run finds its code.
  registerStoryWorkflow(engine, userLimits());
  // /api/health runs one of these to prove the workers execute runs.
  engine.workflow(HEALTH_PROBE_WORKFLOW, async (ctx) => ctx.step('pong', () => Date.now()));
  // Read before launch: once launched, a queued story may turn running between
  // two reads and be missed by both.
  const resuming = await unfinishedStories(engine);
  await configureOutboundWebhooks(engine);
  engine.launch();
  console.log(
    `storyloom: engine launched on ${storeForLog()}; ` +
      (resuming.length === 0
        ? 'no story to resume'
        : `resuming ${resuming.length} ${resuming.length === 1 ? 'story' : 'stories'}: ${resuming.join(', ')}`),
  );
  return engine;
}

/**
 * The stories this engine picks up at start: those still marked running (by
 * a server that died: they resume once its lease expires) and queued ones.
 * Sleeping and waiting stories resume on their timer or signal.
 */
async function unfinishedStories(engine: Engine): Promise<string[]> {
  // Running first: the engine may requeue a dead server's run meanwhile, never the reverse before launch.
  const ids = new Set<string>();
  for (const status of ['running', 'queued'] as const) {
    let after = '';
    do {
      const page = await engine.list({ workflow: STORY_WORKFLOW, status, limit: 1000, after });
      for (const r of page.runs) ids.add(r.id);
      after = page.nextCursor;
    } while (after !== '');
  }
  return [...ids];
}

/** The process's engine, opened and launched on first use. A failed open is retried on the next call. */
export function getEngine(): Promise<Engine> {
  holder.__storyloomEngine ??= open().catch((e: unknown) => {
    holder.__storyloomEngine = undefined;
    throw e;
  });
  return holder.__storyloomEngine;
}
