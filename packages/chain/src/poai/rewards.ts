import type { Address } from '../types.js';
import { assertUint, compareStrings, mulDivFloor } from './order.js';

export const BUILDER_PERCENT = 90;
export const VOTERS_PERCENT = 8;
export const COLOUR_CHECKER_PERCENT = 1;
export const RESERVE_PERCENT = 1;

export interface RewardSplitInput {
  /** Fees plus block reward, in base units. */
  total: number;
  builder: Address;
  /** Signers of the commit certificate; duplicates are ignored. */
  voters: readonly Address[];
  colourChecker: Address | null;
  reserve: Address;
}

/**
 * builder floor(90%), each voter floor(floor(8%) / voters), colour checker floor(1%) (to the reserve
 * when there is none), reserve floor(1%) plus every rounding remainder, so the parts sum to `total`
 * exactly. One address in several roles gets the sum. Zero amounts are left out. Insertion order:
 * builder, voters by address, colour checker, reserve.
 */
export function splitRewards(input: RewardSplitInput): Map<Address, number> {
  const { total, builder, colourChecker, reserve } = input;
  assertUint('total', total);
  const voters = [...new Set(input.voters)].sort(compareStrings);
  const out = new Map<Address, number>();
  const pay = (to: Address, amount: number): void => {
    if (amount > 0) out.set(to, (out.get(to) ?? 0) + amount);
  };
  const builderShare = mulDivFloor(total, BUILDER_PERCENT, 100);
  const votersPool = mulDivFloor(total, VOTERS_PERCENT, 100);
  const each = voters.length === 0 ? 0 : Math.floor(votersPool / voters.length);
  const checkerShare = colourChecker === null ? 0 : mulDivFloor(total, COLOUR_CHECKER_PERCENT, 100);
  pay(builder, builderShare);
  for (const v of voters) pay(v, each);
  if (colourChecker !== null) pay(colourChecker, checkerShare);
  pay(reserve, total - builderShare - each * voters.length - checkerShare);
  return out;
}

/**
 * The colour checker of a height: the committee member at index height mod committee size, paid
 * only if its precommit is in the certificate (it re-checked the colour transitions). The rotation
 * spreads the duty without another draw.
 */
export function colourChecker(
  committee: readonly Address[],
  height: number,
  signers: readonly Address[],
): Address | null {
  assertUint('height', height);
  if (committee.length === 0) return null;
  const c = committee[height % committee.length]!;
  return signers.includes(c) ? c : null;
}
