import { describe, expect, it } from 'vitest';
import { fromHex, sha256, u32be } from '@self/crypto';
import {
  drawCommittee,
  sortitionSeed,
  sortitionWeight,
  type SortitionValidator,
} from '../../src/poai/index.js';
import { docVector } from '../../../../scripts/doc-vectors.js';

const DOC = 'docs/protocol/poai.md';

interface SortitionVector {
  validators: SortitionValidator[];
  prev_hash: string;
  height: number;
  size: number;
  weights: Record<string, number>;
  seeds: string[];
  committee: string[];
  committee_size_0: string[];
}

describe('sortition vector', () => {
  const v = docVector<SortitionVector>(DOC, 'sortition');
  const prevHash = fromHex(v.prev_hash);

  it('weights, seeds and committee', () => {
    for (const val of v.validators)
      expect(Number(sortitionWeight(val.bonded, val.reputation))).toBe(v.weights[val.address]);
    expect(v.seeds.map((_, i) => sortitionSeed(prevHash, v.height, i).toString())).toEqual(v.seeds);
    expect(drawCommittee({ validators: v.validators, prevHash, height: v.height, size: v.size })).toEqual(
      v.committee,
    );
    expect(drawCommittee({ validators: v.validators, prevHash, height: v.height, size: 0 })).toEqual(
      v.committee_size_0,
    );
    expect(drawCommittee({ validators: v.validators, prevHash, height: v.height, size: 9 })).toEqual(
      v.committee_size_0,
    );
  });

  it('does not depend on input order', () => {
    const shuffled = [...v.validators].reverse();
    expect(drawCommittee({ validators: shuffled, prevHash, height: v.height, size: v.size })).toEqual(
      v.committee,
    );
  });
});

describe('sortition behaviour', () => {
  const validators = Array.from({ length: 12 }, (_, i) => ({
    address: `v${String(i).padStart(2, '0')}`,
    bonded: 1_000 * (i + 1),
    reputation: (i * 977) % 10_001,
  }));

  it('draws distinct members, deterministically, varying with height and seed', () => {
    const seen = new Set<string>();
    for (let h = 1; h <= 200; h++) {
      const prevHash = sha256(u32be(h));
      const c = drawCommittee({ validators, prevHash, height: h, size: 5 });
      expect(c.length).toBe(5);
      expect(new Set(c).size).toBe(5);
      expect(drawCommittee({ validators, prevHash, height: h, size: 5 })).toEqual(c);
      seen.add(c.join(','));
    }
    expect(seen.size).toBeGreaterThan(150);
  });

  it('reputation shifts the odds but zero reputation keeps a chance', () => {
    const vs = [
      { address: 'a', bonded: 1_000_000, reputation: 10_000 },
      { address: 'b', bonded: 1_000_000, reputation: 0 },
    ];
    let a = 0;
    let b = 0;
    for (let h = 1; h <= 2_000; h++) {
      const [first] = drawCommittee({ validators: vs, prevHash: sha256(u32be(h)), height: h, size: 1 });
      if (first === 'a') a++;
      else b++;
    }
    // Expected ratio 11 : 1.
    expect(b).toBeGreaterThan(80);
    expect(b).toBeLessThan(260);
    expect(a + b).toBe(2_000);
  });

  it('weights: floor, minimum 1, exact beyond 2^53 products', () => {
    expect(sortitionWeight(11_000, 0)).toBe(1_000n);
    expect(sortitionWeight(11_000, 10_000)).toBe(11_000n);
    expect(sortitionWeight(0, 0)).toBe(1n);
    expect(sortitionWeight(5, 0)).toBe(1n);
    expect(sortitionWeight(Number.MAX_SAFE_INTEGER, 10_000)).toBe(BigInt(Number.MAX_SAFE_INTEGER));
    expect(() => sortitionWeight(1, 10_001)).toThrow(RangeError);
    expect(() => sortitionWeight(-1, 0)).toThrow(RangeError);
  });

  it('rejects duplicate addresses', () => {
    const dup = [validators[0]!, { ...validators[0]! }, validators[1]!];
    expect(() =>
      drawCommittee({ validators: dup, prevHash: new Uint8Array(32), height: 1, size: 1 }),
    ).toThrow(RangeError);
  });
});
