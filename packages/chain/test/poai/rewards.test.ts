import { describe, expect, it } from 'vitest';
import { colourChecker, splitRewards } from '../../src/poai/index.js';
import { docVector } from '../../../../scripts/doc-vectors.js';
import { prng } from './prng.js';

const DOC = 'docs/protocol/poai.md';

interface RewardsVector {
  committee: string[];
  signers: string[];
  reserve: string;
  builder: string;
  total: number;
  cases: { height: number; colour_checker: string | null; split: Record<string, number> }[];
}

const sum = (m: Map<string, number>): number => [...m.values()].reduce((a, b) => a + b, 0);

describe('rewards vector', () => {
  it('rewards', () => {
    const v = docVector<RewardsVector>(DOC, 'rewards');
    for (const c of v.cases) {
      const checker = colourChecker(v.committee, c.height, v.signers);
      expect(checker).toBe(c.colour_checker);
      const m = splitRewards({
        total: v.total,
        builder: v.builder,
        voters: v.signers,
        colourChecker: checker,
        reserve: v.reserve,
      });
      expect(Object.fromEntries(m)).toEqual(c.split);
      expect(sum(m)).toBe(v.total);
    }
  });
});

describe('rewards behaviour', () => {
  it('sums to the total exactly, for any total and any roles', () => {
    const rnd = prng(11);
    const totals = [0, 1, 99, 100, 101, 1_000, 999_999, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER - 7];
    for (let i = 0; i < 2_000; i++) {
      const total =
        i < totals.length ? totals[i]! : rnd(2) ? rnd(1_000_000) : Number.MAX_SAFE_INTEGER - rnd(1 << 30);
      const pool = ['a', 'b', 'c', 'd', 'e', 'r'];
      const voters = Array.from({ length: rnd(8) }, () => pool[rnd(pool.length)]!);
      const checker = rnd(3) === 0 ? null : pool[rnd(pool.length)]!;
      const m = splitRewards({
        total,
        builder: pool[rnd(pool.length)]!,
        voters,
        colourChecker: checker,
        reserve: 'r',
      });
      let s = 0n;
      for (const x of m.values()) {
        expect(Number.isSafeInteger(x) && x > 0).toBe(true);
        s += BigInt(x);
      }
      expect(s).toBe(BigInt(total));
    }
  });

  it('shares: 90 / 8 / 1 / 1, voters deduplicated, remainders to the reserve', () => {
    const m = splitRewards({
      total: 10_000,
      builder: 'B',
      voters: ['v1', 'v2', 'v1', 'v3'],
      colourChecker: 'C',
      reserve: 'R',
    });
    expect(Object.fromEntries(m)).toEqual({ B: 9_000, v1: 266, v2: 266, v3: 266, C: 100, R: 102 });
    const none = splitRewards({ total: 10_000, builder: 'B', voters: [], colourChecker: null, reserve: 'R' });
    expect(Object.fromEntries(none)).toEqual({ B: 9_000, R: 1_000 });
    const same = splitRewards({
      total: 10_000,
      builder: 'B',
      voters: ['B'],
      colourChecker: 'B',
      reserve: 'R',
    });
    expect(Object.fromEntries(same)).toEqual({ B: 9_900, R: 100 });
    expect(() =>
      splitRewards({ total: 1.5, builder: 'B', voters: [], colourChecker: null, reserve: 'R' }),
    ).toThrow(RangeError);
  });

  it('colour checker rotates through the committee and must have signed', () => {
    const committee = ['x', 'y', 'z'];
    expect([0, 1, 2, 3, 4].map((h) => colourChecker(committee, h, committee))).toEqual([
      'x',
      'y',
      'z',
      'x',
      'y',
    ]);
    expect(colourChecker(committee, 4, ['x', 'z'])).toBeNull();
    expect(colourChecker([], 4, ['x'])).toBeNull();
  });
});
