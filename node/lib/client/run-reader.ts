// RunReader: follows a run's server-sent events in a browser (EventSource) and
// keeps what a page shows: the run's status and progress, and each stream's
// current text. EventSource resumes by itself after a dropped connection,
// sending Last-Event-ID; when it gives up (a browser does while offline) the
// reader opens a new one after the last event seen (`?after=`). It drops
// stored events it has applied (by id) and chunk bytes it has (by offset),
// and resets a stream at a new llm attempt. No Node API.
import { applyAttempt, applyChunk, type ChunkData, type StreamTexts } from './stream-text';

/** What the reader knows of the run. */
export interface RunView {
  /** queued | running | sleeping | waiting | completed | failed | cancelled ('' until known). */
  status: string;
  /** The run's last progress value (ctx.progress), or null. */
  progress: unknown;
  streams: StreamTexts;
  /** The last stream that received text. */
  activeStream: string | null;
  /** The run's output once completed. */
  output: unknown;
  /** The run's error object once failed. */
  error: unknown;
  /** The id of the last stored event applied; a reader resumes after it. */
  lastEventId: number;
  /** Chunks that started past their stream's end (bytes were missed; never expected). */
  gaps: number;
}

/** One event as the reader received it: id 0 for a transient chunk. */
export interface ReaderEvent {
  id: number;
  type: string;
  data: unknown;
}

/** The part of the browser's EventSource the reader uses (a polyfill can stand in). */
export interface EventSourceLike {
  readonly readyState: number;
  addEventListener(type: string, listener: (event: MessageEvent<string>) => void): void;
  close(): void;
  onopen: ((event: Event) => unknown) | null;
  onerror: ((event: Event) => unknown) | null;
}

export type EventSourceConstructor = new (url: string) => EventSourceLike;

export interface RunReaderOptions {
  /** Start from this state (e.g. rendered by the server from a snapshot). */
  initial?: Partial<RunView>;
  /**
   * The URL to reconnect to after the EventSource gave up (a browser does
   * when the network is down: it closes instead of retrying), resuming after
   * `lastEventId`. Default: `url` with its `after` query parameter set.
   */
  resumeUrl?: (url: string, lastEventId: number) => string;
  /** More event types to receive (custom ctx.emit types); the engine's are always received. */
  eventTypes?: string[];
  /** The EventSource class [globalThis.EventSource]. */
  EventSource?: EventSourceConstructor;
}

/** The engine's event types (docs/design.md); custom ones are added with eventTypes. */
export const RUN_EVENT_TYPES = [
  'run.created', 'run.queued', 'run.started', 'run.resumed', 'run.retried', 'run.released', 'run.recovered',
  'run.rewound', 'run.priority', 'run.sleeping', 'run.waiting', 'run.completed', 'run.failed', 'run.cancelled',
  'step.completed', 'step.failed', 'step.retrying', 'signal.received', 'progress', 'artifact', 'chunk',
  'llm.attempt', 'llm.waiting',
];

const STATUS_OF: Record<string, string> = {
  'run.created': 'queued',
  'run.queued': 'queued',
  'run.resumed': 'queued',
  'run.retried': 'queued',
  'run.released': 'queued',
  'run.recovered': 'queued',
  'run.rewound': 'queued',
  'run.started': 'running',
  'run.waiting': 'waiting',
  'run.sleeping': 'sleeping',
  'run.completed': 'completed',
  'run.failed': 'failed',
  'run.cancelled': 'cancelled',
};

const FINISHED = new Set(['run.completed', 'run.failed', 'run.cancelled']);

/** A fresh view, or `initial` completed with defaults. */
export function emptyView(initial: Partial<RunView> = {}): RunView {
  return {
    status: '',
    progress: null,
    streams: {},
    activeStream: null,
    output: undefined,
    error: undefined,
    lastEventId: 0,
    gaps: 0,
    ...initial,
  };
}

/**
 * Applies one event to a view (pure; the same view when nothing changed): a
 * stored event at or before lastEventId is a duplicate after a reconnect.
 */
export function applyRunEvent(view: RunView, event: ReaderEvent): RunView {
  if (event.id > 0 && event.id <= view.lastEventId) return view;
  let next = view;
  const data = (event.data ?? {}) as Record<string, unknown>;
  if (event.type === 'chunk') {
    const applied = applyChunk(view.streams, event.data as ChunkData);
    if (applied.changed || applied.gap) {
      next = {
        ...view,
        streams: applied.streams,
        activeStream: applied.changed ? (event.data as ChunkData).stream : view.activeStream,
        gaps: view.gaps + (applied.gap ? 1 : 0),
      };
    }
  } else {
    next = { ...view };
    if (event.type in STATUS_OF) next.status = STATUS_OF[event.type];
    if (event.type === 'progress') next.progress = event.data;
    if (event.type === 'run.completed') next.output = data.output;
    if (event.type === 'run.failed') next.error = data.error;
    if (event.type === 'llm.attempt') next.streams = applyAttempt(next.streams, data.stream, data.offset);
  }
  if (event.id > 0) next = { ...next, lastEventId: event.id };
  return next;
}

