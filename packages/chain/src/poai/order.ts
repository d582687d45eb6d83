/**
 * Total orders and integer guards shared by the PoAI functions. Consensus code never uses
 * localeCompare (locale-dependent) nor floats: every node must order and compute identically.
 */

/** Lexicographic byte order (a shorter prefix sorts first). */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

/** UTF-16 code-unit order; addresses are ASCII, so this is also byte order. */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Throws unless `value` is a non-negative safe integer. */
export function assertUint(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`${name} must be a non-negative safe integer, got ${String(value)}`);
  }
}

/** Throws unless `value` is an integer in [0, 10000] (basis points). */
export function assertBps(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0 || value > 10_000) {
    throw new RangeError(`${name} must be an integer in [0, 10000], got ${String(value)}`);
  }
}

/** floor(a * num / den) for non-negative safe integers, exact even when a * num exceeds 2^53. */
export function mulDivFloor(a: number, num: number, den: number): number {
  return Number((BigInt(a) * BigInt(num)) / BigInt(den));
}
