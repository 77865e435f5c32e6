// The live view's state and the one reducer that builds it from events: the
// server applies the stored events up to the snapshot, the browser applies
// the live ones after it, so both see the same thing.
import type { Outline, PageArtifact, StoryArtifact, StoryInput, StoryProgress, Writer } from './story';
import { progressOf, writerOf } from './story';

/**
 * One stream's text as shown: the current llm attempt's bytes
 * [start, bytes) of the stream. Offsets count UTF-8 bytes and grow
 * monotonically across attempts; a new attempt (a retry, or a step executed
 * again after a crash) starts at the stream's end and replaces the text.
 */
export interface StreamText {
  text: string;
  /** Where the shown attempt's text begins in the stream (its attempt_start). */
  start: number;
  /** The stream offset just past the last byte received. */
  bytes: number;
}

export interface LogEntry {
  id: number;
  type: string;
  summary: string;
}

export interface StoryState {
  id: string;
  status: string;
  input: StoryInput;
  progress: StoryProgress;
  outline: Outline | null;
  pages: Record<number, PageArtifact>;
  story: StoryArtifact | null;
  streams: Record<string, StreamText>;
  /** The stream that received text last. */
  activeStream: string | null;
  /** Who writes the text: from the last llm.attempt event, else the engine's default provider. */
  writer: Writer;
  error: string | null;
  /** The last stored event applied; live events resume after it. */
  lastEventId: number;
  /** Chunks that started past the end of their stream (never expected). */
  gaps: number;
  chunks: number;
  log: LogEntry[];
  /** The outline was approved (its `approve` signal arrived), from this tab or another. */
  approved?: boolean;
}

export interface EventIn {
  /** 0 for live (transient) chunks. */
  id: number;
  type: string;
  data: unknown;
}

const LOG_LIMIT = 400;

const STATUS_OF: Record<string, string> = {
  'run.created': 'queued',
  'run.queued': 'queued',
  'run.resumed': 'queued',
  'run.retried': 'queued',
  'run.released': 'queued',
  'run.recovered': 'queued',
  'run.started': 'running',
  'run.waiting': 'waiting',
  'run.sleeping': 'sleeping',
  'run.completed': 'completed',
  'run.failed': 'failed',
  'run.cancelled': 'cancelled',
};

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export interface ChunkData {
  stream: string;
  /** The stream offset of the chunk's first byte. */
  offset: number;
  text: string;
  /** Where the chunk's llm attempt begins in the stream; absent from host chunks of older engines. */
  attempt_start?: number;
}

/**
 * The stream's text once an attempt starting at `attemptStart` is known: a
 * later attempt replaces the text shown (retried text replaces, never
 * appends); the same one keeps it.
 */
function forAttempt(current: StreamText, attemptStart: number): StreamText {
  if (attemptStart <= current.start) return current;
  return { text: '', start: attemptStart, bytes: attemptStart };
}

/**
 * Applies a chunk {stream, offset, text, attempt_start} once: a chunk of a
 * newer attempt first clears the stream, a chunk of an older one is dropped,
 * and of the rest only the bytes past what the stream has are appended (the
 * same chunk arrives live, then stored; overlaps are cut by offset).
 */
function applyChunk(state: StoryState, data: ChunkData): StoryState {
  const known = state.streams[data.stream] ?? { text: '', start: 0, bytes: 0 };
  const attemptStart = typeof data.attempt_start === 'number' ? data.attempt_start : known.start;
  if (attemptStart < known.start) return state; // an attempt the stream has moved past
  const current = forAttempt(known, attemptStart);
  const bytes = encoder.encode(data.text);
  const end = data.offset + bytes.length;
  if (end <= current.bytes) {
    // Seen already; only a newer attempt's (empty) start is news.
    return current === known ? state : { ...state, streams: { ...state.streams, [data.stream]: current } };
  }
  let gaps = state.gaps;
  let fresh = data.text;
  if (data.offset > current.bytes) gaps++;
  else if (data.offset < current.bytes) fresh = decoder.decode(bytes.slice(current.bytes - data.offset));
  return {
    ...state,
    gaps,
    chunks: state.chunks + 1,
    activeStream: data.stream,
    streams: { ...state.streams, [data.stream]: { text: current.text + fresh, start: current.start, bytes: end } },
  };
}

/** An llm.attempt {stream, offset}: the attempt's text starts at `offset`, so older text is cleared at once. */
function applyAttempt(state: StoryState, data: { stream?: string; offset?: number }): StoryState {
  if (typeof data.stream !== 'string' || typeof data.offset !== 'number') return state;
  const known = state.streams[data.stream];
  if (!known) return state;
  const current = forAttempt(known, data.offset);
  return current === known ? state : { ...state, streams: { ...state.streams, [data.stream]: current } };
}

function summarize(type: string, data: unknown): string {
  const d = (data ?? {}) as Record<string, unknown>;
  if (type === 'artifact') return `${d.key} v${d.version}`;
  if (type.startsWith('step.')) return `${d.name ?? ''}${d.attempt ? ` (attempt ${d.attempt})` : ''}`;
  if (type === 'progress') return `${d.stage ?? ''} ${d.pagesCompleted ?? 0}/${d.pagesTotal ?? 0}`;
  if (type === 'llm.attempt') return `${d.name} (attempt ${d.attempt}) by ${d.provider} (${d.model})`;
  if (type === 'llm.waiting') return `${d.name} waits for ${d.resource}`;
  if (type === 'run.failed' || type === 'run.cancelled') return JSON.stringify(d).slice(0, 200);
  return '';
}

function errorText(data: unknown): string {
  const d = (data ?? {}) as { error?: { message?: string }; message?: string };
  return d.error?.message ?? d.message ?? JSON.stringify(data);
}

export function applyEvent(state: StoryState, event: EventIn): StoryState {
  if (event.id > 0 && event.id <= state.lastEventId) return state; // a duplicate after a reconnect
  let next = state;
  if (event.type === 'chunk') {
    next = applyChunk(state, event.data as ChunkData);
  } else {
    next = { ...state };
    if (event.type in STATUS_OF) next.status = STATUS_OF[event.type];
    if (event.type === 'run.failed') next.error = errorText(event.data);
    if (event.type === 'signal.received' && (event.data as { name?: string })?.name === 'approve') next.approved = true;
    if (event.type === 'progress') next.progress = progressOf(next.status, event.data, state.input.pages);
    if (event.type === 'llm.attempt') {
      const a = event.data as { provider: string; model: string; stream?: string; offset?: number };
      next.writer = writerOf(a.provider, a.model);
      next = applyAttempt(next, a);
    }
    if (event.type === 'artifact') {
      const a = event.data as { key: string; value: unknown };
      if (a.key === 'outline') next.outline = a.value as Outline;
      else if (a.key === 'story') next.story = a.value as StoryArtifact;
      else if (a.key.startsWith('page/')) next.pages = { ...next.pages, [Number(a.key.slice(5))]: a.value as PageArtifact };
    }
    next.log = [...state.log, { id: event.id, type: event.type, summary: summarize(event.type, event.data) }].slice(-LOG_LIMIT);
  }
  if (next.status === 'failed' || next.status === 'cancelled') {
    next = { ...next, progress: progressOf(next.status, next.progress, state.input.pages) };
  }
  if (event.id > 0) next = { ...next, lastEventId: event.id };
  return next;
}

/** The stream that holds a page's current text: its last revision, else its first draft. */
export function pageStreams(state: StoryState, page: number): string[] {
  const prefix = `page/${page}/`;
  return Object.keys(state.streams).filter((s) => s.startsWith(prefix));
}
