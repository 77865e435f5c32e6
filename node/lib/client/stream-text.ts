// One stream's text as a reader shows it, rebuilt from chunk events that may
// arrive twice (live, then stored after a reconnect), overlap, or belong to a
// newer llm attempt (a retry, or a step executed again after a crash). Pure
// functions, no Node or browser API: the same code runs in both.

/**
 * The current attempt's bytes [start, bytes) of a stream. Offsets count UTF-8
 * bytes and grow monotonically across attempts; a new attempt starts at the
 * stream's end and replaces the text shown.
 */
export interface StreamText {
  text: string;
  /** Where the shown attempt's text begins in the stream (its attempt_start). */
  start: number;
  /** The stream offset just past the last byte received. */
  bytes: number;
}

/** The data of a `chunk` event. */
export interface ChunkData {
  stream: string;
  /** The stream offset of the chunk's first byte. */
  offset: number;
  text: string;
  /** Where the chunk's llm attempt begins in the stream (absent: the attempt shown). */
  attempt_start?: number;
}

export type StreamTexts = Readonly<Record<string, StreamText>>;

/** What applying a chunk did: the streams (the same object when nothing changed). */
export interface ChunkApplied {
  streams: StreamTexts;
  /** True when new text was shown (or a newer attempt cleared the stream). */
  changed: boolean;
  /** True when the chunk started past the stream's end (bytes are missing). */
  gap: boolean;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const EMPTY: StreamText = { text: '', start: 0, bytes: 0 };

/** The stream once an attempt starting at `attemptStart` is known: a later attempt clears it. */
function forAttempt(current: StreamText, attemptStart: number): StreamText {
  if (attemptStart <= current.start) return current;
  return { text: '', start: attemptStart, bytes: attemptStart };
}

/**
 * Applies a chunk once: a chunk of a newer attempt first clears its stream, a
 * chunk of an older attempt is dropped, and of the rest only the bytes past
 * what the stream has are appended (deduplicated by offset).
 */
export function applyChunk(streams: StreamTexts, chunk: ChunkData): ChunkApplied {
  const known = streams[chunk.stream] ?? EMPTY;
  const attemptStart = typeof chunk.attempt_start === 'number' ? chunk.attempt_start : known.start;
  if (attemptStart < known.start) return { streams, changed: false, gap: false };
  const current = forAttempt(known, attemptStart);
  const bytes = encoder.encode(chunk.text);
  const end = chunk.offset + bytes.length;
  if (end <= current.bytes) {
    if (current === known) return { streams, changed: false, gap: false };
    return { streams: { ...streams, [chunk.stream]: current }, changed: true, gap: false };
  }
  const gap = chunk.offset > current.bytes;
  const fresh = chunk.offset < current.bytes ? decoder.decode(bytes.slice(current.bytes - chunk.offset)) : chunk.text;
  const next: StreamText = { text: current.text + fresh, start: current.start, bytes: end };
  return { streams: { ...streams, [chunk.stream]: next }, changed: true, gap };
}

/**
 * An `llm.attempt` event {stream, offset}: that attempt's text starts at
 * `offset`, so a stream showing an older attempt is cleared at once.
 */
export function applyAttempt(streams: StreamTexts, stream: unknown, offset: unknown): StreamTexts {
  if (typeof stream !== 'string' || typeof offset !== 'number') return streams;
  const known = streams[stream];
  if (!known) return streams;
  const current = forAttempt(known, offset);
  return current === known ? streams : { ...streams, [stream]: current };
}
