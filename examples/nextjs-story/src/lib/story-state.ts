// The live view's state and the one reducer that builds it from events: the
// server applies the stored events up to the snapshot, the browser applies
// the live ones after it, so both see the same thing.
import { applyAttempt, applyChunk as applyStreamChunk, type ChunkData, type StreamText } from 'storyloom/client';
import type { Outline, PageArtifact, StoryArtifact, StoryInput, StoryProgress, Writer } from './story';
import { pageNumberOf, pictureNumberOf, progressOf, writerOf } from './story';

/**
 * One stream's text as shown (storyloom/client): the current llm attempt's
 * bytes [start, bytes) of the stream; a new attempt replaces the text.
 */
export type { StreamText } from 'storyloom/client';

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
  /** Each page's latest picture (binary artifact page/N/picture), as its `artifact` event or the snapshot said. */
  pictures: Record<number, PictureState>;
  /** Pages whose picture kept failing (page.no_picture events), with why; a picture that lands later clears it. */
  noPicture: Record<number, string>;
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

export interface PictureState {
  version: number;
  contentType: string;
}

/** The custom events the live view follows besides the engine's (RunReader's eventTypes). */
export const STORY_EVENT_TYPES = ['page.no_picture', 'image.attempt'];

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
  'run.rewound': 'queued',
  'run.started': 'running',
  'run.waiting': 'waiting',
  'run.sleeping': 'sleeping',
  'run.completed': 'completed',
  'run.failed': 'failed',
  'run.cancelled': 'cancelled',
};

/**
 * Applies a chunk {stream, offset, text, attempt_start} once (storyloom/client
 * deduplicates by offset and clears a stream at a newer attempt).
 */
function applyChunk(state: StoryState, data: ChunkData): StoryState {
  const applied = applyStreamChunk(state.streams, data);
  if (!applied.changed && !applied.gap) return state;
  return {
    ...state,
    gaps: state.gaps + (applied.gap ? 1 : 0),
    chunks: state.chunks + (applied.changed ? 1 : 0),
    activeStream: applied.changed ? data.stream : state.activeStream,
    streams: applied.streams as Record<string, StreamText>,
  };
}

function summarize(type: string, data: unknown): string {
  const d = (data ?? {}) as Record<string, unknown>;
  if (type === 'artifact') return `${d.key} v${d.version}`;
  if (type.startsWith('step.')) return `${d.name ?? ''}${d.attempt ? ` (attempt ${d.attempt})` : ''}`;
  if (type === 'progress') return `${d.stage ?? ''} ${d.pagesCompleted ?? 0}/${d.pagesTotal ?? 0}`;
  if (type === 'llm.attempt') return `${d.name} (attempt ${d.attempt}) by ${d.provider} (${d.model})`;
  if (type === 'llm.waiting') return `${d.name} waits for ${d.resource}`;
  if (type === 'image.attempt') return `${d.name} (attempt ${d.attempt}) by ${d.provider} (${d.model})`;
  if (type === 'page.no_picture') return `page ${d.page}: ${d.message}`;
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
      next = { ...next, streams: applyAttempt(next.streams, a.stream, a.offset) as Record<string, StreamText> };
    }
    if (event.type === 'artifact') {
      const a = event.data as { key: string; value: unknown; version: number; content_type?: string };
      const page = pageNumberOf(a.key);
      const pictured = a.content_type ? pictureNumberOf(a.key) : null;
      if (a.key === 'outline') next.outline = a.value as Outline;
      else if (a.key === 'story') next.story = a.value as StoryArtifact;
      else if (page !== null) next.pages = { ...next.pages, [page]: a.value as PageArtifact };
      else if (pictured !== null) {
        next.pictures = { ...next.pictures, [pictured]: { version: a.version, contentType: a.content_type! } };
        const { [pictured]: _landed, ...rest } = next.noPicture;
        next.noPicture = rest;
      }
    }
    if (event.type === 'page.no_picture') {
      const d = event.data as { page: number; message: string };
      next.noPicture = { ...next.noPicture, [d.page]: d.message };
    }
    next.log = [...state.log, { id: event.id, type: event.type, summary: summarize(event.type, event.data) }].slice(-LOG_LIMIT);
  }
  if (next.status === 'failed' || next.status === 'cancelled') {
    next = { ...next, progress: progressOf(next.status, next.progress, state.input.pages) };
  }
  if (event.id > 0) next = { ...next, lastEventId: event.id };
  return next;
}

/**
 * What a page shows for its picture: the picture, "none" (it kept failing, or
 * the finished story has none for it) or "pending" (not drawn yet).
 */
export function pictureOf(state: StoryState, page: number): { kind: 'picture'; version: number } | { kind: 'none'; why: string } | { kind: 'pending' } {
  // A picture that lands clears its page's no_picture, so a later failure wins over an older picture.
  if (state.noPicture[page] !== undefined) return { kind: 'none', why: state.noPicture[page] };
  const p = state.pictures[page];
  if (p) return { kind: 'picture', version: p.version };
  if (state.story?.pages.find((x) => x.page === page)?.picture === null) return { kind: 'none', why: '' };
  return { kind: 'pending' };
}

/** The stream that holds a page's current text: its last revision, else its first draft. */
export function pageStreams(state: StoryState, page: number): string[] {
  const prefix = `page/${page}/`;
  return Object.keys(state.streams).filter((s) => s.startsWith(prefix));
}
