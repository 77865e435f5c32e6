// OpenTelemetry metrics through @opentelemetry/api, when the host has it
// installed and has registered a meter provider (without one the API's
// instruments do nothing and the queue is never read). Counters and the step
// histogram come from the engine's lifecycle reports; the queue depth gauge
// reads the queued runs when the host's reader collects.
/* eslint-disable @typescript-eslint/no-explicit-any */

type OtelApi = any;

/** The queued runs' workflows, one entry per run (read at each collection). */
export type QueuedWorkflows = () => Promise<string[]>;

// One storyloom.queue.depth gauge per meter provider for every engine of the
// process: the SDK keeps the first registration of a name, so a second
// engine's gauge would not be observed on its own.
const queueReaders = new Set<QueuedWorkflows>();
const queuedBefore = new Set<string>(); // workflows observed with queued runs
let queueGaugeProvider: unknown;

async function observeQueue(result: any): Promise<void> {
  const depth = new Map<string, number>();
  for (const read of [...queueReaders]) {
    let workflows: string[];
    try {
      workflows = await read();
    } catch {
      continue; // its engine closed meanwhile
    }
    for (const workflow of workflows) depth.set(workflow, (depth.get(workflow) ?? 0) + 1);
  }
  // A workflow whose queue emptied reads 0, not its last value.
  for (const workflow of queuedBefore) if (!depth.has(workflow)) depth.set(workflow, 0);
  for (const [workflow, n] of depth) {
    queuedBefore.add(workflow);
    result.observe(n, { 'storyloom.workflow': workflow });
  }
}

interface Instruments {
  provider: unknown;
  runsStarted: any;
  runsCompleted: any;
  runsFailed: any;
  stepDuration: any;
  llmTokens: any;
  rateLimitPauses: any;
}

/** Maps lifecycle reports (parsed JSON) to the instruments of the meter named 'storyloom'. */
export class LifecycleMetrics {
  readonly #api: OtelApi;
  readonly #queued: QueuedWorkflows;
  #instruments: Instruments | undefined;

  constructor(api: OtelApi, queued: QueuedWorkflows) {
    this.#api = api;
    this.#queued = queued;
    queueReaders.add(queued);
    this.#current();
  }

  // Instruments of the meter provider registered now: one registered after
  // Engine.open replaces the no-op one the API hands out until then.
  #current(): Instruments {
    const provider = this.#api.metrics.getMeterProvider();
    const current = this.#instruments;
    if (current && current.provider === provider) return current;
    const meter = this.#api.metrics.getMeter('storyloom');
    if (queueGaugeProvider !== provider) {
      queueGaugeProvider = provider;
      meter
        .createObservableGauge('storyloom.queue.depth', { description: 'Runs waiting in the queue (status queued), by workflow', unit: '{run}' })
        .addCallback(observeQueue);
    }
    this.#instruments = {
      provider,
      runsStarted: meter.createCounter('storyloom.runs.started', { description: 'Runs whose first execution began', unit: '{run}' }),
      runsCompleted: meter.createCounter('storyloom.runs.completed', { description: 'Runs that completed', unit: '{run}' }),
      runsFailed: meter.createCounter('storyloom.runs.failed', { description: 'Runs that failed', unit: '{run}' }),
      stepDuration: meter.createHistogram('storyloom.step.duration', { description: 'Duration of step attempts', unit: 'ms' }),
      llmTokens: meter.createCounter('storyloom.llm.tokens', { description: 'Tokens used by llm steps, by model', unit: '{token}' }),
      rateLimitPauses: meter.createCounter('storyloom.rate_limit.pauses', {
        description: 'Step attempts refused by a rate limit (error class rate_limited)',
        unit: '{attempt}',
      }),
    };
    return this.#instruments;
  }

  report(r: any): void {
    const m = this.#current();
    const workflow = { 'storyloom.workflow': r.workflow };
    switch (r.type) {
      case 'run.started':
        if (r.first) m.runsStarted.add(1, workflow);
        break;
      case 'run.finished':
        if (r.outcome === 'completed') m.runsCompleted.add(1, workflow);
        if (r.outcome === 'failed') m.runsFailed.add(1, { ...workflow, 'storyloom.error.class': r.error_class ?? 'fatal' });
        break;
      case 'step.finished':
      case 'step.failed': {
        const kind = { ...workflow, 'storyloom.step.kind': r.kind };
        m.stepDuration.record(r.duration_ms, { ...kind, 'storyloom.step.outcome': stepOutcome(r) });
        if (r.error_class === 'rate_limited') m.rateLimitPauses.add(1, kind);
        const usage = r.usage ?? {};
        const model = { ...workflow, 'storyloom.llm.model': r.model ?? '' };
        if (typeof usage.input_tokens === 'number') m.llmTokens.add(usage.input_tokens, { ...model, 'storyloom.llm.token.type': 'input' });
        if (typeof usage.output_tokens === 'number') m.llmTokens.add(usage.output_tokens, { ...model, 'storyloom.llm.token.type': 'output' });
        break;
      }
    }
  }

  /** Stops reading this engine's queue (it is closing). */
  close(): void {
    queueReaders.delete(this.#queued);
  }
}

// completed, retrying (another attempt follows), failed, or cancelled /
// closed (an llm, http or image attempt stopped by a cancel or a close).
function stepOutcome(r: any): string {
  if (r.type === 'step.finished') return 'completed';
  if (r.error_class === 'cancelled' || r.error_class === 'closed') return r.error_class;
  return r.will_retry ? 'retrying' : 'failed';
}
