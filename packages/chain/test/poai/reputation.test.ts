import { describe, expect, it } from 'vitest';
import {
  applyReputation,
  classifyOutcome,
  participationOk,
  quorum,
  REPUTATION_MAX,
  updateReputation,
  type ReputationOutcome,
} from '../../src/poai/index.js';
import { docVector } from '../../../../scripts/doc-vectors.js';

const DOC = 'docs/protocol/poai.md';

type Step = { reputation: number; outcome: ReputationOutcome; next: number };

describe('reputation vectors', () => {
  it('reputation-steps', () => {
    const v = docVector<{ start: number; steps: Step[] }>(DOC, 'reputation-steps');
    let r = v.start;
    for (const s of v.steps) {
      expect(s.reputation).toBe(r);
      r = updateReputation(r, s.outcome);
      expect(r).toBe(s.next);
    }
  });

  it('reputation-edges', () => {
    const v = docVector<{ cases: Step[] }>(DOC, 'reputation-edges');
    for (const s of v.cases) expect(updateReputation(s.reputation, s.outcome)).toBe(s.next);
  });

  it('quorum', () => {
    const v = docVector<{
      quorum: { n: number; quorum: number }[];
      participation: { votes: number; n: number; ok: boolean }[];
    }>(DOC, 'quorum');
    for (const q of v.quorum) expect(quorum(q.n)).toBe(q.quorum);
    for (const p of v.participation) expect(participationOk(p.votes, p.n)).toBe(p.ok);
  });
});

describe('reputation behaviour', () => {
  const targets: Record<Exclude<ReputationOutcome, 'equivocated'>, number> = {
    timely: 10_000,
    disagreed: 5_000,
    absent: 0,
  };

  it('every step moves toward the target without overshoot, and reaches it', () => {
    const bad: string[] = [];
    for (let rep = 0; rep <= REPUTATION_MAX; rep++) {
      for (const [outcome, target] of Object.entries(targets) as [keyof typeof targets, number][]) {
        const next = updateReputation(rep, outcome);
        const ok =
          Number.isSafeInteger(next) &&
          Math.abs(target - next) <= Math.abs(target - rep) &&
          (rep === target || next !== rep) &&
          (target - next) * (target - rep) >= 0;
        if (!ok) bad.push(`${rep} ${outcome} -> ${next}`);
      }
      if (updateReputation(rep, 'equivocated') !== 0) bad.push(`${rep} equivocated`);
    }
    expect(bad).toEqual([]);
    let r = 0;
    let steps = 0;
    while (r !== 10_000) {
      r = updateReputation(r, 'timely');
      steps++;
    }
    expect(steps).toBeLessThan(200);
  });

  it('symmetric: rising from t − d and falling from t + d take equal steps', () => {
    for (let d = 0; d <= 5_000; d++) {
      const up = updateReputation(5_000 - d, 'disagreed') - (5_000 - d);
      const down = 5_000 + d - updateReputation(5_000 + d, 'disagreed');
      expect(up).toBe(down);
    }
  });

  it('classifyOutcome precedence', () => {
    expect(classifyOutcome({ signed: true, voted_other: true, equivocated: true })).toBe('equivocated');
    expect(classifyOutcome({ signed: true, voted_other: true, equivocated: false })).toBe('timely');
    expect(classifyOutcome({ signed: false, voted_other: true, equivocated: false })).toBe('disagreed');
    expect(classifyOutcome({ signed: false, voted_other: false, equivocated: false })).toBe('absent');
  });

  it('applyReputation updates committee members only', () => {
    const reps = new Map([
      ['a', 5_000],
      ['b', 5_000],
      ['c', 7_000],
    ]);
    const out = applyReputation(
      reps,
      new Map<string, ReputationOutcome>([
        ['a', 'timely'],
        ['b', 'equivocated'],
      ]),
    );
    expect([...out]).toEqual([
      ['a', 5_313],
      ['b', 0],
      ['c', 7_000],
    ]);
    expect(reps.get('a')).toBe(5_000);
    expect(() => applyReputation(reps, new Map([['z', 'timely' as const]]))).toThrow(RangeError);
  });

  it('rejects reputations outside [0, 10000]', () => {
    expect(() => updateReputation(10_001, 'timely')).toThrow(RangeError);
    expect(() => updateReputation(-1, 'absent')).toThrow(RangeError);
  });

  it('quorum is more than two thirds; participation is 60%', () => {
    for (let n = 1; n <= 100; n++) {
      const q = quorum(n);
      expect(3 * q).toBeGreaterThan(2 * n);
      expect(3 * (q - 1)).toBeLessThanOrEqual(2 * n);
      const p = Math.ceil((60 * n) / 100);
      expect(participationOk(p, n)).toBe(true);
      expect(participationOk(p - 1, n)).toBe(false);
    }
  });
});
