// GET /api/health: the store answers, the workers execute a run (a probe run,
// deleted afterwards), and the queue's depth. 200 when healthy, else 503.
import { Engine } from '@/lib/server/storyloom';
import { getEngine, HEALTH_PROBE_WORKFLOW, storeUrl } from '@/lib/server/engine';
import { json } from '@/lib/server/http';

export const dynamic = 'force-dynamic';

const PROBE_TIMEOUT_MS = 5000;
const COUNT_LIMIT = 1000;

async function count(engine: Engine, status: 'queued' | 'running' | 'waiting' | 'sleeping'): Promise<number> {
  return (await engine.list({ status, limit: COUNT_LIMIT })).runs.length;
}

export async function GET(): Promise<Response> {
  const started = Date.now();
  const report: Record<string, unknown> = { pid: process.pid, version: Engine.version() };
  let ok = true;
  let engine: Engine;
  try {
    engine = await getEngine();
  } catch (e) {
    return json({ ok: false, ...report, store: { ok: false, url: storeUrl(), error: (e as Error).message } }, 503);
  }
  try {
    await engine.list({ limit: 1 });
    report.store = { ok: true, url: storeUrl() };
  } catch (e) {
    ok = false;
    report.store = { ok: false, url: storeUrl(), error: (e as Error).message };
  }
  try {
    const probe = await engine.start(HEALTH_PROBE_WORKFLOW, {});
    let status = probe.status;
    while (!['completed', 'failed', 'cancelled'].includes(status) && Date.now() - started < PROBE_TIMEOUT_MS) {
      await new Promise((r) => setTimeout(r, 10));
      status = (await engine.get(probe.id)).status;
    }
    if (status === 'completed') {
      report.workers = { ok: true, probeMs: Date.now() - started };
      await engine.delete(probe.id);
    } else {
      ok = false;
      report.workers = { ok: false, error: `the probe run is still ${status} after ${PROBE_TIMEOUT_MS} ms`, probeRun: probe.id };
    }
  } catch (e) {
    ok = false;
    report.workers = { ok: false, error: (e as Error).message };
  }
  try {
    report.queue = {
      queued: await count(engine, 'queued'),
      running: await count(engine, 'running'),
      waiting: await count(engine, 'waiting'),
      sleeping: await count(engine, 'sleeping'),
      countsCappedAt: COUNT_LIMIT,
    };
  } catch (e) {
    ok = false;
    report.queue = { error: (e as Error).message };
  }
  return json({ ok, ...report }, ok ? 200 : 503);
}
