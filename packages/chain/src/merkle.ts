import {
  EMPTY32,
  type Hash32,
  keyPath32,
  leafHash32,
  nodeHash32,
  pathBit,
  toBytes,
  valueHash32,
} from './merkle-hash.js';
import { MAX_DEPTH, type StateProof } from './merkle-proof.js';
import type { StateReader } from './state-view.js';

export { verifyStateProof, type StateProof } from './merkle-proof.js';
export { keyPath } from './merkle-hash.js';

/**
 * The state root: a compact sparse Merkle tree over SHA-256 key paths (docs/protocol/state.md).
 *
 * Nodes are immutable and shared between versions: `withChanges` rebuilds only the paths it
 * touches, so the consensus engine can derive the roots of several competing proposals from one
 * committed tree without copying it, and drop the losers for the garbage collector.
 */

class Leaf {
  constructor(
    readonly key: string,
    readonly path: Hash32,
    /** Not copied: values are canonical encodings that nobody mutates once written. */
    readonly value: Uint8Array,
    readonly valueHash: Hash32,
    readonly hash: Hash32,
  ) {}
}

/** Two or more leaves below; a single-leaf subtree is the leaf itself (the compaction rule). */
class Branch {
  constructor(
    readonly left: TreeNode,
    readonly right: TreeNode,
    readonly hash: Hash32,
  ) {}
}

type TreeNode = Leaf | Branch | null;

/** One pending change, with its path and value hash computed once. */
interface Change {
  key: string;
  path: Hash32;
  value: Uint8Array | null;
  valueHash: Hash32 | null;
}

interface Pathed {
  path: Hash32;
}

function hashOf(node: TreeNode): Hash32 {
  return node === null ? EMPTY32 : node.hash;
}

