import { describe, expect, it } from 'vitest';
import { accountKeysFromSeed, sha512, toHex, utf8, type AccountKeys } from '@self/crypto';
import { getAccount, putAccount } from '../src/accounts.js';
import { encodeSignedTransaction, signTransaction, txHash } from '../src/codec.js';
import { ChainError, type ChainErrorCode } from '../src/errors.js';
import { Mempool, type MempoolOptions } from '../src/mempool.js';
import { StateOverlay } from '../src/state-view.js';
import type { SignedTransaction } from '../src/types.js';

const keys = (label: string): AccountKeys => accountKeysFromSeed(sha512(utf8(label)), 'ed25519');
const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((l) => keys(`mempool-${l}`)) as [
  AccountKeys,
  AccountKeys,
  AccountKeys,
  AccountKeys,
];
const sink = keys('mempool-sink');

function transfer(from: AccountKeys, nonce: number, price = 1, amount = 1): SignedTransaction {
  return signTransaction(
    {
      v: 1,
      chain_id: 'self-test',
      kind: 'transfer',
      nonce,
      point_price: price,
      body: { to: sink.address, amount },
    },
    from.account,
  );
}

function world(balances: Array<[AccountKeys, number, number?]>): StateOverlay {
  const state = new StateOverlay({ get: () => undefined });
  for (const [k, balance, nonce] of balances)
    putAccount(state, { ...getAccount(state, k.address), balance, nonce: nonce ?? 0 });
  return state;
}

function pool(opts: Partial<MempoolOptions> = {}) {
  let clock = 1_000;
  const mp = new Mempool({
    maxTxs: 100,
    maxBytes: 1 << 20,
    maxPerSender: 16,
    ttlMs: 60_000,
    now: () => clock,
    ...opts,
  });
  return { mp, advance: (ms: number) => (clock += ms) };
}

const add = (mp: Mempool, stx: SignedTransaction, state: StateOverlay) =>
  mp.add(stx, encodeSignedTransaction(stx), txHash(stx), state);

function expectCode(fn: () => unknown, code: ChainErrorCode): void {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ChainError);
    expect((err as ChainError).code).toBe(code);
    return;
  }
  throw new Error(`expected ChainError(${code})`);
}

const hex = (hs: Uint8Array[]) => hs.map(toHex);
const hashesOf = (txs: SignedTransaction[]) => txs.map((t) => toHex(txHash(t)));

describe('admission', () => {
  const state = world([
    [a, 1_000, 5],
    [b, 10],
  ]);

  it('tracks size, bytes, has and get', () => {
    const { mp } = pool();
    const t = transfer(a, 6);
    const bytes = encodeSignedTransaction(t);
    expect(mp.add(t, bytes, txHash(t), state)).toEqual({ accepted: true, replaced: null, evicted: [] });
    expect(mp.size).toBe(1);
    expect(mp.bytes).toBe(bytes.length);
    expect(mp.has(txHash(t))).toBe(true);
    expect(mp.get(txHash(t))).toMatchObject({ sender: a.address, nonce: 6, pointPrice: 1, fee: 1, cost: 2 });
    expectCode(() => add(mp, t, state), 'duplicate');
  });

  it('rejects used nonces, nonces too far ahead, unfunded and unknown senders', () => {
    const { mp } = pool();
    expectCode(() => add(mp, transfer(a, 5), state), 'bad_nonce');
    expectCode(() => add(mp, transfer(a, 5 + 65), state), 'nonce_too_high');
    add(mp, transfer(a, 5 + 64), state);
    expectCode(() => add(mp, transfer(b, 1, 1, 10), state), 'insufficient_funds');
    add(mp, transfer(b, 1, 1, 9), state);
    expectCode(() => add(mp, transfer(c, 1), state), 'unknown_account');
    expect(mp.size).toBe(2);
  });

  it('replaces a pending transaction only for ≥ 110% of its point price', () => {
    const { mp } = pool();
    const old = transfer(a, 6, 10);
    add(mp, old, state);
    expectCode(() => add(mp, transfer(a, 6, 10, 2), state), 'replacement_underpriced');
    const newer = transfer(a, 6, 11);
    expect(add(mp, newer, state)).toEqual({ accepted: true, replaced: txHash(old), evicted: [] });
    expect(mp.has(txHash(old))).toBe(false);
    expect(mp.get(txHash(newer))?.pointPrice).toBe(11);
    expect(mp.size).toBe(1);
  });

  it('keeps defaults for options given as undefined', () => {
    const mp = new Mempool({ maxTxs: undefined, maxPerSender: 1 });
    add(mp, transfer(a, 6), state);
    expectCode(() => add(mp, transfer(a, 7), state), 'mempool_full');
  });

  it('limits transactions per sender', () => {
    const { mp } = pool({ maxPerSender: 2 });
    add(mp, transfer(a, 6), state);
    add(mp, transfer(a, 7), state);
    expectCode(() => add(mp, transfer(a, 8), state), 'mempool_full');
    // A replacement does not count as one more.
    add(mp, transfer(a, 7, 5), state);
  });
});

