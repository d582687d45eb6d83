import { taggedHash } from '@self/crypto';
import { hashValue } from '../encoding.js';
import { DOMAIN, type Address, type ColourTransition } from '../types.js';
import { compareBytes } from './order.js';

/** Colours live in 24 bits: 0x000000 ..= 0xFFFFFF, shown as 6 lowercase hex digits. */
export const COLOUR_MODULUS = 0x1000000;
export const COLOUR_ZERO = 0;

const COLOUR_RE = /^[0-9a-f]{6}$/;

/**
 * hexTx: the first 3 bytes (big-endian) of taggedHash(DOMAIN.colour, txHash). Re-hashing under the
 * colour domain, rather than slicing the tx hash, keeps the colour stream independent of any other
 * use of the tx hash's leading bytes.
 */
export function hexTx(txHash: Uint8Array): number {
  const h = taggedHash(DOMAIN.colour, txHash);
  return (h[0]! << 16) | (h[1]! << 8) | h[2]!;
}

/** `(current + hexTx(txHash)) mod 0x1000000`. */
export function nextColour(current: number, txHash: Uint8Array): number {
  assertColour(current);
  return (current + hexTx(txHash)) % COLOUR_MODULUS;
}

export function isColour(value: number): boolean {
  return Number.isSafeInteger(value) && value >= 0 && value < COLOUR_MODULUS;
}

function assertColour(value: number): void {
  if (!isColour(value))
    throw new RangeError(`colour must be an integer in [0, 0xffffff], got ${String(value)}`);
}

/** 6 lowercase hex digits, zero-padded: 0 → "000000". */
export function colourHex(colour: number): string {
  assertColour(colour);
  return colour.toString(16).padStart(6, '0');
}

/** Inverse of colourHex; only the canonical form (exactly 6 lowercase hex digits) is accepted. */
export function parseColour(text: string): number {
  if (!COLOUR_RE.test(text))
    throw new TypeError(`not a colour (6 lowercase hex digits): ${JSON.stringify(text).slice(0, 40)}`);
  return Number.parseInt(text, 16);
}

/**
 * The transitions a block's transactions cause, in block order. Only the sender's colour changes;
 * a sender with several transactions in one block chains: each transition starts where the last ended.
 * `colourOf` reads the committed colour of an account (0 for an account that does not exist yet).
 */
export function deriveColourTransitions(
  txs: ReadonlyArray<{ sender: Address; hash: Uint8Array }>,
  colourOf: (address: Address) => number,
): ColourTransition[] {
  const current = new Map<Address, number>();
  return txs.map(({ sender, hash }) => {
    const from = current.get(sender) ?? colourOf(sender);
    const to = nextColour(from, hash);
    current.set(sender, to);
    return { address: sender, from, to, tx_hash: hash };
  });
}

/** Commitment in the block header: hashValue(DOMAIN.colourRoot, transitions) over the list in block order. */
export function colourRoot(transitions: readonly ColourTransition[]): Uint8Array {
  return hashValue(DOMAIN.colourRoot, transitions);
}

export type ColourMismatchReason = 'missing' | 'extra' | 'address' | 'tx_hash' | 'from' | 'to';

export interface ColourMismatch {
  /** Position in the list where the first difference is. */
  index: number;
  reason: ColourMismatchReason;
  message: string;
}

/**
 * Compares the transitions a validator computed (`expected`) with a proposal's (`claimed`) and
 * returns the first difference, or null when they are identical. Field order of the checks is
 * pinned (address, tx_hash, from, to) so every node reports the same reason.
 */
export function checkColourTransitions(
  expected: readonly ColourTransition[],
  claimed: readonly ColourTransition[],
): ColourMismatch | null {
  const n = Math.min(expected.length, claimed.length);
  for (let i = 0; i < n; i++) {
    const e = expected[i]!;
    const c = claimed[i]!;
    if (e.address !== c.address) return mismatch(i, 'address', `address ${c.address}, expected ${e.address}`);
    if (compareBytes(e.tx_hash, c.tx_hash) !== 0) return mismatch(i, 'tx_hash', 'transaction hash differs');
    if (e.from !== c.from) return mismatch(i, 'from', `from ${String(c.from)}, expected ${String(e.from)}`);
    if (e.to !== c.to) return mismatch(i, 'to', `to ${String(c.to)}, expected ${String(e.to)}`);
  }
  if (claimed.length < expected.length)
    return mismatch(n, 'missing', `${expected.length - n} transition(s) missing`);
  if (claimed.length > expected.length)
    return mismatch(n, 'extra', `${claimed.length - n} unexpected transition(s)`);
  return null;
}

function mismatch(index: number, reason: ColourMismatchReason, message: string): ColourMismatch {
  return { index, reason, message: `colour transition ${index}: ${message}` };
}
