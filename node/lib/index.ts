// storyloom: durable LLM story-generation workflows for Node, over the
// storyloom engine's C ABI.
export { Engine } from './engine';
export type {
  Artifact,
  EventKind,
  EventsOptions,
  ListOptions,
  OpenOptions,
  Run,
  RunError,
  RunPage,
  RunStatus,
  Snapshot,
  SseOptions,
  StartOptions,
  Step,
  StoryEvent,
  WorkflowFunction,
  WorkflowOptions,
  RetryOptions,
} from './engine';
export { Context } from './context';
export type { StepInfo, WaitForSignalOptions } from './context';
export {
  StoryloomError,
  InvalidArgumentError,
  NotFoundError,
  InvalidStateError,
  PayloadTooLargeError,
  StoreError,
  NotADatabaseError,
  SchemaTooNewError,
  NondeterminismError,
  CancelledError,
  StepFailedError,
  ClosedError,
  TimeoutError,
  InternalError,
  errorFor,
} from './errors';
export type { ErrorCode, ErrorClass } from './errors';
