import { hash as oneShotHash } from 'node:crypto';
import { DOMAIN } from './types.js';

/**
 * Hash primitives of the state tree (docs/protocol/state.md). Each one equals the generic
 * `taggedHash(domain, …)` / `sha256` of @self/crypto, computed differently for speed, because a
 * block update hashes tens of thousands of nodes:
 *
 * - Inside the tree a 32-byte hash is a 32-character latin1 string ("Hash32"): a plain V8 string
 *   costs the garbage collector far less than a Buffer with its own backing store, compares with
 *   `===` / `<` in byte order, and made batch updates about 40% faster than Buffers did.
 * - `crypto.hash` (one shot) over a reused buffer with the domain prefix laid out once avoids a
 *   Hash object per call.
 *
 * The tree converts to Uint8Array only at its API (roots, proofs).
 */
export type Hash32 = string;

/** Hash of an empty subtree (and the root of the empty tree). */
export const EMPTY32: Hash32 = '\0'.repeat(32);

/** SHA-256(utf8(domain) || 0x00 || a || b) over two Hash32 inputs. */
class PairHasher {
  private readonly buf: Buffer;
  private readonly offset: number;

  constructor(domain: string) {
    const prefix = Buffer.from(`${domain}\0`, 'utf8');
    this.offset = prefix.length;
    this.buf = Buffer.alloc(prefix.length + 64);
    prefix.copy(this.buf, 0);
  }

  hash(a: Hash32, b: Hash32): Hash32 {
    // Synchronous: nothing can interleave between filling the shared buffer and hashing it.
    this.buf.write(a, this.offset, 32, 'latin1');
    this.buf.write(b, this.offset + 32, 32, 'latin1');
    return oneShotHash('sha256', this.buf, 'binary');
  }
}

const leafHasher = new PairHasher(DOMAIN.stateLeaf);
const nodeHasher = new PairHasher(DOMAIN.stateNode);

/** The key's position in the tree: SHA-256(utf8(key)), read MSB first. */
export function keyPath32(key: string): Hash32 {
  // crypto.hash encodes string input as UTF-8.
  return oneShotHash('sha256', key, 'binary');
}

/** SHA-256(value): leaves commit to the value through its hash, so proofs carry 32 bytes per leaf. */
export function valueHash32(value: Uint8Array): Hash32 {
  return oneShotHash('sha256', value, 'binary');
}

/** taggedHash(DOMAIN.stateLeaf, path || valueHash). */
export function leafHash32(path: Hash32, valueHash: Hash32): Hash32 {
  return leafHasher.hash(path, valueHash);
}

/** taggedHash(DOMAIN.stateNode, left || right); an empty child is 32 zero bytes. */
export function nodeHash32(left: Hash32, right: Hash32): Hash32 {
  return nodeHasher.hash(left, right);
}

/** Bit `depth` of a path, MSB of byte 0 first: 0 goes left, 1 goes right. */
export function pathBit(path: Hash32, depth: number): number {
  return (path.charCodeAt(depth >> 3) >> (7 - (depth & 7))) & 1;
}

/** A fresh, plain Uint8Array (never a Buffer, so CBOR and equality see one byte-string type). */
export function toBytes(h: Hash32): Uint8Array {
  const out = new Uint8Array(h.length);
  for (let i = 0; i < h.length; i++) out[i] = h.charCodeAt(i);
  return out;
}

export function fromBytes(b: Uint8Array): Hash32 {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1');
}

// Byte-level forms, for callers outside the tree (tests, proofs, documentation vectors).

export function keyPath(key: string): Uint8Array {
  return toBytes(keyPath32(key));
}

export function valueHash(value: Uint8Array): Uint8Array {
  return toBytes(valueHash32(value));
}

export function leafHash(path: Uint8Array, vHash: Uint8Array): Uint8Array {
  return toBytes(leafHash32(fromBytes(path), fromBytes(vHash)));
}

export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  return toBytes(nodeHash32(fromBytes(left), fromBytes(right)));
}
