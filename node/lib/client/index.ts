// storyloom/client: reading a run's server-sent events in a browser. No Node
// API and no addon: safe to bundle into client code.
export { applyAttempt, applyChunk } from './stream-text';
export type { ChunkApplied, ChunkData, StreamText, StreamTexts } from './stream-text';
export { RUN_EVENT_TYPES, RunReader, applyRunEvent, emptyView, withAfter } from './run-reader';
export type { EventSourceConstructor, EventSourceLike, ReaderEvent, RunReaderOptions, RunView } from './run-reader';