describe('eviction', () => {
  const state = world([
    [a, 1_000],
    [b, 1_000],
    [c, 1_000],
    [d, 1_000],
  ]);

  it('evicts the lowest point price and refuses a newcomer that would be the lowest', () => {
    const { mp } = pool({ maxTxs: 3 });
    const low = transfer(a, 1, 5);
    add(mp, low, state);
    add(mp, transfer(b, 1, 6), state);
    add(mp, transfer(c, 1, 7), state);
    expectCode(() => add(mp, transfer(d, 1, 4), state), 'mempool_full');
    expectCode(() => add(mp, transfer(d, 1, 5), state), 'mempool_full');
    const r = add(mp, transfer(d, 1, 8), state);
    expect(hex(r.evicted)).toEqual(hashesOf([low]));
    expect(mp.size).toBe(3);
    expect(mp.has(txHash(low))).toBe(false);
  });

  it('among equal prices evicts the newest first', () => {
    const { mp } = pool({ maxTxs: 2 });
    const older = transfer(a, 1, 5);
    const newer = transfer(b, 1, 5);
    add(mp, older, state);
    add(mp, newer, state);
    expect(hex(add(mp, transfer(c, 1, 6), state).evicted)).toEqual(hashesOf([newer]));
  });

  it('evicts as many as the byte limit needs', () => {
    const t1 = transfer(a, 1, 2);
    const size = encodeSignedTransaction(t1).length;
    const { mp } = pool({ maxBytes: size * 2 + 10 });
    add(mp, t1, state);
    add(mp, transfer(b, 1, 3), state);
    const r = add(mp, transfer(c, 1, 9), state);
    expect(hex(r.evicted)).toEqual(hashesOf([t1]));
    expect(mp.bytes).toBeLessThanOrEqual(size * 2 + 10);
  });
});

describe('expiry', () => {
  it('drops transactions once they are ttl old', () => {
    const state = world([[a, 1_000]]);
    const { mp, advance } = pool({ ttlMs: 1_000 });
    const t1 = transfer(a, 1);
    add(mp, t1, state);
    advance(500);
    const t2 = transfer(a, 2);
    add(mp, t2, state);
    advance(499);
    expect(mp.expire()).toEqual([]);
    advance(1);
    expect(hex(mp.expire())).toEqual(hashesOf([t1]));
    expect(mp.size).toBe(1);
    advance(500);
    expect(hex(mp.expire())).toEqual(hashesOf([t2]));
    expect(mp.size).toBe(0);
    expect(mp.bytes).toBe(0);
  });
});

describe('pendingExecutable', () => {
  const state = world([
    [a, 1_000, 2],
    [b, 1_000],
    [c, 1_000],
    [d, 3],
  ]);
  const txs = [
    transfer(a, 3, 1),
    transfer(a, 4, 9),
    transfer(a, 5, 1),
    transfer(b, 1, 5),
    transfer(b, 2, 5),
    transfer(c, 2, 100), // gap: c's nonce 1 is missing
    transfer(d, 1, 2), // costs 3 of d's 3
    transfer(d, 2, 2), // d cannot afford a second one
  ];

  it('returns per-sender nonce chains, highest price first, skipping gaps and unaffordable tails', () => {
    const { mp } = pool();
    for (const t of txs) add(mp, t, state);
    const out = mp.pendingExecutable(state, 100);
    expect(
      out.map((e) => `${e.sender === a.address ? 'a' : e.sender === b.address ? 'b' : 'd'}${e.nonce}`),
    ).toEqual(['b1', 'b2', 'd1', 'a3', 'a4', 'a5']);
    expect(mp.pendingExecutable(state, 3).map((e) => e.nonce)).toEqual([1, 2, 1]);
  });

  it('does not depend on arrival order beyond the documented tie-break', () => {
    const p1 = pool().mp;
    const p2 = pool().mp;
    for (const t of txs) add(p1, t, state);
    for (const t of [...txs].reverse()) add(p2, t, state);
    const names = (mp: Mempool) => mp.pendingExecutable(state, 100).map((e) => e.hashHex);
    // b1/b2 vs a's chain differ in price only, so the order is the same whichever arrived first.
    expect(names(p1)).toEqual(names(p2));
    expect(p1.entries().map((e) => e.hashHex)).toEqual(p2.entries().map((e) => e.hashHex));
  });
});

describe('onCommitted', () => {
  it('removes included transactions and those whose nonce is now used', () => {
    const state = world([
      [a, 1_000],
      [b, 1_000],
    ]);
    const { mp } = pool();
    const a1 = transfer(a, 1);
    const a2 = transfer(a, 2);
    const a3 = transfer(a, 3);
    const b1 = transfer(b, 1);
    for (const t of [a1, a2, a3, b1]) add(mp, t, state);
    // A block included a1 and another node's version of a2 (a different hash, same nonce).
    putAccount(state, { ...getAccount(state, a.address), nonce: 2 });
    const removed = mp.onCommitted([txHash(a1)], state);
    expect(hex(removed)).toEqual(hashesOf([a1, a2]));
    expect(
      mp
        .entries()
        .map((e) => e.hashHex)
        .sort(),
    ).toEqual(hashesOf([a3, b1]).sort());
    const senders = mp.entries().map((e) => e.sender);
    expect(senders).toEqual([...senders].sort());
    expect(
      mp
        .pendingExecutable(state, 10)
        .map((e) => e.hashHex)
        .sort(),
    ).toEqual(hashesOf([a3, b1]).sort());
  });
});
