#!/usr/bin/env node
// Cost of the Node binding, printed as JSON (npm run bench).
//
// host_step: one run awaits K new no-op host steps, `await ctx.step('s'+i, () =>
//   null)`, timed inside the workflow function from before the first step to
//   after the K-th, divided by K: the amortized round trip of a JS step
//   (step_begin through the C ABI, the JS call, JSON, step_complete; the store
//   commits on the engine's writer thread). Also start-to-completed / K. The
//   method of the C++ host_step section (bench/host_step.cc) and of
//   bench/python/step_overhead.py.
// host_step_under_load: L such runs at once; wall time / (L * K), and the
//   per-step time inside each run. Steps that await nothing but the engine
//   complete in microtasks, so the runs take turns on the JS thread rather
//   than interleave step by step: the aggregate is the figure that counts.
// throughput: N runs of a one-step workflow started from JS by C concurrent
//   "clients" (start() calls in flight; BENCH_CLIENTS, default 8 as the C++
//   figure uses, and 64), until the store has no queued or running run
//   (polled every 2 ms), every run then checked completed outside the timed
//   window: runs/s. The method of the C++ throughput section (bench/throughput.cc).
//
// Medians over R repetitions, each on a fresh engine and SQLite file, at
// BENCH_DURABILITY (full, the default: every group commit fsynced; or normal).
// STORYLOOM_BENCH_BIN=path/to/storyloom_bench also runs the C++ throughput
// section with the same N and the first C, and prints the ratios.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Engine } from 'storyloom';

