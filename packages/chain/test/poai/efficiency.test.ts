import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from '@self/crypto';
import { compareProposals, efficiencyScore, meetsReference, rankProposals } from '../../src/poai/index.js';
import { docVector } from '../../../../scripts/doc-vectors.js';

const DOC = 'docs/protocol/poai.md';

describe('efficiency vectors', () => {
  it('efficiency', () => {
    const v = docVector<{ risks: number[]; efficiency: number }>(DOC, 'efficiency');
    expect(efficiencyScore(v.risks)).toBe(v.efficiency);
  });

  it('ranking', () => {
    const v = docVector<{
      proposals: { efficiency: number; proposer: string; block_hash: string }[];
      ranked: string[];
    }>(DOC, 'ranking');
    const ps = v.proposals.map((p) => ({ ...p, block_hash: fromHex(p.block_hash) }));
    expect(rankProposals(ps).map((p) => toHex(p.block_hash))).toEqual(v.ranked);
  });

  it('reference-tolerance', () => {
    const v = docVector<{ cases: { proposal: number; reference: number; threshold: number; ok: boolean }[] }>(
      DOC,
      'reference-tolerance',
    );
    for (const c of v.cases) {
      expect(meetsReference(c.proposal, c.reference)).toBe(c.ok);
      expect(meetsReference(c.threshold, c.reference)).toBe(true);
      if (c.threshold > 0) expect(meetsReference(c.threshold - 1, c.reference)).toBe(false);
    }
  });
});

describe('efficiency behaviour', () => {
  it('empty block scores 0; risks outside [0, 10000] throw', () => {
    expect(efficiencyScore([])).toBe(0);
    expect(efficiencyScore([10_000, 10_000])).toBe(0);
    expect(() => efficiencyScore([-1])).toThrow(RangeError);
    expect(() => efficiencyScore([10_001])).toThrow(RangeError);
    expect(() => efficiencyScore([0.5])).toThrow(RangeError);
  });

  it('compareProposals is a total order: antisymmetric, equal only for identical keys', () => {
    const ps = [];
    for (let e = 0; e < 3; e++)
      for (const p of ['a', 'b'])
        for (const h of ['01', '02']) ps.push({ efficiency: e, proposer: p, block_hash: fromHex(h) });
    for (const a of ps) {
      for (const b of ps) {
        expect(Math.sign(compareProposals(a, b)) + Math.sign(compareProposals(b, a))).toBe(0);
        if (a !== b) expect(compareProposals(a, b)).not.toBe(0);
      }
    }
    const ranked = rankProposals(ps);
    expect(ranked[0]).toMatchObject({ efficiency: 2, proposer: 'a' });
    expect(toHex(ranked[0]!.block_hash)).toBe('01');
  });

  it('meetsReference is exact for large values', () => {
    const ref = Number.MAX_SAFE_INTEGER;
    const threshold = Number((BigInt(ref) * 9_000n) / 10_000n);
    expect(meetsReference(threshold, ref)).toBe(true);
    expect(meetsReference(threshold - 1, ref)).toBe(false);
  });
});
