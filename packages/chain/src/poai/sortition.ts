import { taggedHash, u32be, u64be } from '@self/crypto';
import { DOMAIN, type Address } from '../types.js';
import { assertBps, assertUint, compareStrings } from './order.js';
import { REPUTATION_MAX } from './reputation.js';

/** Added to reputation in the weight, so a validator at reputation 0 keeps 1/11 of its stake's weight. */
export const REPUTATION_FLOOR = 1_000;

export interface SortitionValidator {
  address: Address;
  bonded: number;
  reputation: number;
}

export interface SortitionInput {
  /** The active validators (bonded, not jailed, not slashed); order does not matter. */
  validators: readonly SortitionValidator[];
  /** Hash of the block at height − 1: unknown before it commits, the same for every node after. */
  prevHash: Uint8Array;
  height: number;
  /** Committee size; 0 means every validator. */
  size: number;
}

/**
 * Weight = max(1, floor(bonded × (1000 + reputation) / 11000)): stake scaled by reputation, from
 * 1/11 of the stake at reputation 0 to the full stake at 10000. Never 0, so any active validator
 * can be drawn. BigInt because bonded × 11000 can pass 2^53.
 */
export function sortitionWeight(bonded: number, reputation: number): bigint {
  assertUint('bonded', bonded);
  assertBps('reputation', reputation);
  const w =
    (BigInt(bonded) * BigInt(REPUTATION_FLOOR + reputation)) / BigInt(REPUTATION_FLOOR + REPUTATION_MAX);
  return w > 0n ? w : 1n;
}

/** The seed of draw i: the first 8 bytes (big-endian) of taggedHash(sortition, prevHash ‖ u64(height) ‖ u32(i)). */
export function sortitionSeed(prevHash: Uint8Array, height: number, draw: number): bigint {
  const h = taggedHash(DOMAIN.sortition, prevHash, u64be(height), u32be(draw));
  return new DataView(h.buffer, h.byteOffset, 8).getBigUint64(0);
}

/**
 * The committee for a height, in draw order. Weighted draws without replacement: draw i reduces
 * its seed modulo the remaining total weight and walks the remaining validators in address order.
 * The committee depends on the height only, not the round, so a failed round retries with the
 * same voters (the round changes the proposals, not who judges them). The modulo bias is below
 * total/2^64, negligible for any real stake.
 */
export function drawCommittee(input: SortitionInput): Address[] {
  const { prevHash, height, size } = input;
  assertUint('height', height);
  assertUint('size', size);
  const pool = [...input.validators].sort((a, b) => compareStrings(a.address, b.address));
  for (let i = 1; i < pool.length; i++) {
    if (pool[i]!.address === pool[i - 1]!.address)
      throw new RangeError(`duplicate validator ${pool[i]!.address}`);
  }
  if (size === 0 || size >= pool.length) return pool.map((v) => v.address);
  const remaining = pool.map((v) => ({
    address: v.address,
    weight: sortitionWeight(v.bonded, v.reputation),
  }));
  let total = remaining.reduce((s, v) => s + v.weight, 0n);
  const out: Address[] = [];
  for (let i = 0; i < size; i++) {
    let r = sortitionSeed(prevHash, height, i) % total;
    let k = 0;
    while (r >= remaining[k]!.weight) r -= remaining[k++]!.weight;
    const [picked] = remaining.splice(k, 1);
    out.push(picked!.address);
    total -= picked!.weight;
  }
  return out;
}