/**
 * Follows `url` (an SSE endpoint of the run, e.g. one answering with
 * engine.sseResponse(id, {lastEventId})) until the run finishes or close().
 * `onChange` gets the new view and the events after each batch (one per task).
 */
/** `url` with its `after` query parameter set to `after` (relative URLs too). */
export function withAfter(url: string, after: number): string {
  if (/[?&]after=[^&#]*/.test(url)) return url.replace(/([?&])after=[^&#]*/, `$1after=${after}`);
  const hash = url.indexOf('#');
  const [base, fragment] = hash < 0 ? [url, ''] : [url.slice(0, hash), url.slice(hash)];
  return `${base}${base.includes('?') ? '&' : '?'}after=${after}${fragment}`;
}

const RECONNECT_FIRST_MS = 1000;
const RECONNECT_MAX_MS = 10000;

export class RunReader {
  #view: RunView;
  #source!: EventSourceLike;
  #url: string;
  #options: RunReaderOptions;
  #Source: EventSourceConstructor;
  #lastId = 0;
  #stopped = false;
  #retryMs = RECONNECT_FIRST_MS;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #listeners = new Set<(view: RunView, events: ReaderEvent[]) => void>();
  #connection: 'connecting' | 'live' | 'reconnecting' | 'closed' = 'connecting';
  #connectionListeners = new Set<(connection: string) => void>();
  #batch: ReaderEvent[] = [];
  #scheduled = false;

  constructor(url: string, options: RunReaderOptions = {}) {
    this.#view = emptyView(options.initial);
    this.#lastId = this.#view.lastEventId;
    this.#url = url;
    this.#options = options;
    const Source = options.EventSource ?? (globalThis as { EventSource?: EventSourceConstructor }).EventSource;
    if (!Source) throw new TypeError('RunReader: no EventSource in this environment; pass options.EventSource');
    this.#Source = Source;
    this.#open(url);
  }

  #open(url: string): void {
    const source = new this.#Source(url);
    this.#source = source;
    const onEvent = (e: MessageEvent<string>) => this.#receive(e);
    for (const type of new Set([...RUN_EVENT_TYPES, ...(this.#options.eventTypes ?? [])])) {
      source.addEventListener(type, onEvent);
    }
    source.onopen = () => {
      this.#retryMs = RECONNECT_FIRST_MS;
      this.#setConnection('live');
    };
    source.onerror = () => {
      if (this.#stopped) return;
      if (source.readyState !== 2) return this.#setConnection('reconnecting'); // it retries by itself
      // It gave up (offline, a failed reconnect): open a new one after the
      // last event seen, backing off up to 10 s, until the run has finished.
      this.#setConnection('reconnecting');
      this.#retryTimer = setTimeout(() => {
        if (this.#stopped) return;
        const resume = this.#options.resumeUrl ?? withAfter;
        this.#open(resume(this.#url, this.#lastId));
      }, this.#retryMs);
      this.#retryMs = Math.min(this.#retryMs * 2, RECONNECT_MAX_MS);
    };
  }

  /** The current view. */
  get view(): RunView {
    return this.#view;
  }

  /** The current text of `stream` ('' when none yet). */
  text(stream: string): string {
    return this.#view.streams[stream]?.text ?? '';
  }

  /** connecting | live | reconnecting (EventSource retries by itself) | closed. */
  get connection(): string {
    return this.#connection;
  }

  /** Calls `listener` after each batch of events; returns a function that removes it. */
  onChange(listener: (view: RunView, events: ReaderEvent[]) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Calls `listener` when the connection state changes; returns a function that removes it. */
  onConnection(listener: (connection: string) => void): () => void {
    this.#connectionListeners.add(listener);
    return () => this.#connectionListeners.delete(listener);
  }

  /** Stops following (also done once the run has finished). */
  close(): void {
    this.#stopped = true;
    if (this.#retryTimer !== undefined) clearTimeout(this.#retryTimer);
    this.#source.close();
    this.#setConnection('closed');
  }

  #setConnection(connection: 'connecting' | 'live' | 'reconnecting' | 'closed'): void {
    if (connection === this.#connection) return;
    this.#connection = connection;
    for (const listener of this.#connectionListeners) listener(connection);
  }

  #receive(e: MessageEvent<string>): void {
    // A transient chunk has no id of its own (lastEventId then names the last
    // stored event), so chunks are deduplicated by offset, not id.
    const id = e.type === 'chunk' ? 0 : Number(e.lastEventId) || 0;
    this.#lastId = Math.max(this.#lastId, Number(e.lastEventId) || 0);
    let data: unknown;
    try {
      data = e.data === '' ? {} : JSON.parse(e.data);
    } catch {
      return; // not an event of the engine
    }
    this.#batch.push({ id, type: e.type, data });
    if (FINISHED.has(e.type)) this.close();
    if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(() => this.#flush());
    }
  }

  #flush(): void {
    this.#scheduled = false;
    const events = this.#batch;
    this.#batch = [];
    this.#view = events.reduce(applyRunEvent, this.#view);
    // Every batch is told, also one that changed nothing here: a listener may
    // keep more of the run (artifacts, custom events) from the events.
    for (const listener of this.#listeners) listener(this.#view, events);
  }
}
