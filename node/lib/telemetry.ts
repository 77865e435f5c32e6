// OpenTelemetry through @opentelemetry/api, when the host has it installed
// (an optional peer dependency: without it nothing here does anything). The
// engine's lifecycle reports (storyloom.h sl_engine_set_lifecycle) become
// spans: one per execution of a run, a child of the span that was active at
// start() (the traceparent stored with the run, so also after a crash and a
// resume in another process), and one per step attempt, a child of its run's.
/* eslint-disable @typescript-eslint/no-explicit-any */

type OtelApi = any;

let loaded: OtelApi | null | undefined;

/** @opentelemetry/api when it can be loaded, else undefined (looked up once). */
export function openTelemetryApi(): OtelApi | undefined {
  if (loaded === undefined) {
    try {
      loaded = require('@opentelemetry/api');
    } catch {
      loaded = null;
    }
  }
  return loaded ?? undefined;
}

/** The W3C traceparent of the span active in the current context, or ''. */
export function activeTraceParent(api: OtelApi): string {
  const span = api.trace.getSpan(api.context.active());
  const sc = span?.spanContext();
  if (!sc || !api.isSpanContextValid(sc)) return '';
  return `00-${sc.traceId}-${sc.spanId}-${(sc.traceFlags & 0xff).toString(16).padStart(2, '0')}`;
}

const TRACE_PARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

function remoteParent(api: OtelApi, traceParent: string): unknown {
  const m = TRACE_PARENT.exec(traceParent);
  if (!m) return api.ROOT_CONTEXT;
  return api.trace.setSpanContext(api.ROOT_CONTEXT, {
    traceId: m[1],
    spanId: m[2],
    traceFlags: parseInt(m[3], 16),
    isRemote: true,
  });
}

/** Maps lifecycle reports (parsed JSON) to spans of the tracer named 'storyloom'. */
export class LifecycleSpans {
  readonly #api: OtelApi;
  readonly #runs = new Map<string, any>(); // run id -> span of its current execution
  readonly #steps = new Map<string, any>(); // "run id/seq" -> span of the attempt in progress

  constructor(api: OtelApi) {
    this.#api = api;
  }

  report(r: any): void {
    // Looked up each time: a tracer provider registered after open() is used too.
    const tracer = this.#api.trace.getTracer('storyloom');
    const base = { 'storyloom.run.id': r.run_id, 'storyloom.workflow': r.workflow };
    const stepKey = `${r.run_id}/${r.seq}`;
    switch (r.type) {
      case 'run.started': {
        const span = tracer.startSpan(
          `storyloom.run ${r.workflow}`,
          { startTime: r.started_at_ms, attributes: base },
          remoteParent(this.#api, r.trace_parent),
        );
        this.#runs.set(r.run_id, span);
        break;
      }
      case 'step.started': {
        const run = this.#runs.get(r.run_id);
        const parent = run ? this.#api.trace.setSpan(this.#api.ROOT_CONTEXT, run) : remoteParent(this.#api, r.trace_parent);
        const span = tracer.startSpan(
          `storyloom.step ${r.step}`,
          {
            startTime: r.started_at_ms,
            attributes: {
              ...base,
              'storyloom.step.name': r.step,
              'storyloom.step.kind': r.kind,
              'storyloom.step.seq': r.seq,
              'storyloom.step.attempt': r.attempt,
            },
          },
          parent,
        );
        this.#steps.set(stepKey, span);
        break;
      }
      case 'step.finished':
      case 'step.failed': {
        const span = this.#steps.get(stepKey);
        if (!span) break; // its start was reported before the mapper was set
        this.#steps.delete(stepKey);
        if (r.model !== undefined) span.setAttribute('storyloom.llm.model', r.model);
        const usage = r.usage ?? {};
        for (const k of ['input_tokens', 'output_tokens', 'total_tokens']) {
          if (typeof usage[k] === 'number') span.setAttribute(`storyloom.llm.${k}`, usage[k]);
        }
        if (r.type === 'step.failed') {
          span.setAttribute('storyloom.error.class', r.error_class);
          span.setAttribute('storyloom.step.will_retry', r.will_retry);
          span.setStatus({ code: this.#api.SpanStatusCode.ERROR, message: r.error_class });
        }
        span.end(r.ended_at_ms);
        break;
      }
      case 'run.finished': {
        // An attempt whose end was not reported (one a finished workflow left
        // behind) ends with the run.
        for (const [key, span] of this.#steps) {
          if (key.startsWith(`${r.run_id}/`)) {
            span.end(r.ended_at_ms);
            this.#steps.delete(key);
          }
        }
        const span = this.#runs.get(r.run_id);
        if (!span) break;
        this.#runs.delete(r.run_id);
        span.setAttribute('storyloom.run.outcome', r.outcome);
        if (r.error_class !== undefined) {
          span.setAttribute('storyloom.error.class', r.error_class);
          span.setStatus({ code: this.#api.SpanStatusCode.ERROR, message: r.error_class });
        }
        span.end(r.ended_at_ms);
        break;
      }
    }
  }
}
