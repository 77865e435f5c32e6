// Shape and type checks of the options objects JS passes in, before they
// are turned into C structs or JSON: a wrong type would otherwise become a
// silent default in the addon. Ranges are the engine's to check (it names the
// field and the value); only what the C types cannot hold is refused here.
import { InvalidArgumentError } from './errors';

/** The largest value of a C int field. */
export const C_INT_MAX = 2147483647;

/** The engine's longest duration (SL_MAX_DURATION_MS): 100 years in ms. */
export const MAX_DURATION_MS = 3155760000000;

/**
 * A duration in ms for the C ABI. The addon would turn Infinity and NaN into
 * 0 ("now") and clamp huge values, so anything that is not a finite number
 * up to MAX_DURATION_MS is refused here, naming the parameter.
 */
export function durationMs(where: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value > MAX_DURATION_MS) {
    throw invalid(`${where} is ${shown(value)}; it must be a finite number of ms up to ${MAX_DURATION_MS} (100 years)`);
  }
  return Math.round(value);
}

export function invalid(message: string): InvalidArgumentError {
  return new InvalidArgumentError(message, 'invalid_argument', 'fatal');
}

function shown(value: unknown): string {
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  if (typeof value === 'function') return 'a function';
  if (value === undefined) return 'undefined';
  return JSON.stringify(value) ?? String(value);
}

/**
 * A plain object with only `known` keys; `where` names it ("workflow 'w':
 * retry"), `unknown` how an unknown key is described ("workflow 'w': unknown
 * retry option"; default: `${where}: unknown option`).
 */
export function objectOf(
  where: string,
  value: unknown,
  known: readonly string[],
  unknown: string = `${where}: unknown option`,
): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw invalid(`${where} must be an object, got ${shown(value)}`);
  }
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) throw invalid(`${unknown} '${key}' (known: ${known.join(', ')})`);
  }
  return value as Record<string, unknown>;
}

/** "where.key", or "where key" when `where` ends with a colon ("workflow 'w': maxRunning"). */
function field(where: string, key: string): string {
  return where.endsWith(':') ? `${where} ${key}` : `${where}.${key}`;
}

/** `o[key]` when it is a string or absent (undefined). */
export function optionalString(where: string, o: Record<string, unknown>, key: string): string | undefined {
  const v = o[key];
  if (v !== undefined && typeof v !== 'string') throw invalid(`${field(where, key)} must be a string, got ${shown(v)}`);
  return v;
}

export function optionalBoolean(where: string, o: Record<string, unknown>, key: string): boolean | undefined {
  const v = o[key];
  if (v !== undefined && typeof v !== 'boolean') throw invalid(`${field(where, key)} must be a boolean, got ${shown(v)}`);
  return v;
}

export function optionalNumber(where: string, o: Record<string, unknown>, key: string): number | undefined {
  const v = o[key];
  if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v))) {
    throw invalid(`${field(where, key)} must be a finite number, got ${shown(v)}`);
  }
  return v;
}

/** An integer (a safe one, or at most `max` for a C int field), or absent. */
export function optionalInteger(
  where: string,
  o: Record<string, unknown>,
  key: string,
  max: number = Number.MAX_SAFE_INTEGER,
): number | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (!Number.isSafeInteger(v)) throw invalid(`${field(where, key)} must be an integer, got ${shown(v)}`);
  const n = v as number;
  if (n > max) throw invalid(`${field(where, key)} must be at most ${max}, got ${n}`);
  if (n < -max - 1) throw invalid(`${field(where, key)} must be at least ${-max - 1}, got ${n}`);
  return n;
}

/** A required string argument of a method ("engine.rewind: stepName"). */
export function stringArgument(where: string, value: unknown): string {
  if (typeof value !== 'string') throw invalid(`${where} must be a string, got ${shown(value)}`);
  return value;
}

/** A required C int argument. */
export function intArgument(where: string, value: unknown): number {
  if (!Number.isSafeInteger(value) || (value as number) > C_INT_MAX || (value as number) < -C_INT_MAX - 1) {
    throw invalid(`${where} must be an integer between ${-C_INT_MAX - 1} and ${C_INT_MAX}, got ${shown(value)}`);
  }
  return value as number;
}
