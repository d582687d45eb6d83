import { equalBytes, taggedHash } from '@self/crypto';
import { AuditError } from './errors.js';

/**
 * The Merkle tree that commits to an audit segment (docs/protocol/audit.md §4): the RFC 6962 /
 * RFC 9162 tree shape and inclusion proofs, with tagged SHA-256 instead of bare SHA-256:
 *
 *   leaf(d)    = T(D, 0x00 ‖ d)          D = "self-audit-merkle-v1",
 *   node(l, r) = T(D, 0x01 ‖ l ‖ r)      T(D, x) = SHA-256(utf8(D) ‖ 0x00 ‖ x)
 *
 * The tree over n ≥ 1 leaves splits at k, the largest power of two below n: node(MTH(first k),
 * MTH(the rest)). Built bottom up, that is "pair neighbours, and move an odd last element up
 * unchanged", which is what this file does. The empty tree has no root here: a segment holds at
 * least one entry.
 */
export const AUDIT_MERKLE_DOMAIN = 'self-audit-merkle-v1';

const LEAF = new Uint8Array([0x00]);
const NODE = new Uint8Array([0x01]);
/** A path has at most one sibling per level; 2^64 leaves are far beyond any segment. */
const MAX_PATH = 64;

export interface InclusionProof {
  /** 0-based position of the leaf. */
  index: number;
  /** Number of leaves in the tree. */
  size: number;
  /** Sibling hashes from the leaf's level up to the root's children (RFC 9162 order). */
  path: Uint8Array[];
}

export function merkleLeafHash(leaf: Uint8Array): Uint8Array {
  return taggedHash(AUDIT_MERKLE_DOMAIN, LEAF, leaf);
}

export function merkleNodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  return taggedHash(AUDIT_MERKLE_DOMAIN, NODE, left, right);
}

function nextLevel(level: readonly Uint8Array[]): Uint8Array[] {
  const next: Uint8Array[] = [];
  for (let i = 0; i + 1 < level.length; i += 2) next.push(merkleNodeHash(level[i]!, level[i + 1]!));
  if (level.length % 2 === 1) next.push(level[level.length - 1]!);
  return next;
}

function checkLeaves(leaves: readonly Uint8Array[]): void {
  if (!Array.isArray(leaves) || leaves.length === 0) {
    throw new AuditError('invalid_argument', 'a Merkle tree needs at least one leaf');
  }
  for (const l of leaves) {
    if (!(l instanceof Uint8Array)) throw new AuditError('invalid_argument', 'Merkle leaves must be bytes');
  }
}

/** MTH(leaves) for leaves.length ≥ 1. Leaves are the raw data (entry hashes), hashed here with leaf(). */
export function merkleRoot(leaves: readonly Uint8Array[]): Uint8Array {
  checkLeaves(leaves);
  let level = leaves.map(merkleLeafHash);
  while (level.length > 1) level = nextLevel(level);
  return level[0]!;
}

/** RFC 9162 §2.1.3.1 PATH(index, leaves). */
export function inclusionProof(leaves: readonly Uint8Array[], index: number): InclusionProof {
  checkLeaves(leaves);
  if (!Number.isSafeInteger(index) || index < 0 || index >= leaves.length) {
    throw new AuditError('invalid_argument', `leaf index ${index} outside 0..${leaves.length - 1}`);
  }
  const path: Uint8Array[] = [];
  let level = leaves.map(merkleLeafHash);
  let i = index;
  while (level.length > 1) {
    // Odd i: the left neighbour; even i: the right one, unless i is a promoted last element.
    const sibling = i % 2 === 1 ? i - 1 : i + 1;
    if (sibling < level.length) path.push(level[sibling]!);
    level = nextLevel(level);
    i = Math.floor(i / 2);
  }
  return { index, size: leaves.length, path };
}

/**
 * RFC 9162 §2.1.3.2: true when `leaf` (raw data, e.g. an entry hash) sits at proof.index in a tree of
 * proof.size leaves whose root is `root`. Malformed input gives false, never an exception.
 */
export function verifyInclusion(leaf: Uint8Array, proof: InclusionProof, root: Uint8Array): boolean {
  if (!(leaf instanceof Uint8Array) || !(root instanceof Uint8Array) || root.length !== 32) return false;
  if (typeof proof !== 'object' || proof === null) return false;
  const { index, size, path } = proof;
  if (!Number.isSafeInteger(size) || size < 1) return false;
  if (!Number.isSafeInteger(index) || index < 0 || index >= size) return false;
  if (!Array.isArray(path) || path.length > MAX_PATH) return false;
  // Arithmetic, not bit operators: sizes may exceed 2^31.
  let fn = index;
  let sn = size - 1;
  let r = merkleLeafHash(leaf);
  for (const p of path) {
    if (!(p instanceof Uint8Array) || p.length !== 32) return false;
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = merkleNodeHash(p, r);
      while (fn % 2 === 0 && fn !== 0) {
        fn /= 2;
        sn = Math.floor(sn / 2);
      }
    } else {
      r = merkleNodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && equalBytes(r, root);
}
