import { describe, expect, it } from 'vitest';
import type { RiskStats } from '../../src/state-types.js';
import {
  emptyRiskStats,
  ewmaStep,
  rateBefore,
  RATE_SCALE,
  RISK_RECENT_PEERS,
  updateRiskStats,
  type RiskUpdate,
} from '../../src/poai/index.js';
import { docVector } from '../../../../scripts/doc-vectors.js';

const DOC = 'docs/protocol/poai.md';

describe('risk stats vectors', () => {
  it('risk-stats-updates', () => {
    const v = docVector<{ start: RiskStats; steps: { update: RiskUpdate; stats: RiskStats }[] }>(
      DOC,
      'risk-stats-updates',
    );
    expect(emptyRiskStats()).toEqual(v.start);
    let s = v.start;
    for (const step of v.steps) {
      s = updateRiskStats(s, step.update);
      expect(s).toEqual(step.stats);
    }
  });
});

describe('risk stats behaviour', () => {
  it('ewmaStep is exact near 2^53 and decays to zero', () => {
    const max = Number.MAX_SAFE_INTEGER;
    expect(ewmaStep(max, max)).toBe(max);
    expect(ewmaStep(8, 16)).toBe(9);
    let e = 10_000 * 5_000;
    let steps = 0;
    while (e > 0) {
      e = ewmaStep(e, 0);
      steps++;
    }
    expect(steps).toBeLessThan(256);
  });

  it('recent_to is newest first, deduplicated and bounded', () => {
    let s = emptyRiskStats();
    for (let i = 0; i < 12; i++) s = updateRiskStats(s, { height: 1 + i, amount: 1, to: `p${i % 10}` });
    expect(s.recent_to).toEqual(['p1', 'p0', 'p9', 'p8', 'p7', 'p6', 'p5', 'p4']);
    s = updateRiskStats(s, { height: 20, amount: 1, to: 'p6' });
    expect(s.recent_to).toEqual(['p6', 'p1', 'p0', 'p9', 'p8', 'p7', 'p5', 'p4']);
    expect(s.recent_to.length).toBe(RISK_RECENT_PEERS);
  });

  it('does not mutate its input and rejects going back in height', () => {
    const s = updateRiskStats(emptyRiskStats(), { height: 5, amount: 10, to: 'x' });
    const copy = structuredClone(s);
    updateRiskStats(s, { height: 6, amount: 10, to: 'y' });
    expect(s).toEqual(copy);
    expect(() => updateRiskStats(s, { height: 4, amount: 0, to: null })).toThrow(RangeError);
    expect(() => updateRiskStats(s, { height: 6, amount: 1.5, to: null })).toThrow(RangeError);
  });

  it('a steady sender converges near its rate; long gaps fold in bounded time', () => {
    let s = emptyRiskStats();
    for (let h = 1; h <= 200; h++) {
      s = updateRiskStats(s, { height: h, amount: 0, to: null });
      s = updateRiskStats(s, { height: h, amount: 0, to: null });
    }
    const r = rateBefore(s, 201);
    expect(r).toBeGreaterThan(2 * RATE_SCALE - 10);
    expect(r).toBeLessThanOrEqual(2 * RATE_SCALE);
    expect(rateBefore(s, Number.MAX_SAFE_INTEGER)).toBe(0);
  });
});
