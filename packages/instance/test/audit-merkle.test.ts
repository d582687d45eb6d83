import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { toHex } from '@self/crypto';
import {
  AUDIT_MERKLE_DOMAIN,
  AuditError,
  type InclusionProof,
  inclusionProof,
  merkleRoot,
  verifyInclusion,
} from '../src/audit/index.js';
import { thrown } from './fixtures/thrown.js';

// ---- reference: RFC 6962 §2.1 written out recursively, with its own hashing ----------------------

function refHash(prefix: number, ...parts: Uint8Array[]): Uint8Array {
  const h = createHash('sha256');
  h.update(Buffer.from('self-audit-merkle-v1', 'utf8'));
  h.update(Buffer.from([0x00, prefix]));
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

/** Largest power of two strictly below n (n > 1). */
function split(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

function refRoot(d: Uint8Array[]): Uint8Array {
  if (d.length === 1) return refHash(0x00, d[0]!);
  const k = split(d.length);
  return refHash(0x01, refRoot(d.slice(0, k)), refRoot(d.slice(k)));
}

function refPath(m: number, d: Uint8Array[]): Uint8Array[] {
  if (d.length === 1) return [];
  const k = split(d.length);
  if (m < k) return [...refPath(m, d.slice(0, k)), refRoot(d.slice(k))];
  return [...refPath(m - k, d.slice(k)), refRoot(d.slice(0, k))];
}

// --------------------------------------------------------------------------------------------------

function leaves(n: number): Uint8Array[] {
  return Array.from(
    { length: n },
    (_, i) => new Uint8Array(createHash('sha256').update(`entry ${i}`).digest()),
  );
}

function flipped(b: Uint8Array, at = 0): Uint8Array {
  const c = new Uint8Array(b);
  c[at] = c[at]! ^ 0x01;
  return c;
}

const auditError = (fn: () => unknown): AuditError => thrown(AuditError, fn);

describe('audit Merkle tree', () => {
  it('uses the pinned domain', () => expect(AUDIT_MERKLE_DOMAIN).toBe('self-audit-merkle-v1'));

  it('roots for sizes 1..33 match the RFC 6962 reference', () => {
    for (let n = 1; n <= 33; n++) {
      const d = leaves(n);
      expect(toHex(merkleRoot(d)), `n=${n}`).toBe(toHex(refRoot(d)));
    }
  });

  it('every inclusion proof for sizes 1..33 equals the reference PATH and verifies', () => {
    for (let n = 1; n <= 33; n++) {
      const d = leaves(n);
      const root = merkleRoot(d);
      for (let i = 0; i < n; i++) {
        const proof = inclusionProof(d, i);
        expect(proof.index).toBe(i);
        expect(proof.size).toBe(n);
        expect(proof.path.map(toHex), `n=${n} i=${i}`).toEqual(refPath(i, d).map(toHex));
        expect(verifyInclusion(d[i]!, proof, root), `n=${n} i=${i}`).toBe(true);
      }
    }
  });

  it('rejects a flipped path byte, a wrong index, a wrong leaf, a longer or shorter path or a wrong root', () => {
    for (let n = 1; n <= 33; n++) {
      const d = leaves(n);
      const root = merkleRoot(d);
      for (let i = 0; i < n; i++) {
        const proof = inclusionProof(d, i);
        for (let p = 0; p < proof.path.length; p++) {
          for (const at of [0, 31]) {
            const path = proof.path.map((h, j) => (j === p ? flipped(h, at) : h));
            expect(verifyInclusion(d[i]!, { ...proof, path }, root)).toBe(false);
          }
        }
        for (let j = 0; j < n; j++) {
          if (j !== i) {
            expect(verifyInclusion(d[i]!, { ...proof, index: j }, root), `n=${n} i=${i} j=${j}`).toBe(false);
            expect(verifyInclusion(d[j]!, proof, root)).toBe(false);
          }
        }
        expect(verifyInclusion(flipped(d[i]!), proof, root)).toBe(false);
        expect(verifyInclusion(d[i]!, proof, flipped(root, 31))).toBe(false);
        expect(verifyInclusion(d[i]!, { ...proof, path: [...proof.path, root] }, root)).toBe(false);
        if (proof.path.length > 0) {
          expect(verifyInclusion(d[i]!, { ...proof, path: proof.path.slice(0, -1) }, root)).toBe(false);
        }
      }
    }
  });

  it('a proof against one tree does not verify against another tree of the same leaves plus one', () => {
    const d = leaves(6);
    const bigger = merkleRoot(leaves(7));
    for (let i = 0; i < 6; i++) expect(verifyInclusion(d[i]!, inclusionProof(d, i), bigger)).toBe(false);
  });

  it('binds the size only where the path shape differs (RFC 9162 authenticates the size separately)', () => {
    // Index 0 of 3 and index 0 of 4 take the same turns (right, right), so the size-3 path also
    // "verifies" as size 4. This is why the segment size is committed beside the root (the anchor's
    // `count`) and checked against it, and why only proofs of one fixed size are compared.
    const d = leaves(3);
    const proof = inclusionProof(d, 0);
    expect(verifyInclusion(d[0]!, { ...proof, size: 4 }, merkleRoot(d))).toBe(true);
    // Other claimed sizes with other shapes fail.
    expect(verifyInclusion(d[0]!, { ...proof, size: 2 }, merkleRoot(d))).toBe(false);
    expect(verifyInclusion(d[0]!, { ...proof, size: 5 }, merkleRoot(d))).toBe(false);
    expect(verifyInclusion(d[2]!, { ...inclusionProof(d, 2), size: 4 }, merkleRoot(d))).toBe(false);
  });

  it('does not pair an odd last leaf with itself', () => {
    const d = leaves(3);
    expect(toHex(merkleRoot(d))).not.toBe(toHex(merkleRoot([...d, d[2]!])));
  });

  it('keeps a leaf from passing as a node (second preimage)', () => {
    const d = leaves(4);
    // The two level-1 nodes, taken as leaves, give a different root.
    const level1 = [
      refHash(0x01, refHash(0x00, d[0]!), refHash(0x00, d[1]!)),
      refHash(0x01, refHash(0x00, d[2]!), refHash(0x00, d[3]!)),
    ];
    expect(toHex(merkleRoot(level1))).not.toBe(toHex(merkleRoot(d)));
  });

  it('refuses bad arguments', () => {
    expect(auditError(() => merkleRoot([])).code).toBe('invalid_argument');
    expect(auditError(() => inclusionProof(leaves(3), 3)).code).toBe('invalid_argument');
    expect(auditError(() => inclusionProof(leaves(3), -1)).code).toBe('invalid_argument');
    expect(auditError(() => inclusionProof(leaves(3), 0.5)).code).toBe('invalid_argument');
    expect(auditError(() => inclusionProof([], 0)).code).toBe('invalid_argument');
    expect(auditError(() => merkleRoot(['ab' as unknown as Uint8Array])).code).toBe('invalid_argument');
  });

  it('answers false, never throws, for malformed proofs', () => {
    const d = leaves(5);
    const root = merkleRoot(d);
    const good = inclusionProof(d, 2);
    const bad: unknown[] = [
      null,
      {},
      { ...good, index: 5 },
      { ...good, index: -1 },
      { ...good, index: 1.5 },
      { ...good, size: 0 },
      { ...good, size: '5' },
      { ...good, path: 'x' },
      { ...good, path: [new Uint8Array(31), ...good.path.slice(1)] },
      { ...good, path: ['00'.repeat(32), ...good.path.slice(1)] },
      { ...good, path: Array.from({ length: 65 }, () => new Uint8Array(32)) },
    ];
    for (const p of bad) expect(verifyInclusion(d[2]!, p as InclusionProof, root)).toBe(false);
    expect(verifyInclusion(d[2]!, good, root.subarray(0, 31))).toBe(false);
    expect(verifyInclusion('leaf' as unknown as Uint8Array, good, root)).toBe(false);
    expect(verifyInclusion(d[2]!, good, root)).toBe(true);
  });

  it('handles sizes beyond 2^31 in verification arithmetic', () => {
    // A single-leaf path cannot prove membership in a huge tree; the check must say so, not wrap.
    const d = leaves(2);
    const proof = inclusionProof(d, 1);
    expect(verifyInclusion(d[1]!, { ...proof, index: 2 ** 33 + 1, size: 2 ** 33 + 2 }, merkleRoot(d))).toBe(
      false,
    );
  });
});
