// Which runs list(), retryFailed() and cancelMany() act on: sl_list_options
// (version 2) in camelCase, checked for type here and for value by the engine.
import { C_INT_MAX, invalid, objectOf, optionalInteger, optionalString } from './check';
import { ERROR_CLASS_CODE, type ErrorClass } from './errors';
import type { NativeRunFilter } from './native';

export type RunStatus = 'queued' | 'running' | 'sleeping' | 'waiting' | 'completed' | 'failed' | 'cancelled';

/** Omitted fields do not filter. */
export interface RunFilter {
  status?: RunStatus;
  workflow?: string;
  owner?: string;
  /** Only runs whose error has this class (the dead-letter view by cause). */
  errorClass?: ErrorClass;
  /** Finished at or after (ms since the epoch). */
  finishedAfterMs?: number;
  /** Finished before (ms since the epoch). */
  finishedBeforeMs?: number;
}

export interface ListOptions extends RunFilter {
  /** 1..1000 [100]. */
  limit?: number;
  /** nextCursor of the previous page. */
  after?: string;
}

const FILTER = ['status', 'workflow', 'owner', 'errorClass', 'finishedAfterMs', 'finishedBeforeMs'] as const;

/** `where` names the call ("engine.cancelMany: filter"); `paged` allows limit and after. */
export function nativeRunFilter(where: string, filter: unknown, paged = false): NativeRunFilter {
  const known: readonly string[] = paged ? [...FILTER, 'limit', 'after'] : FILTER;
  const o = objectOf(where, filter, known);
  const out: NativeRunFilter = {
    status: optionalString(where, o, 'status') ?? '',
    workflow: optionalString(where, o, 'workflow') ?? '',
    owner: optionalString(where, o, 'owner') ?? '',
    finishedAfterMs: optionalInteger(where, o, 'finishedAfterMs') ?? 0,
    finishedBeforeMs: optionalInteger(where, o, 'finishedBeforeMs') ?? 0,
  };
  if (o.errorClass !== undefined) {
    if (typeof o.errorClass !== 'string' || !(o.errorClass in ERROR_CLASS_CODE)) {
      throw invalid(`${where}.errorClass must be one of ${Object.keys(ERROR_CLASS_CODE).join(', ')}, got ${JSON.stringify(o.errorClass)}`);
    }
    out.errorClass = ERROR_CLASS_CODE[o.errorClass as ErrorClass];
  }
  if (paged) {
    out.limit = optionalInteger(where, o, 'limit', C_INT_MAX) ?? 0;
    out.after = optionalString(where, o, 'after') ?? '';
  }
  return out;
}
