import { describe, expect, it } from 'vitest';
import type { RiskStats } from '../../src/state-types.js';
import {
  AMOUNT_MAX_SCORE,
  CIRCULAR_SCORE,
  emptyRiskStats,
  FREQUENCY_MAX_SCORE,
  isDelayed,
  NEW_ACCOUNT_MAX_SCORE,
  RISK_DELAY_BPS,
  RISK_MAX_BPS,
  riskComponents,
  txRisk,
  type RiskComponents,
  type RiskInput,
} from '../../src/poai/index.js';
import { TX_KINDS } from '../../src/types.js';
import { docVector } from '../../../../scripts/doc-vectors.js';
import { prng } from './prng.js';

const DOC = 'docs/protocol/poai.md';

describe('risk vectors', () => {
  for (const name of [
    'risk-benign',
    'risk-circular',
    'risk-frequency',
    'risk-amount',
    'risk-amount-warmup',
    'risk-new-account',
    'risk-capped',
  ]) {
    it(name, () => {
      const v = docVector<{ input: RiskInput; expected: RiskComponents }>(DOC, name);
      expect(riskComponents(v.input)).toEqual(v.expected);
      expect(txRisk(v.input)).toBe(v.expected.total);
    });
  }

  it('risk-delay', () => {
    const v = docVector<{ risk: number; last_height: number; height: number; delayed: boolean }[]>(
      DOC,
      'risk-delay',
    );
    for (const c of v) {
      const stats: RiskStats = {
        ...emptyRiskStats(),
        first_height: c.last_height === 0 ? 0 : 1,
        last_height: c.last_height,
      };
      expect(isDelayed(c.risk, stats, c.height), JSON.stringify(c)).toBe(c.delayed);
    }
  });
});

describe('risk behaviour', () => {
  const base: RiskInput = {
    kind: 'transfer',
    sender: 'S',
    amount: 100,
    nonce: 20,
    height: 1_000,
    stats: {
      first_height: 1,
      last_height: 900,
      rate_ewma: 3_000,
      amount_ewma: 100,
      recent_to: [],
      count_at_last: 1,
    },
    recipient: { recent_to: [] },
  };

  it('circularity needs a transfer and an existing recipient that sent to the sender', () => {
    expect(riskComponents({ ...base, recipient: { recent_to: ['X', 'S'] } }).circular).toBe(CIRCULAR_SCORE);
    expect(riskComponents({ ...base, recipient: { recent_to: ['X'] } }).circular).toBe(0);
    expect(riskComponents({ ...base, recipient: null }).circular).toBe(0);
    expect(riskComponents({ ...base, kind: 'anchor', recipient: { recent_to: ['S'] } }).circular).toBe(0);
  });

  it('frequency grows with the in-block count and is monotone', () => {
    let prev = -1;
    for (let count = 0; count < 12; count++) {
      const f = riskComponents({
        ...base,
        stats: { ...base.stats, last_height: 1_000, count_at_last: count },
      }).frequency;
      expect(f).toBeGreaterThanOrEqual(prev);
      prev = f;
    }
    expect(prev).toBe(FREQUENCY_MAX_SCORE);
    // 4 in one block against a baseline of 1/block is still normal; the 5th is a spike.
    const at = (count: number) =>
      riskComponents({ ...base, stats: { ...base.stats, last_height: 1_000, count_at_last: count } })
        .frequency;
    expect(at(3)).toBe(0);
    expect(at(4)).toBe(750);
    expect(at(7)).toBe(3_000);
  });

  it('amount is graded, capped, and off during warm-up and for non-transfers', () => {
    const amt = (amount: number, extra: Partial<RiskInput> = {}) =>
      riskComponents({ ...base, ...extra, amount }).amount;
    expect(amt(400)).toBe(0);
    expect(amt(401)).toBe(1);
    expect(amt(1_200)).toBe(1_250);
    expect(amt(2_000)).toBe(AMOUNT_MAX_SCORE);
    expect(amt(Number.MAX_SAFE_INTEGER)).toBe(AMOUNT_MAX_SCORE);
    expect(amt(2_000, { nonce: 8 })).toBe(0);
    expect(amt(2_000, { nonce: 9 })).toBe(AMOUNT_MAX_SCORE);
    expect(amt(2_000, { kind: 'bond' })).toBe(0);
    expect(amt(2_000, { stats: { ...base.stats, amount_ewma: 0 } })).toBe(0);
  });

  it('new-account burst only for young accounts', () => {
    const young = { ...base.stats, first_height: 950 };
    expect(riskComponents({ ...base, stats: young, nonce: 10 }).new_account).toBe(0);
    expect(riskComponents({ ...base, stats: young, nonce: 30 }).new_account).toBe(1_000);
    expect(riskComponents({ ...base, stats: young, nonce: 500 }).new_account).toBe(NEW_ACCOUNT_MAX_SCORE);
    expect(riskComponents({ ...base, stats: { ...young, first_height: 901 }, nonce: 500 }).new_account).toBe(
      NEW_ACCOUNT_MAX_SCORE,
    );
    expect(riskComponents({ ...base, stats: { ...young, first_height: 900 }, nonce: 500 }).new_account).toBe(
      0,
    );
  });

  it('random inputs: integer, in range, equal to the capped sum, deterministic', () => {
    const rnd = prng(7);
    for (let i = 0; i < 2_000; i++) {
      const height = 1 + rnd(1_000);
      const last = rnd(height + 1);
      const input: RiskInput = {
        kind: TX_KINDS[rnd(TX_KINDS.length)]!,
        sender: `a${rnd(4)}`,
        amount: rnd(3) === 0 ? Number.MAX_SAFE_INTEGER - rnd(1_000) : rnd(100_000),
        nonce: 1 + rnd(80),
        height,
        stats: {
          first_height: last === 0 ? 0 : 1 + rnd(last),
          last_height: last,
          rate_ewma: rnd(200_000),
          amount_ewma: rnd(3) === 0 ? 0 : rnd(50_000),
          recent_to: [`a${rnd(4)}`],
          count_at_last: last === 0 ? 0 : 1 + rnd(20),
        },
        recipient: rnd(3) === 0 ? null : { recent_to: [`a${rnd(4)}`, `a${rnd(4)}`] },
      };
      const r = riskComponents(input);
      for (const x of Object.values(r)) expect(Number.isSafeInteger(x)).toBe(true);
      expect(r.total).toBe(Math.min(RISK_MAX_BPS, r.circular + r.frequency + r.amount + r.new_account));
      expect(r.total).toBeGreaterThanOrEqual(0);
      expect(riskComponents(structuredClone(input))).toEqual(r);
    }
  });

  it('delay applies only at or above the threshold', () => {
    const s = { ...base.stats, last_height: 999 };
    expect(isDelayed(RISK_DELAY_BPS - 1, s, 1_000)).toBe(false);
    expect(isDelayed(RISK_DELAY_BPS, s, 1_000)).toBe(true);
    expect(isDelayed(RISK_DELAY_BPS, s, 1_001)).toBe(true);
    expect(isDelayed(RISK_DELAY_BPS, s, 1_002)).toBe(false);
    expect(() => isDelayed(10_001, s, 1_000)).toThrow(RangeError);
  });
});
