import type { Address } from '../types.js';
import type { RiskStats } from '../state-types.js';
import { assertUint } from './order.js';

/** rate_ewma is transactions per block × RATE_SCALE (state-types.ts), so 1 tx/block = 10000. */
export const RATE_SCALE = 10_000;
/** EWMA weight of a new sample: 1/EWMA_DIVISOR = 1/8 (about the last 8 samples matter). */
export const EWMA_DIVISOR = 8;
/** How many recent recipients an account remembers (for circular-transfer detection). */
export const RISK_RECENT_PEERS = 8;
/**
 * A decaying rate reaches 0 within ~140 empty blocks from any reachable value, so gaps longer than
 * this are folded in a bounded loop without changing the result.
 */
const MAX_DECAY_STEPS = 256;

export function emptyRiskStats(): RiskStats {
  return { first_height: 0, last_height: 0, rate_ewma: 0, amount_ewma: 0, recent_to: [], count_at_last: 0 };
}

/**
 * One EWMA step with alpha = 1/8: floor((7·e + x) / 8). Both terms are non-negative, so floor is
 * unambiguous; BigInt keeps 7·e exact for amounts near 2^53. With x = 0 the value strictly falls
 * (floor(7e/8) < e for e ≥ 1), so an idle account's rate decays all the way to 0.
 */
export function ewmaStep(e: number, x: number): number {
  const d = BigInt(EWMA_DIVISOR);
  return Number(((d - 1n) * BigInt(e) + BigInt(x)) / d);
}

/**
 * The sender's per-block transaction rate over the heights before `height`: rate_ewma covers the
 * heights before last_height; the count at last_height and the empty heights after it are folded
 * in lazily, here, so the stats only change when the account transacts.
 */
export function rateBefore(stats: RiskStats, height: number): number {
  assertHeight(stats, height);
  if (stats.first_height === 0 || stats.last_height === height) return stats.rate_ewma;
  let e = ewmaStep(stats.rate_ewma, stats.count_at_last * RATE_SCALE);
  const gap = height - stats.last_height - 1;
  for (let i = 0; i < gap && i < MAX_DECAY_STEPS && e > 0; i++) e = ewmaStep(e, 0);
  return e;
}

/** Transactions the sender has at `height`, counting one more (the one being scored or applied). */
export function countInBlock(stats: RiskStats, height: number): number {
  assertHeight(stats, height);
  return (stats.last_height === height ? stats.count_at_last : 0) + 1;
}

export interface RiskUpdate {
  height: number;
  /** Transfer amount; 0 for every other kind (then amount_ewma is left alone). */
  amount: number;
  /** Transfer recipient; null for every other kind. */
  to: Address | null;
}

/** The sender's stats after one of its transactions is included at `height`. Pure: returns a new object. */
export function updateRiskStats(stats: RiskStats, update: RiskUpdate): RiskStats {
  const { height, amount, to } = update;
  assertUint('amount', amount);
  const rate_ewma = rateBefore(stats, height);
  const count_at_last = countInBlock(stats, height);
  return {
    first_height: stats.first_height === 0 ? height : stats.first_height,
    last_height: height,
    rate_ewma,
    // Only transfers move the amount average; the first one seeds it (an EWMA from 0 would make
    // every early transfer look like an outlier).
    amount_ewma:
      amount === 0
        ? stats.amount_ewma
        : stats.amount_ewma === 0
          ? amount
          : ewmaStep(stats.amount_ewma, amount),
    recent_to: to === null ? [...stats.recent_to] : pushRecent(stats.recent_to, to),
    count_at_last,
  };
}

/** Newest first, deduplicated (a repeat moves to the front), at most RISK_RECENT_PEERS. */
function pushRecent(recent: readonly Address[], to: Address): Address[] {
  return [to, ...recent.filter((a) => a !== to)].slice(0, RISK_RECENT_PEERS);
}

function assertHeight(stats: RiskStats, height: number): void {
  assertUint('height', height);
  if (height < 1 || height < stats.last_height) {
    throw new RangeError(`height ${height} precedes the account's last transaction at ${stats.last_height}`);
  }
}
