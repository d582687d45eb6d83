import type { Address } from '../types.js';
import { assertBps, assertUint, compareBytes } from './order.js';
import { toHex } from '@self/crypto';

/** A pending transaction as the reference selection sees it. All fields are integers. */
export interface SelectionCandidate {
  hash: Uint8Array;
  sender: Address;
  nonce: number;
  point_price: number;
  /** Height of the sender's last included transaction (0: it never sent one). */
  sender_last_height: number;
  /** Risk in basis points (risk.ts). */
  risk: number;
  /** Encoded size of the signed transaction. */
  bytes: number;
}

function validate(c: SelectionCandidate): void {
  assertUint('nonce', c.nonce);
  assertUint('point_price', c.point_price);
  assertUint('sender_last_height', c.sender_last_height);
  assertUint('bytes', c.bytes);
  assertBps('risk', c.risk);
}

/**
 * Validates the candidates and resolves conflicts. The same hash twice is a caller bug (throws).
 * Two transactions with one (sender, nonce) can both reach a node (a replacement, or two
 * proposals' versions); only one can execute, so the one with the higher point price wins, ties
 * to the lower hash, the mempool's replacement rule. Output keeps input order.
 */
export function resolveConflicts<C extends SelectionCandidate>(candidates: readonly C[]): C[] {
  const hashes = new Set<string>();
  const winner = new Map<string, C>();
  for (const c of candidates) {
    validate(c);
    const h = toHex(c.hash);
    if (hashes.has(h)) throw new RangeError(`duplicate candidate ${h}`);
    hashes.add(h);
    const key = `${c.sender}\n${c.nonce}`;
    const w = winner.get(key);
    if (
      w === undefined ||
      c.point_price > w.point_price ||
      (c.point_price === w.point_price && compareBytes(c.hash, w.hash) < 0)
    ) {
      winner.set(key, c);
    }
  }
  const keep = new Set(winner.values());
  return candidates.filter((c) => keep.has(c));
}

/** Each sender's candidates in nonce order, with the link from a transaction to its successor. */
export interface SenderChains<C> {
  /** The sender's lowest pending nonce: the only one executable before anything else is included. */
  heads: C[];
  /** Successor = the sender's candidate with nonce + 1; after a gap there is none. */
  next: Map<C, C>;
}

export function senderChains<C extends SelectionCandidate>(candidates: readonly C[]): SenderChains<C> {
  const bySender = new Map<Address, C[]>();
  for (const c of candidates) {
    const list = bySender.get(c.sender);
    if (list === undefined) bySender.set(c.sender, [c]);
    else list.push(c);
  }
  const heads: C[] = [];
  const next = new Map<C, C>();
  for (const list of bySender.values()) {
    list.sort((a, b) => a.nonce - b.nonce);
    heads.push(list[0]!);
    for (let i = 1; i < list.length; i++) {
      if (list[i]!.nonce === list[i - 1]!.nonce + 1) next.set(list[i - 1]!, list[i]!);
    }
  }
  return { heads, next };
}

/**
 * Dependency closure: a selected transaction stays only if it is its sender's lowest pending nonce
 * or its predecessor (nonce − 1, pending) stayed too; so a gap or an unselected predecessor drops
 * the rest of that sender's chain. `candidates` must be conflict-free. Returns `selected` filtered,
 * in its own order.
 */
export function dependencyClosure<C extends SelectionCandidate>(
  candidates: readonly C[],
  selected: readonly C[],
): C[] {
  const chosen = new Set(selected);
  const { heads, next } = senderChains(candidates);
  const keep = new Set<C>();
  for (const head of heads) {
    for (let c: C | undefined = head; c !== undefined && chosen.has(c); c = next.get(c)) keep.add(c);
  }
  return selected.filter((c) => keep.has(c));
}
