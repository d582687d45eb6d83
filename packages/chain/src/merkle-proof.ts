import {
  EMPTY32,
  fromBytes,
  type Hash32,
  keyPath32,
  leafHash32,
  nodeHash32,
  pathBit,
  valueHash32,
} from './merkle-hash.js';

/**
 * A proof that a key holds a value (inclusion) or holds nothing (non-inclusion) under a state root.
 * Plain data, so it encodes with canonical CBOR and travels in API responses unchanged.
 * Format and verification: docs/protocol/state.md.
 */
export interface StateProof {
  /** Depth (0..256) of the node where the key's path ends: its leaf, an empty subtree or another leaf. */
  depth: number;
  /**
   * ceil(depth/8) bytes. Bit i (byte i>>3, mask 0x80>>(i&7)) is set when the sibling of the path at
   * level i (the child of the depth-i ancestor that the path does not take) is non-empty.
   * Unused trailing bits are zero.
   */
  bitmap: Uint8Array;
  /** The non-empty siblings' hashes, deepest first (the order the verifier folds them in). */
  siblings: Uint8Array[];
  /**
   * Non-inclusion ending at another key's leaf: that leaf's path and value hash, so the verifier can
   * rebuild its hash. Null for inclusion proofs and for paths that end at an empty subtree.
   */
  leaf: { path: Uint8Array; value_hash: Uint8Array } | null;
}

export const MAX_DEPTH = 256;

function isHash(v: unknown): v is Uint8Array {
  return v instanceof Uint8Array && v.length === 32;
}

/** The structural rules of a canonical proof; proofs from the network are untrusted input. */
function wellFormed(proof: StateProof): boolean {
  if (typeof proof !== 'object' || proof === null) return false;
  const { depth, bitmap, siblings, leaf } = proof;
  if (!Number.isSafeInteger(depth) || depth < 0 || depth > MAX_DEPTH) return false;
  if (!(bitmap instanceof Uint8Array) || bitmap.length !== Math.ceil(depth / 8)) return false;
  if (depth % 8 !== 0 && (bitmap[bitmap.length - 1]! & (0xff >> (depth % 8))) !== 0) return false;
  if (!Array.isArray(siblings)) return false;
  let set = 0;
  for (let i = 0; i < depth; i++) set += (bitmap[i >> 3]! >> (7 - (i & 7))) & 1;
  if (set !== siblings.length) return false;
  // An all-zero "non-empty" sibling would be a second encoding of the same proof.
  for (const s of siblings) if (!isHash(s) || s.every((b) => b === 0)) return false;
  if (leaf !== null) {
    if (typeof leaf !== 'object' || !isHash(leaf.path) || !isHash(leaf.value_hash)) return false;
    if (Object.keys(leaf).length !== 2) return false;
  }
  return Object.keys(proof).length === 4;
}

/** Folds the path from the node at `proof.depth` up to the root. */
function foldToRoot(path: Hash32, start: Hash32, proof: StateProof): Hash32 {
  let h = start;
  let next = 0;
  for (let i = proof.depth - 1; i >= 0; i--) {
    const set = (proof.bitmap[i >> 3]! >> (7 - (i & 7))) & 1;
    const sibling = set === 1 ? fromBytes(proof.siblings[next++]!) : EMPTY32;
    h = pathBit(path, i) === 0 ? nodeHash32(h, sibling) : nodeHash32(sibling, h);
  }
  return h;
}

/** Whether the first `depth` bits of two paths agree. */
function samePrefix(a: Hash32, b: Hash32, depth: number): boolean {
  for (let i = 0; i < depth; i++) if (pathBit(a, i) !== pathBit(b, i)) return false;
  return true;
}

/**
 * Checks `proof` against `root`: with `value` bytes, that `key` holds exactly `value`; with null,
 * that `key` is absent. Never throws: malformed proofs are simply false.
 */
export function verifyStateProof(
  root: Uint8Array,
  key: string,
  value: Uint8Array | null,
  proof: StateProof,
): boolean {
  try {
    if (!isHash(root) || !wellFormed(proof)) return false;
    const path = keyPath32(key);
    let start: Hash32;
    if (value !== null) {
      if (proof.leaf !== null) return false;
      start = leafHash32(path, valueHash32(value));
    } else if (proof.leaf === null) {
      start = EMPTY32;
    } else {
      // Another key's leaf can only sit where its own path leads, and it must not be this key.
      const otherPath = fromBytes(proof.leaf.path);
      if (otherPath === path || !samePrefix(otherPath, path, proof.depth)) return false;
      start = leafHash32(otherPath, fromBytes(proof.leaf.value_hash));
    }
    return foldToRoot(path, start, proof) === fromBytes(root);
  } catch {
    return false;
  }
}