const env = (name, fallback) => {
  const n = Number(process.env[name] ?? fallback);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got ${process.env[name]}`);
  return n;
};
const STEPS = env('BENCH_STEPS', 5000);
const RUNS = env('BENCH_RUNS', 5000);
const REPEAT = env('BENCH_REPEAT', 3);
const LOAD_RUNS = env('BENCH_LOAD_RUNS', 4);
const CLIENTS = (process.env.BENCH_CLIENTS ?? '8,64').split(',').map((c) => {
  const n = Number(c);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`BENCH_CLIENTS must be positive integers separated by commas, got ${process.env.BENCH_CLIENTS}`);
  return n;
});
const DURABILITY = process.env.BENCH_DURABILITY ?? 'full';
if (!['full', 'normal'].includes(DURABILITY)) throw new Error(`BENCH_DURABILITY must be full or normal, got ${DURABILITY}`);
const TARGET_US_PER_STEP = 30;

const round3 = (x) => Math.round(x * 1000) / 1000;
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const now = () => Number(process.hrtime.bigint()) / 1e3; // µs
const load1 = () => round3(os.loadavg()[0]);
const log = (text) => process.stderr.write(`${text}\n`);

/** A fresh engine on a temporary SQLite file, closed and removed by `f`'s end. */
async function withEngine(f) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'storyloom-bench-'));
  const engine = await Engine.open({ store: `sqlite:${path.join(dir, 'bench.db')}`, pollIntervalMs: 5, durability: DURABILITY });
  try {
    return await f(engine);
  } finally {
    await engine.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Polls until every run is completed in the store (runs/s counts confirmed completions). */
async function allCompleted(engine, ids) {
  const pending = new Set(ids);
  while (pending.size > 0) {
    for (const id of [...pending]) {
      const run = await engine.get(id);
      if (run.status === 'completed') pending.delete(id);
      else if (run.status === 'failed' || run.status === 'cancelled') throw new Error(`run ${id} ${run.status}`);
      else break; // runs complete roughly in order: wait for this one first
    }
    if (pending.size > 0) await new Promise((r) => setTimeout(r, 2));
  }
}

/**
 * The throughput section's wait, the C++ section's method: the store has no
 * queued or running run (polled every 2 ms); every run is then checked
 * completed outside the timed window (countCompleted).
 */
async function noneUnfinished(engine) {
  const deadline = Date.now() + 600_000;
  for (;;) {
    const queued = await engine.list({ status: 'queued', limit: 1 });
    const running = await engine.list({ status: 'running', limit: 1 });
    if (queued.runs.length === 0 && running.runs.length === 0) return;
    if (Date.now() > deadline) throw new Error('runs still unfinished after 600 s');
    await new Promise((r) => setTimeout(r, 2));
  }
}

async function countCompleted(engine) {
  let count = 0;
  let after;
  for (;;) {
    const page = await engine.list({ status: 'completed', limit: 1000, after });
    count += page.runs.length;
    if (!page.nextCursor) return count;
    after = page.nextCursor;
  }
}

function stepsWorkflow(engine, inside) {
  const names = Array.from({ length: STEPS }, (_, i) => `s${i}`);
  engine.workflow('host_step', async (ctx, input) => {
    const t0 = now();
    for (const name of names) await ctx.step(name, () => null);
    inside.push({ rep: input.rep, us: now() - t0 });
    return { steps: STEPS };
  });
  engine.launch();
}

async function hostStep() {
  return withEngine(async (engine) => {
    const inside = [];
    stepsWorkflow(engine, inside);
    const reps = [];
    for (let rep = 0; rep < REPEAT; rep++) {
      log(`host_step: repetition ${rep + 1} of ${STEPS} steps...`);
      const t0 = now();
      const { id } = await engine.start('host_step', { rep });
      await allCompleted(engine, [id]);
      const total = now() - t0;
      reps.push({ us_per_step_inside_workflow: round3(inside.at(-1).us / STEPS), us_per_step_start_to_completed: round3(total / STEPS) });
    }
    const per = median(reps.map((r) => r.us_per_step_inside_workflow));
    return {
      what: `one run awaits ${STEPS} new no-op JS host steps; inside the workflow function / K`,
      repetitions: reps,
      us_per_step_median: per,
      us_per_step_start_to_completed_median: median(reps.map((r) => r.us_per_step_start_to_completed)),
      target_us_per_step: TARGET_US_PER_STEP,
      meets_target: per <= TARGET_US_PER_STEP,
    };
  });
}

async function hostStepUnderLoad() {
  return withEngine(async (engine) => {
    const inside = [];
    stepsWorkflow(engine, inside);
    const reps = [];
    for (let rep = 0; rep < REPEAT; rep++) {
      log(`host_step_under_load: repetition ${rep + 1}, ${LOAD_RUNS} runs of ${STEPS} steps at once...`);
      inside.length = 0;
      const t0 = now();
      const ids = await Promise.all(Array.from({ length: LOAD_RUNS }, (_, i) => engine.start('host_step', { rep, i }).then((r) => r.id)));
      await allCompleted(engine, ids);
      const total = now() - t0;
      reps.push({
        us_per_step_aggregate: round3(total / (LOAD_RUNS * STEPS)),
        us_per_step_inside_each_run_median: round3(median(inside.map((x) => x.us / STEPS))),
      });
    }
    return {
      what: `${LOAD_RUNS} runs of ${STEPS} no-op JS steps at once; wall time / (runs * K), and inside each run / K`,
      repetitions: reps,
      us_per_step_aggregate_median: median(reps.map((r) => r.us_per_step_aggregate)),
      us_per_step_inside_each_run_median: median(reps.map((r) => r.us_per_step_inside_each_run_median)),
    };
  });
}

async function throughputWith(clients) {
  const reps = [];
  for (let rep = 0; rep < REPEAT; rep++) {
    log(`throughput: repetition ${rep + 1}, ${RUNS} single-step runs from ${clients} clients...`);
    reps.push(
      await withEngine(async (engine) => {
        engine.workflow('noop', async (ctx) => ctx.step('s', () => ({ ok: true })));
        engine.launch();
        const ids = [];
        let next = 0;
        const cpu0 = process.cpuUsage();
        const t0 = now();
        const client = async () => {
          while (next < RUNS) {
            next++;
            ids.push((await engine.start('noop', {})).id);
          }
        };
        await Promise.all(Array.from({ length: clients }, client));
        const started = now();
        await noneUnfinished(engine);
        const seconds = (now() - t0) / 1e6;
        const cpu = process.cpuUsage(cpu0);
        const completed = await countCompleted(engine);
        if (completed !== RUNS) throw new Error(`${completed} of ${RUNS} runs completed`);
        return {
          runs_per_s: round3(RUNS / seconds),
          seconds: round3(seconds),
          starts_per_s: round3(RUNS / ((started - t0) / 1e6)),
          process_cpu_us_per_run: round3((cpu.user + cpu.system) / RUNS),
        };
      }),
    );
  }
  return { clients, repetitions: reps, runs_per_s_median: median(reps.map((r) => r.runs_per_s)) };
}

async function throughput() {
  const byClients = [];
  for (const clients of CLIENTS) byClients.push(await throughputWith(clients));
  const best = byClients.reduce((a, b) => (b.runs_per_s_median > a.runs_per_s_median ? b : a));
  return {
    what: `${RUNS} runs of a one-step workflow started from JS by C concurrent start() callers; runs / (first start .. all completed in the store)`,
    by_clients: byClients,
    runs_per_s_median: byClients[0].runs_per_s_median,
    clients_of_that: byClients[0].clients,
    best_runs_per_s: best.runs_per_s_median,
    best_clients: best.clients,
  };
}

function cppThroughput(bin) {
  const clients = String(CLIENTS[0]);
  log(`cpp: ${bin} --only throughput --runs ${RUNS} --clients ${clients} --compact`);
  const out = execFileSync(bin, ['--only', 'throughput', '--runs', String(RUNS), '--clients', clients, '--compact'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  return JSON.parse(out).throughput.best_runs_per_s;
}

const loadBefore = load1();
const out = {
  params: { steps: STEPS, runs: RUNS, repetitions: REPEAT, load_runs: LOAD_RUNS, clients: CLIENTS, durability: DURABILITY },
  machine: { node: process.version, nproc: os.availableParallelism?.() ?? os.cpus().length, storyloom: Engine.version() },
  host_step: await hostStep(),
  host_step_under_load: await hostStepUnderLoad(),
  throughput: await throughput(),
};
if (process.env.STORYLOOM_BENCH_BIN) {
  const cpp = cppThroughput(process.env.STORYLOOM_BENCH_BIN);
  out.cpp_throughput = { clients: CLIENTS[0], runs_per_s: cpp };
  // Same number of concurrent starts (JS promises, C++ threads), and JS's best.
  out.ratio_js_to_cpp_throughput = round3(out.throughput.runs_per_s_median / cpp);
  out.ratio_js_best_to_cpp_throughput = round3(out.throughput.best_runs_per_s / cpp);
  out.meets_target_of_cpp = out.ratio_js_to_cpp_throughput >= 0.8; // the performance target: ≥ 0.8 × C++
}
out.load_1m_before_after = [loadBefore, load1()];
process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
