import { describe, expect, it } from 'vitest';
import { fromHex, sha256, toHex, u32be } from '@self/crypto';
import {
  bandSlots,
  blockOrder,
  dependencyClosure,
  efficiencyScore,
  resolveConflicts,
  selectReference,
  selectReferenceDetailed,
  type BandSlots,
  type SelectionCandidate,
  type SelectionCapacity,
} from '../../src/poai/index.js';
import { docVector } from '../../../../scripts/doc-vectors.js';
import { prng } from './prng.js';

const DOC = 'docs/protocol/poai.md';

type HexCandidate = Omit<SelectionCandidate, 'hash'> & { hash: string };
interface SelectionVector {
  capacity: SelectionCapacity;
  candidates: HexCandidate[];
  slots?: BandSlots;
  mode: 'all' | 'bands';
  average_price: number;
  bands: Record<'high' | 'low' | 'avg' | 'old' | 'fill', string[]>;
  block: string[];
  efficiency: number;
}

const hexes = (l: readonly { hash: Uint8Array }[]): string[] => l.map((c) => toHex(c.hash));

describe('selection vectors', () => {
  for (const name of ['selection-bands', 'selection-bytes', 'selection-all']) {
    it(name, () => {
      const v = docVector<SelectionVector>(DOC, name);
      const cands = v.candidates.map((c) => ({ ...c, hash: fromHex(c.hash) }));
      const r = selectReferenceDetailed(cands, v.capacity);
      expect(r.mode).toBe(v.mode);
      expect(r.average_price).toBe(v.average_price);
      if (v.slots) expect(bandSlots(Math.min(v.capacity.max_txs, cands.length))).toEqual(v.slots);
      expect(Object.fromEntries(Object.entries(r.bands).map(([k, l]) => [k, hexes(l)]))).toEqual(v.bands);
      expect(hexes(r.txs)).toEqual(v.block);
      expect(efficiencyScore(r.txs.map((c) => c.risk))).toBe(v.efficiency);
      expect(hexes(selectReference(cands, v.capacity))).toEqual(v.block);
    });
  }
});

