// One storyloom engine per server process. It lives on globalThis so that a
// dev-server hot reload, which evaluates this module again, reuses it instead
// of opening the store twice. (After a reload the workflow keeps the code it
// was registered with; restart `next dev` to pick up workflow changes.)
import { llmOptions } from './llm-config';
import { Engine } from './storyloom';
import { registerStoryWorkflow } from './story-workflow';

export const HEALTH_PROBE_WORKFLOW = 'health.probe';

/** STORYLOOM_STORE, default sqlite:./storyloom.db (relative to where the server starts). */
export function storeUrl(): string {
  return process.env.STORYLOOM_STORE || 'sqlite:./storyloom.db';
}

const holder = globalThis as typeof globalThis & { __storyloomEngine?: Promise<Engine> };

async function open(): Promise<Engine> {
  const workers = Number(process.env.STORYLOOM_WORKERS ?? 4);
  const engine = await Engine.open({
    store: storeUrl(),
    workers: Number.isInteger(workers) && workers > 0 ? workers : 4,
    llm: llmOptions(),
  });
  registerStoryWorkflow(engine);
  // /api/health runs one of these to prove the workers execute runs.
  engine.workflow(HEALTH_PROBE_WORKFLOW, async (ctx) => ctx.step('pong', () => Date.now()));
  return engine;
}

/** The process's engine, opened on first use. A failed open is retried on the next call. */
export function getEngine(): Promise<Engine> {
  holder.__storyloomEngine ??= open().catch((e: unknown) => {
    holder.__storyloomEngine = undefined;
    throw e;
  });
  return holder.__storyloomEngine;
}