/** First index in [lo, hi) whose path has bit `depth` set; the range is sorted and shares the bits above. */
function splitIndex(items: readonly Pathed[], lo: number, hi: number, depth: number): number {
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (pathBit(items[mid]!.path, depth) === 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The canonical node over two children: nothing, a lone leaf pulled up (so the shape depends only
 * on the set of keys, never on the order of updates), or a branch.
 */
function join(left: TreeNode, right: TreeNode): TreeNode {
  if (right === null && (left === null || left instanceof Leaf)) return left;
  if (left === null && right instanceof Leaf) return right;
  return new Branch(left, right, nodeHash32(hashOf(left), hashOf(right)));
}

/** Subtree at `depth` holding exactly `leaves[lo..hi)` (sorted by path). */
function build(leaves: readonly Leaf[], lo: number, hi: number, depth: number): TreeNode {
  if (lo === hi) return null;
  if (hi - lo === 1) return leaves[lo]!;
  // Two distinct keys with one path would be a SHA-256 collision; refuse rather than corrupt.
  if (depth === MAX_DEPTH)
    throw new Error(`state tree: keys ${leaves[lo]!.key} and ${leaves[hi - 1]!.key} share a path`);
  const mid = splitIndex(leaves, lo, hi, depth);
  return join(build(leaves, lo, mid, depth + 1), build(leaves, mid, hi, depth + 1));
}

function newLeaf(c: Change): Leaf {
  return new Leaf(c.key, c.path, c.value!, c.valueHash!, leafHash32(c.path, c.valueHash!));
}

/** Counts inserted minus deleted keys during one batch. */
interface Batch {
  delta: number;
}

/**
 * Applies changes[lo..hi) to the subtree `existing` (null or a single leaf) at `depth`: the result is
 * rebuilt from the surviving leaves. Only sets create leaves, and an unchanged value keeps its leaf.
 */
function rebuild(
  batch: Batch,
  existing: Leaf | null,
  changes: readonly Change[],
  lo: number,
  hi: number,
  depth: number,
): TreeNode {
  const leaves: Leaf[] = [];
  let pending = existing;
  for (let i = lo; i < hi; i++) {
    const c = changes[i]!;
    if (pending !== null) {
      if (pending.path < c.path) {
        leaves.push(pending);
        pending = null;
      } else if (pending.path === c.path) {
        if (pending.key !== c.key)
          throw new Error(`state tree: keys ${pending.key} and ${c.key} share a path`);
        if (c.valueHash === null) batch.delta--;
        else leaves.push(c.valueHash === pending.valueHash ? pending : newLeaf(c));
        pending = null;
        continue;
      }
    }
    if (c.valueHash !== null) {
      leaves.push(newLeaf(c));
      batch.delta++;
    }
  }
  if (pending !== null) leaves.push(pending);
  if (existing !== null && leaves.length === 1 && leaves[0] === existing) return existing;
  return build(leaves, 0, leaves.length, depth);
}

/** Applies changes[lo..hi) (sorted by path, all under this subtree) to `node` at `depth`. */
function update(
  batch: Batch,
  node: TreeNode,
  changes: readonly Change[],
  lo: number,
  hi: number,
  depth: number,
): TreeNode {
  if (lo === hi) return node;
  if (!(node instanceof Branch)) return rebuild(batch, node, changes, lo, hi, depth);
  const mid = splitIndex(changes, lo, hi, depth);
  const left = update(batch, node.left, changes, lo, mid, depth + 1);
  const right = update(batch, node.right, changes, mid, hi, depth + 1);
  // Untouched subtrees keep their identity, so nothing above them is re-hashed either.
  if (left === node.left && right === node.right) return node;
  return join(left, right);
}

function toChanges(changes: Iterable<readonly [string, Uint8Array | null]>): Change[] {
  const out: Change[] = [];
  for (const [key, value] of changes) {
    out.push({ key, path: keyPath32(key), value, valueHash: value === null ? null : valueHash32(value) });
  }
  // Latin1 strings compare by char code, that is in byte order.
  out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return out;
}

export class StateTree implements StateReader {
  private static readonly EMPTY = new StateTree(null, 0);

  private constructor(
    private readonly top: TreeNode,
    private readonly count: number,
  ) {}

  static empty(): StateTree {
    return StateTree.EMPTY;
  }

  /** Builds a tree from records, e.g. the store's state at start-up. Keys must be distinct. */
  static fromEntries(entries: Iterable<readonly [string, Uint8Array]>): StateTree {
    const changes = toChanges(entries);
    for (let i = 1; i < changes.length; i++) {
      if (changes[i]!.key === changes[i - 1]!.key)
        throw new Error(`state tree: duplicate key ${changes[i]!.key}`);
    }
    return StateTree.EMPTY.apply(changes);
  }

  /** The 32-byte state root; 32 zero bytes for the empty tree. A fresh copy: callers may keep or mutate it. */
  root(): Uint8Array {
    return toBytes(hashOf(this.top));
  }

  /** Number of keys. */
  size(): number {
    return this.count;
  }

  /** A new tree with the changes applied (null deletes); this tree is unchanged and stays usable. */
  withChanges(changes: ReadonlyMap<string, Uint8Array | null>): StateTree {
    if (changes.size === 0) return this;
    return this.apply(toChanges(changes));
  }

  private apply(changes: readonly Change[]): StateTree {
    const batch: Batch = { delta: 0 };
    const top = update(batch, this.top, changes, 0, changes.length, 0);
    return top === this.top ? this : new StateTree(top, this.count + batch.delta);
  }

  /** The value stored under `key`, or undefined. */
  get(key: string): Uint8Array | undefined {
    const path = keyPath32(key);
    let node = this.top;
    for (let depth = 0; node instanceof Branch; depth++) {
      node = pathBit(path, depth) === 0 ? node.left : node.right;
    }
    return node !== null && node.path === path ? node.value : undefined;
  }

  /** Inclusion proof when `key` is present, non-inclusion proof otherwise; see verifyStateProof. */
  prove(key: string): StateProof {
    const path = keyPath32(key);
    const bitmap = new Uint8Array(32);
    const siblings: Uint8Array[] = [];
    let node = this.top;
    let depth = 0;
    for (; node instanceof Branch; depth++) {
      const bit = pathBit(path, depth);
      const sibling = bit === 0 ? node.right : node.left;
      if (sibling !== null) {
        bitmap[depth >> 3]! |= 0x80 >> (depth & 7);
        siblings.push(toBytes(sibling.hash));
      }
      node = bit === 0 ? node.left : node.right;
    }
    siblings.reverse();
    const leaf =
      node !== null && node.path !== path
        ? { path: toBytes(node.path), value_hash: toBytes(node.valueHash) }
        : null;
    return { depth, bitmap: bitmap.slice(0, Math.ceil(depth / 8)), siblings, leaf };
  }

  /** Every (key, value), in path order. */
  *entries(): IterableIterator<[string, Uint8Array]> {
    const stack: TreeNode[] = [this.top];
    while (stack.length > 0) {
      const node = stack.pop()!;
      if (node === null) continue;
      if (node instanceof Leaf) yield [node.key, node.value];
      else stack.push(node.right, node.left);
    }
  }
}