function randomCandidates(rnd: (n: number) => number, count: number): SelectionCandidate[] {
  const out: SelectionCandidate[] = [];
  const nextNonce = new Map<string, number>();
  for (let i = 0; i < count; i++) {
    const sender = `s${rnd(Math.max(1, count >> 1))}`;
    // Mostly consecutive nonces, sometimes a gap.
    const nonce = (nextNonce.get(sender) ?? 1 + rnd(5)) + (rnd(12) === 0 ? 1 : 0);
    nextNonce.set(sender, nonce + 1);
    out.push({
      hash: sha256(u32be(rnd(1 << 30)), u32be(i)),
      sender,
      nonce,
      point_price: 1 + rnd(rnd(4) === 0 ? 1_000 : 30),
      sender_last_height: rnd(50),
      risk: rnd(3) === 0 ? 0 : rnd(10_001),
      bytes: 100 + rnd(400),
    });
  }
  // Present them in random order: selection must not depend on it.
  for (let i = out.length - 1; i > 0; i--) {
    const j = rnd(i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

describe('selection properties', () => {
  it('band slots add up to S with the remainder in the average band', () => {
    for (let s = 0; s <= 500; s++) {
      const b = bandSlots(s);
      expect(b.high + b.low + b.avg + b.old).toBe(s);
      expect(b.high).toBe(Math.floor(s / 5));
      expect(b.low).toBe(b.high);
      expect(b.old).toBe(Math.floor(s / 10));
    }
    expect(bandSlots(10)).toEqual({ high: 2, low: 2, avg: 5, old: 1 });
    expect(bandSlots(7)).toEqual({ high: 1, low: 1, avg: 5, old: 0 });
  });

  it('random sets: capacity, dedup, closure, nonce order, determinism', () => {
    const rnd = prng(2024);
    for (let round = 0; round < 300; round++) {
      const cands = randomCandidates(rnd, 1 + rnd(60));
      const capacity = { max_txs: rnd(40), max_bytes: rnd(4) === 0 ? 1_000_000 : rnd(12_000) };
      const r = selectReferenceDetailed(cands, capacity);
      const sel = r.txs;
      expect(sel.length).toBeLessThanOrEqual(capacity.max_txs);
      expect(sel.reduce((s, c) => s + c.bytes, 0)).toBeLessThanOrEqual(capacity.max_bytes);
      expect(new Set(hexes(sel)).size).toBe(sel.length);
      if (r.mode === 'bands') expect(Object.values(r.bands).flat().length).toBe(sel.length);
      expect(sel.every((c) => cands.includes(c))).toBe(true);
      // Per sender: consecutive nonces from the sender's lowest pending nonce, in block order.
      const minNonce = new Map<string, number>();
      for (const c of cands) minNonce.set(c.sender, Math.min(minNonce.get(c.sender) ?? Infinity, c.nonce));
      const last = new Map<string, number>();
      for (const c of sel) {
        expect(c.nonce).toBe((last.get(c.sender) ?? minNonce.get(c.sender)! - 1) + 1);
        last.set(c.sender, c.nonce);
      }
      expect(dependencyClosure(cands, sel)).toEqual(sel);
      // Input order does not matter.
      expect(hexes(selectReference([...cands].reverse(), capacity))).toEqual(hexes(sel));
      expect(Number.isSafeInteger(r.average_price)).toBe(true);
    }
  });

  it('fills the capacity when everything is eligible and bytes are ample', () => {
    const rnd = prng(99);
    for (let round = 0; round < 100; round++) {
      const cands = randomCandidates(rnd, 20 + rnd(40)).map((c, i) => ({ ...c, sender: `u${i}`, nonce: 1 }));
      const max_txs = 1 + rnd(cands.length);
      const r = selectReferenceDetailed(cands, { max_txs, max_bytes: 1_000_000 });
      expect(r.txs.length).toBe(Math.min(max_txs, cands.length));
      if (r.mode === 'bands') {
        // With independent senders the high band is exactly the top prices, ties by hash.
        const slots = bandSlots(max_txs);
        const top = [...cands].sort(
          (a, b) => b.point_price - a.point_price || (toHex(a.hash) < toHex(b.hash) ? -1 : 1),
        );
        expect(hexes(r.bands.high)).toEqual(hexes(top.slice(0, slots.high)));
        expect(r.bands.high.length + r.bands.low.length + r.bands.avg.length + r.bands.old.length).toBe(
          max_txs,
        );
      }
      for (let i = 1; i < r.txs.length; i++) {
        const a = r.txs[i - 1]!;
        const b = r.txs[i]!;
        expect(a.risk < b.risk || (a.risk === b.risk && toHex(a.hash) < toHex(b.hash))).toBe(true);
      }
    }
  });

  it('one sender with a long chain: its lowest nonces, in order', () => {
    const cands = Array.from({ length: 15 }, (_, i) => ({
      hash: sha256(u32be(i)),
      sender: 'solo',
      nonce: 3 + i,
      point_price: 100 - i * 5,
      sender_last_height: 1,
      risk: (i * 3_001) % 10_000,
      bytes: 10,
    }));
    const sel = selectReference(cands, { max_txs: 10, max_bytes: 1_000 });
    expect(sel.map((c) => c.nonce)).toEqual([3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  });

  it('a transaction that does not fit is skipped, and so are its successors', () => {
    const mk = (
      h: number,
      sender: string,
      nonce: number,
      bytes: number,
      point_price = 10,
    ): SelectionCandidate => ({
      hash: new Uint8Array([h]),
      sender,
      nonce,
      point_price,
      sender_last_height: 0,
      risk: 0,
      bytes,
    });
    const cands = [
      mk(1, 'a', 1, 900, 99),
      mk(2, 'a', 2, 10),
      mk(3, 'b', 1, 100),
      mk(4, 'c', 1, 100),
      mk(5, 'd', 1, 100),
    ];
    const sel = selectReference(cands, { max_txs: 4, max_bytes: 500 });
    expect(hexes(sel)).toEqual(['03', '04', '05']);
  });

  it('conflicts: same (sender, nonce) keeps the higher price, then the lower hash; same hash throws', () => {
    const c = (h: number, price: number): SelectionCandidate => ({
      hash: new Uint8Array([h]),
      sender: 'a',
      nonce: 1,
      point_price: price,
      sender_last_height: 0,
      risk: 0,
      bytes: 1,
    });
    expect(hexes(resolveConflicts([c(5, 1), c(4, 2), c(3, 2)]))).toEqual(['03']);
    expect(() => resolveConflicts([c(1, 1), c(1, 1)])).toThrow(RangeError);
    expect(() => resolveConflicts([{ ...c(1, 1), risk: 10_001 }])).toThrow(RangeError);
    expect(() => resolveConflicts([{ ...c(1, 1), point_price: 1.5 }])).toThrow(RangeError);
  });

  it('blockOrder keeps each sender in nonce order on its own positions', () => {
    const t = (h: number, sender: string, nonce: number, risk: number) => ({
      hash: new Uint8Array([h]),
      sender,
      nonce,
      risk,
    });
    const out = blockOrder([
      t(1, 'a', 2, 0),
      t(2, 'b', 1, 500),
      t(3, 'a', 1, 9_000),
      t(4, 'c', 1, 0),
      t(5, 'a', 3, 100),
    ]);
    expect(out.map((x) => `${x.sender}${x.nonce}`)).toEqual(['a1', 'c1', 'a2', 'b1', 'a3']);
  });

  it('empty input and zero capacity', () => {
    expect(selectReference([], { max_txs: 10, max_bytes: 10 })).toEqual([]);
    const one = [
      {
        hash: new Uint8Array([1]),
        sender: 'a',
        nonce: 1,
        point_price: 1,
        sender_last_height: 0,
        risk: 0,
        bytes: 1,
      },
    ];
    expect(selectReference(one, { max_txs: 0, max_bytes: 10 })).toEqual([]);
    expect(selectReference(one, { max_txs: 1, max_bytes: 0 })).toEqual([]);
  });
});
