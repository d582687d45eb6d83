import type { Address } from '../types.js';
import { compareBytes } from './order.js';

type Orderable = { hash: Uint8Array; sender: Address; nonce: number; risk: number };

/**
 * Canonical block order: risk ascending (benign transactions first), ties by hash ascending. Then
 * each sender's transactions are put back in nonce order onto the positions that sender occupies
 * in that sort, which keeps the block executable without moving anyone else.
 */
export function blockOrder<C extends Orderable>(txs: readonly C[]): C[] {
  const sorted = [...txs].sort((a, b) => a.risk - b.risk || compareBytes(a.hash, b.hash));
  const positions = new Map<Address, number[]>();
  sorted.forEach((c, i) => {
    const p = positions.get(c.sender);
    if (p === undefined) positions.set(c.sender, [i]);
    else p.push(i);
  });
  const out = [...sorted];
  for (const [sender, slots] of positions) {
    if (slots.length < 2) continue;
    const mine = slots.map((i) => sorted[i]!).sort((a, b) => a.nonce - b.nonce);
    if (new Set(mine.map((c) => c.nonce)).size !== mine.length)
      throw new RangeError(`${sender}: duplicate nonce`);
    slots.forEach((pos, k) => {
      out[pos] = mine[k]!;
    });
  }
  return out;
}
