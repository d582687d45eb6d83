import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { addressFromPublicKey, toHex } from '@self/crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Chain } from '../src/chain.js';
import { ExecMemo } from '../src/exec-memo.js';
import { StateOverlay } from '../src/state-view.js';
import { StateTree } from '../src/merkle.js';
import { certify, fixture, transfer, type Fixture } from './consensus/helpers.js';

let f: Fixture;
let a: Chain;
let b: Chain;

const addr = (i: number): string => addressFromPublicKey(f.validators[i]!.publicKey);
const build = (
  chain: Chain,
  proposer: number,
  ts: number,
  lastCommit: Parameters<Chain['buildBlock']>[0]['lastCommit'] = null,
) =>
  chain.buildBlock({
    proposer: addr(proposer),
    round: 0,
    timestamp: f.genesis.genesis_time + ts,
    lastCommit,
  });

beforeEach(() => {
  f = fixture();
  a = f.open();
  b = Chain.open({
    genesis: f.genesis,
    path: join(f.dir, 'b.sqlite'),
    now: () => f.genesis.genesis_time + 1_000_000,
  });
});

afterEach(() => {
  a.close();
  b.close();
  rmSync(f.dir, { recursive: true, force: true });
});

describe('ExecMemo: one execution per transaction per height', () => {
  it("replays a second builder's block from the first one's executions, with the same result as executing it", () => {
    const txs = [1, 2, 3, 4, 5].map((n) => transfer(f, n, addr(n % 4), 10 * n));
    for (const tx of txs) a.submitTransaction(tx);
    const first = build(a, 1, 1_000);
    expect(first.block.txs).toHaveLength(5);
    expect(a.execMemo).toMatchObject({ hits: 0, misses: 5, size: 5 });

    const second = build(a, 2, 1_001);
    expect(second.block.txs.map(toHex)).toEqual(first.block.txs.map(toHex));
    expect(a.execMemo).toMatchObject({ hits: 5, misses: 5 });
    // Chain b never saw these transactions: it executes every one of them, and agrees.
    const check = b.checkBlock(second.block, f.genesis.genesis_time + 2_000);
    expect(check.ok).toBe(true);
    expect(b.execMemo).toMatchObject({ hits: 0, misses: 5 });
    // And checking the first builder's block on b replays them.
    expect(b.checkBlock(first.block, f.genesis.genesis_time + 2_000).ok).toBe(true);
    expect(b.execMemo.hits).toBe(5);
    expect(toHex(first.block.header.state_root)).not.toBe(toHex(second.block.header.state_root));
  });

  it('executes again a transaction whose reads differ (another certificate pays other voters first)', () => {
    // Height 1, committed on both chains.
    const one = build(a, 0, 1_000);
    a.commit(one.block, one.hash, certify(one.block, one.hash, f.validators.slice(0, 3)));
    b.commit(one.block, one.hash, certify(one.block, one.hash, f.validators.slice(0, 3)));
    expect(a.execMemo.size).toBe(0);

    // A transfer to validator 3: its recipient record is read, and only one certificate pays validator 3.
    const tx = transfer(f, 1, addr(3), 25);
    a.submitTransaction(tx);
    const without3 = build(a, 1, 2_000, certify(one.block, one.hash, f.validators.slice(0, 3)));
    const with3 = build(a, 2, 2_001, certify(one.block, one.hash, f.validators));
    expect(with3.block.txs.map(toHex)).toEqual([toHex(tx)]);
    expect(a.execMemo).toMatchObject({ hits: 0, misses: 2 });
    for (const block of [with3.block, without3.block])
      expect(b.checkBlock(block, f.genesis.genesis_time + 3_000).ok).toBe(true);
  });

  it('serves a trace only to the same bytes and only while every value it read is unchanged', () => {
    const memo = new ExecMemo().at(7);
    const hash = new Uint8Array(32).fill(1);
    const bytes = new Uint8Array([1, 2, 3]);
    const state = new StateOverlay(StateTree.fromEntries([['account/x', new Uint8Array([9])]]));
    memo.remember(hash, {
      bytes,
      reads: new Map([
        ['account/x', new Uint8Array([9])],
        ['account/y', undefined],
      ]),
      writes: new Map([['account/x', new Uint8Array([8])]]),
      risk: 0,
      fee: 1,
      colour: { from: 0, to: 0 } as never,
      candidate: {} as never,
    });
    expect(memo.reusable(hash, bytes, state)).not.toBeNull();
    expect(memo.reusable(hash, new Uint8Array([1, 2, 4]), state)).toBeNull();
    state.set('account/y', new Uint8Array([0]));
    expect(memo.reusable(hash, bytes, state)).toBeNull();
    state.delete('account/y');
    state.set('account/x', new Uint8Array([10]));
    expect(memo.reusable(hash, bytes, state)).toBeNull();
    // A new height forgets everything.
    state.set('account/x', new Uint8Array([9]));
    expect(memo.reusable(hash, bytes, state)).not.toBeNull();
    expect(memo.at(8).reusable(hash, bytes, state)).toBeNull();
    expect(memo.size).toBe(0);
  });
});
