import { blockOrder } from './block-order.js';
import { dependencyClosure, resolveConflicts, senderChains, type SelectionCandidate } from './candidates.js';
import { MinHeap } from './heap.js';
import { assertUint, compareBytes } from './order.js';

/** Shares of the slots, in percent: highest price, lowest price, oldest sender; the rest go to "average". */
export const BAND_HIGH_PERCENT = 20;
export const BAND_LOW_PERCENT = 20;
export const BAND_OLD_PERCENT = 10;

export interface SelectionCapacity {
  max_txs: number;
  max_bytes: number;
}

export interface BandSlots {
  high: number;
  low: number;
  avg: number;
  old: number;
}

/** floor(20%), floor(20%), floor(10%) of S; the average band takes the rest (50% plus rounding). */
export function bandSlots(slots: number): BandSlots {
  assertUint('slots', slots);
  const high = Math.floor((slots * BAND_HIGH_PERCENT) / 100);
  const low = Math.floor((slots * BAND_LOW_PERCENT) / 100);
  const old = Math.floor((slots * BAND_OLD_PERCENT) / 100);
  return { high, low, avg: slots - high - low - old, old };
}

export interface ReferenceSelection<C> {
  /** The reference block's transactions in canonical block order. */
  txs: C[];
  /** 'all': every candidate fit, so no band ran. */
  mode: 'all' | 'bands';
  /** What each band took, in the order taken ('fill' = leftover slots filled by the average rule). */
  bands: { high: C[]; low: C[]; avg: C[]; old: C[]; fill: C[] };
  /** floor(mean point price of all candidates): the centre of the average band. */
  average_price: number;
}

type Compare<C> = (a: C, b: C) => number;

const byHash = (a: SelectionCandidate, b: SelectionCandidate): number => compareBytes(a.hash, b.hash);
const highFirst: Compare<SelectionCandidate> = (a, b) => b.point_price - a.point_price || byHash(a, b);
const lowFirst: Compare<SelectionCandidate> = (a, b) => a.point_price - b.point_price || byHash(a, b);
const oldFirst: Compare<SelectionCandidate> = (a, b) =>
  a.sender_last_height - b.sender_last_height || byHash(a, b);
function nearFirst(avg: number): Compare<SelectionCandidate> {
  return (a, b) => Math.abs(a.point_price - avg) - Math.abs(b.point_price - avg) || byHash(a, b);
}

/** Floor of the mean; BigInt because a sum of safe-integer prices can pass 2^53. */
export function averagePrice(candidates: readonly SelectionCandidate[]): number {
  if (candidates.length === 0) return 0;
  let sum = 0n;
  for (const c of candidates) sum += BigInt(c.point_price);
  return Number(sum / BigInt(candidates.length));
}

/** The reference block (20/20/50/10 selection, docs/protocol/poai.md), in block order. */
export function selectReference<C extends SelectionCandidate>(
  candidates: readonly C[],
  capacity: SelectionCapacity,
): C[] {
  return selectReferenceDetailed(candidates, capacity).txs;
}

export function selectReferenceDetailed<C extends SelectionCandidate>(
  input: readonly C[],
  capacity: SelectionCapacity,
): ReferenceSelection<C> {
  assertUint('max_txs', capacity.max_txs);
  assertUint('max_bytes', capacity.max_bytes);
  const candidates = resolveConflicts(input);
  const average_price = averagePrice(candidates);
  const bands = { high: [] as C[], low: [] as C[], avg: [] as C[], old: [] as C[], fill: [] as C[] };
  const totalBytes = candidates.reduce((s, c) => s + c.bytes, 0);
  if (candidates.length <= capacity.max_txs && totalBytes <= capacity.max_bytes) {
    const txs = blockOrder(dependencyClosure(candidates, candidates));
    return { txs, mode: 'all', bands, average_price };
  }
  const fill = new BandFill(candidates, capacity.max_bytes);
  const slots = bandSlots(Math.min(capacity.max_txs, candidates.length));
  let carry = 0;
  // Unused slots of a band move on to the next, in the order high → low → avg → old.
  for (const [name, compare] of [
    ['high', highFirst],
    ['low', lowFirst],
    ['avg', nearFirst(average_price)],
    ['old', oldFirst],
  ] as const) {
    const quota = slots[name] + carry;
    bands[name] = fill.take(compare, quota);
    carry = quota - bands[name].length;
  }
  bands.fill = fill.take(nearFirst(average_price), carry);
  const chosen = Object.values(bands).flat();
  // The bands only ever take eligible transactions, so the closure is a no-op kept as a guard.
  return { txs: blockOrder(dependencyClosure(candidates, chosen)), mode: 'bands', bands, average_price };
}

/**
 * Shared state of the bands. A transaction is eligible once its sender's previous pending nonce was
 * taken (chain heads are eligible from the start); each band repeatedly takes its best eligible
 * transaction, so a chain can grow inside one band. A transaction whose bytes no longer fit is
 * dropped for good (the room only shrinks), and with it the rest of its sender's chain.
 */
class BandFill<C extends SelectionCandidate> {
  private readonly next: Map<C, C>;
  /** Per sender, the next eligible transaction, if any. */
  private readonly frontier = new Set<C>();

  constructor(
    candidates: readonly C[],
    private bytesLeft: number,
  ) {
    const chains = senderChains(candidates);
    this.next = chains.next;
    for (const h of chains.heads) this.frontier.add(h);
  }

  take(compare: Compare<SelectionCandidate>, quota: number): C[] {
    const taken: C[] = [];
    if (quota === 0) return taken;
    const heap = new MinHeap<C>(compare);
    for (const c of this.frontier) heap.push(c);
    while (taken.length < quota && heap.size > 0) {
      const c = heap.pop()!;
      this.frontier.delete(c);
      if (c.bytes > this.bytesLeft) continue;
      this.bytesLeft -= c.bytes;
      taken.push(c);
      const n = this.next.get(c);
      if (n !== undefined) {
        this.frontier.add(n);
        heap.push(n);
      }
    }
    return taken;
  }
}
