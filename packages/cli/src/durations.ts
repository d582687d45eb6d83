import { CONSENT_MAX_TTL_MS, CONSENT_MIN_TTL_MS } from '@self/crypto';
import { CliError } from './errors.js';

const UNIT_MS: Record<string, number> = {
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 7 * 86_400_000,
};

/** How long a grant may last (docs/protocol/consent.md): 1 hour to 400 days. */
export const GRANT_MIN_MS = CONSENT_MIN_TTL_MS;
export const GRANT_MAX_MS = CONSENT_MAX_TTL_MS;

/** `90d`, `12h`, `2w`, `90m` as milliseconds, within [min, max]; a usage error (exit 2) otherwise. */
export function parseDuration(value: string, flag: string, min: number, max: number): number {
  const m = /^([0-9]{1,6})([mhdw])$/.exec(value.trim());
  const ms = m === null ? NaN : Number(m[1]) * UNIT_MS[m[2]!]!;
  if (!Number.isSafeInteger(ms) || ms < min || ms > max)
    throw new CliError(
      `${flag} must be a duration from ${describeMs(min)} to ${describeMs(max)}, like 90d, 12h or 2w; got "${value}"`,
      2,
    );
  return ms;
}

/** A duration in the largest unit that divides it (`400 days`, `1 hour`). */
export function describeMs(ms: number): string {
  for (const [unit, size] of [
    ['day', UNIT_MS.d!],
    ['hour', UNIT_MS.h!],
    ['minute', UNIT_MS.m!],
  ] as const) {
    if (ms % size === 0) {
      const n = ms / size;
      return `${n} ${unit}${n === 1 ? '' : 's'}`;
    }
  }
  return `${Math.round(ms / 1000)} seconds`;
}

/** `in 9 min` / `3 days ago`, for listings read by people. */
export function relativeTime(at: number, now = Date.now()): string {
  const d = at - now;
  const abs = Math.abs(d);
  const text =
    abs < 90_000
      ? `${Math.max(1, Math.round(abs / 1000))} s`
      : abs < 90 * 60_000
        ? `${Math.round(abs / 60_000)} min`
        : abs < 48 * 3_600_000
          ? `${Math.round(abs / 3_600_000)} h`
          : `${Math.round(abs / 86_400_000)} days`;
  return d >= 0 ? `in ${text}` : `${text} ago`;
}

/** A date as people read it in a terminal: `2025-06-01 14:03 UTC`. */
export function shortDate(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}
