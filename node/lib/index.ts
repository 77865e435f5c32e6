// storyloom: durable LLM story-generation workflows for Node, over the
// storyloom engine's C ABI.
export { Engine } from './engine';
export type {
  Artifact,
  Durability,
  EventKind,
  EventsOptions,
  OpenOptions,
  Run,
  RunError,
  RunPage,
  Snapshot,
  SignalRequest,
  SignalResult,
  SseOptions,
  StartOptions,
  StartRequest,
  StartResult,
  Step,
  StoryEvent,
  StreamState,
  WorkflowFunction,
} from './engine';
export type { ConcurrencyOptions, RetryOptions, ThrottleOptions, WorkflowOptions } from './workflow-options';
export type { ListOptions, RunFilter, RunStatus } from './run-filter';
export type { BudgetStatus, ModelUsage, RunBudget, RunUsage } from './budget';
export type { LlmOptions, LlmProviderKind, LlmProviderOptions, ResourceLimits } from './config';
export type { FinishReason, LlmMessage, LlmProviderInfo, LlmProviders, LlmRequest, LlmResult, LlmUsage, ResourceStatus } from './llm';
export type { HttpHeader, HttpRequest, HttpResult, StepRetryOptions } from './http';
export type { ImageOptions, ImageProviderKind, ImageProviderOptions, ImageRequest, ImageResult } from './image';
export { Context } from './context';
export { signWebhook, verifyWebhook } from './webhooks';
export { emailConfigured, sendEmail } from './email';
export type { EmailMessage, EmailResult, SmtpOptions } from './email';
export type {
  InboundResult,
  InboundWebhookOptions,
  WebhookAttempt,
  WebhookDelivery,
  WebhookHeaders,
  WebhookOptions,
  WebhookSubscription,
  WebhookVerdict,
} from './webhooks';
export type { StepInfo, StepOptions, WaitForSignalOptions } from './context';
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
  ProviderError,
  QuotaExceededError,
  WorkflowFailedError,
  BudgetExceededError,
  errorFor,
} from './errors';
export type { ErrorCode, ErrorClass, StoredRunError } from './errors';
