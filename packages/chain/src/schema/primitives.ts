import { isAddress, isDid } from '@self/crypto';
import { ChainError } from '../errors.js';
import type { Address } from '../types.js';

/**
 * Strict shape checks for decoded CBOR. Each returns the value narrowed to its type or throws
 * ChainError('malformed') naming the path, so a peer learns exactly which field it got wrong.
 * Bounds are protocol limits (docs/protocol/transactions.md): a value over a bound is malformed,
 * whatever the rest of the object says.
 */

export function malformed(path: string, message: string): never {
  throw new ChainError('malformed', `${path}: ${message}`, { path });
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value instanceof Uint8Array) return 'bytes';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

/** A plain object with exactly `keys` (no more, no fewer). */
export function record(value: unknown, path: string, keys: readonly string[]): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) {
    malformed(path, `expected a map, got ${describe(value)}`);
  }
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) malformed(path, 'expected a plain map');
  const obj = value as Record<string, unknown>;
  const present = Object.keys(obj);
  for (const k of present) {
    if (!keys.includes(k)) malformed(path, `unexpected key ${JSON.stringify(k).slice(0, 70)}`);
  }
  for (const k of keys) {
    if (!Object.hasOwn(obj, k)) malformed(path, `missing key ${JSON.stringify(k)}`);
  }
  return obj;
}

/** A non-negative safe integer in [min, max]. */
export function uint(value: unknown, path: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    malformed(path, `expected a safe integer, got ${describe(value)}`);
  }
  if (value < min || value > max) malformed(path, `must be in [${min}, ${max}], got ${value}`);
  return value;
}

/** A safe integer in [min, max] that may be negative (used only for pol_round = -1). */
export function int(value: unknown, path: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    malformed(path, `expected a safe integer, got ${describe(value)}`);
  }
  if (value < min || value > max) malformed(path, `must be in [${min}, ${max}], got ${value}`);
  return value;
}

export function bool(value: unknown, path: string): boolean {
  if (typeof value !== 'boolean') malformed(path, `expected a boolean, got ${describe(value)}`);
  return value;
}

export function bytes(
  value: unknown,
  path: string,
  bounds: { len?: number; min?: number; max?: number },
): Uint8Array {
  if (!(value instanceof Uint8Array)) malformed(path, `expected bytes, got ${describe(value)}`);
  if (bounds.len !== undefined && value.length !== bounds.len) {
    malformed(path, `expected ${bounds.len} bytes, got ${value.length}`);
  }
  if (bounds.min !== undefined && value.length < bounds.min) malformed(path, `at least ${bounds.min} bytes`);
  if (bounds.max !== undefined && value.length > bounds.max) malformed(path, `at most ${bounds.max} bytes`);
  return value;
}

export function hash32(value: unknown, path: string): Uint8Array {
  return bytes(value, path, { len: 32 });
}

// C0 controls, DEL and C1 controls never belong in protocol strings: they hide text in logs and UIs.
// eslint-disable-next-line no-control-regex
const CONTROL_RE = /[\u0000-\u001f\u007f-\u009f]/;

/** A string of 1..max UTF-16 code units (min may be 0) with no control characters, optionally matching `re`. */
export function str(
  value: unknown,
  path: string,
  max: number,
  opts: { min?: number; re?: RegExp } = {},
): string {
  if (typeof value !== 'string') malformed(path, `expected a string, got ${describe(value)}`);
  const min = opts.min ?? 1;
  if (value.length < min || value.length > max) malformed(path, `length must be in [${min}, ${max}]`);
  if (CONTROL_RE.test(value)) malformed(path, 'control characters are not allowed');
  if (opts.re && !opts.re.test(value)) malformed(path, `does not match ${String(opts.re)}`);
  return value;
}

export function oneOf<T extends string>(value: unknown, path: string, options: readonly T[]): T {
  if (typeof value !== 'string' || !(options as readonly string[]).includes(value)) {
    malformed(path, `expected one of ${options.join(', ')}`);
  }
  return value as T;
}

export function list<T>(
  value: unknown,
  path: string,
  max: number,
  item: (v: unknown, p: string) => T,
  min = 0,
): T[] {
  if (!Array.isArray(value)) malformed(path, `expected an array, got ${describe(value)}`);
  if (value.length < min || value.length > max)
    malformed(path, `must hold ${min}..${max} items, got ${value.length}`);
  return value.map((v, i) => item(v, `${path}[${i}]`));
}

export function address(value: unknown, path: string): Address {
  if (!isAddress(value)) malformed(path, 'expected a self1… address');
  return value;
}

export function did(value: unknown, path: string): string {
  if (!isDid(value)) malformed(path, 'expected a did:self:<address> identifier');
  return value;
}

export function nullable<T>(value: unknown, path: string, inner: (v: unknown, p: string) => T): T | null {
  return value === null ? null : inner(value, path);
}

/** Rejects duplicates in a list of strings (duplicates would make two encodings mean one thing). */
export function unique(values: readonly string[], path: string): void {
  if (new Set(values).size !== values.length) malformed(path, 'duplicate entries');
}
