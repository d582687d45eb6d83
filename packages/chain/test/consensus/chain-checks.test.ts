import { rmSync } from 'node:fs';
import { addressFromPublicKey, equalBytes, toHex } from '@self/crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Chain } from '../../src/chain.js';
import { encodeSignedTransaction, headerHash, signTransaction } from '../../src/codec.js';
import { ChainError } from '../../src/errors.js';
import { getAccount } from '../../src/accounts.js';
import { verifyStateProof } from '../../src/merkle.js';
import { supplyAudit } from '../../src/block-exec.js';
import { StateKey } from '../../src/state-types.js';
import type { Block, CommitCertificate } from '../../src/types.js';
import { certify, fixture, transfer, type Fixture } from './helpers.js';

let f: Fixture;
let chain: Chain;
const T0 = 1_767_225_700_000;

beforeEach(() => {
  f = fixture();
  chain = f.open();
});
afterEach(() => {
  chain.close();
  rmSync(f.dir, { recursive: true, force: true });
});

function proposer(i = 0): string {
  return addressFromPublicKey(f.validators[i]!.publicKey);
}

function commitNext(
  lastCommit: CommitCertificate | null,
  timestamp: number,
): { block: Block; cert: CommitCertificate } {
  const { block, hash } = chain.buildBlock({ proposer: proposer(), round: 0, timestamp, lastCommit });
  const check = chain.checkBlock(block, timestamp);
  expect(check.ok).toBe(true);
  const cert = certify(block, hash, f.validators.slice(0, 3));
  chain.commit(block, hash, cert);
  return { block, cert };
}

/** Re-hashes a block whose header was edited, as a dishonest builder would. */
function withHeader(block: Block, edit: Partial<Block['header']>): Block {
  return { ...block, header: { ...block.header, ...edit } };
}

function expectRejected(block: Block, code: string): void {
  const rootBefore = toHex(chain.stateRoot());
  const heightBefore = chain.latestHeight();
  const check = chain.checkBlock(block, T0 + 10_000);
  expect(check.ok).toBe(false);
  if (!check.ok) {
    expect(check.error).toBeInstanceOf(ChainError);
    expect(check.error.code).toBe(code);
  }
  expect(toHex(chain.stateRoot())).toBe(rootBefore);
  expect(chain.latestHeight()).toBe(heightBefore);
}

describe('Chain: build, check, commit', () => {
  it('commits blocks with transfers, pays the parent block, and moves colours', () => {
    const { cert } = commitNext(null, T0);
    const to = proposer(3);
    chain.submitTransaction(transfer(f, 1, to, 500));
    const { block } = commitNext(cert, T0 + 1_000);
    expect(block.txs).toHaveLength(1);
    expect(block.colours).toHaveLength(1);
    const clientAddress = addressFromPublicKey(f.client.publicKey);
    const client = getAccount(chain.store, clientAddress);
    expect(client.nonce).toBe(1);
    expect(client.balance).toBe(1_000_000 - 500 - 2);
    expect(client.colour).toBe(block.colours[0]!.to);
    expect(block.colours[0]!.from).toBe(0);
    // Block 2's prologue paid block 1's reward (block_reward, no fees): 90% to its builder.
    const builder = getAccount(chain.store, proposer());
    expect(builder.balance).toBeGreaterThan(
      f.genesis.accounts.find((a) => a.address === proposer())!.balance,
    );
  });

  it('drops a transaction that can never apply from the mempool when building', () => {
    const { cert } = commitNext(null, T0);
    const bytes = encodeSignedTransaction(
      signTransaction(
        { v: 1, chain_id: f.genesis.chain_id, kind: 'did.deactivate', nonce: 1, point_price: 2, body: {} },
        f.client,
      ),
    );
    const { hash } = chain.submitTransaction(bytes);
    expect(chain.mempool.has(hash)).toBe(true);
    const { block } = chain.buildBlock({
      proposer: proposer(),
      round: 0,
      timestamp: T0 + 1_000,
      lastCommit: cert,
    });
    expect(block.txs).toHaveLength(0);
    expect(chain.mempool.has(hash)).toBe(false);
  });

  it('conserves tokens: balances, bonds and fees in flight add up to the total supply', () => {
    let { cert } = commitNext(null, T0);
    for (let i = 1; i <= 3; i++) {
      chain.submitTransaction(transfer(f, i, proposer(i % 4), 100 * i));
      ({ cert } = commitNext(cert, T0 + i * 1_000));
    }
    const { held, totalSupply } = supplyAudit(chain.stateTree());
    expect(held).toBe(totalSupply);
    const genesisSupply =
      f.genesis.accounts.reduce((n, a) => n + a.balance, 0) +
      f.genesis.validators.reduce((n, v) => n + v.bonded, 0);
    // Blocks 2..4 each paid their parent's reward: three block rewards minted.
    expect(totalSupply).toBe(genesisSupply + 3 * f.genesis.params.block_reward);
  });

  it('keeps its state across a restart from disk', () => {
    const { cert } = commitNext(null, T0);
    commitNext(cert, T0 + 1_000);
    const root = toHex(chain.stateRoot());
    const hash = toHex(chain.latestHash());
    chain.close();
    chain = f.open();
    expect(chain.latestHeight()).toBe(2);
    expect(toHex(chain.stateRoot())).toBe(root);
    expect(toHex(chain.latestHash())).toBe(hash);
  });

  it('proves any account to a light client against the header state root', () => {
    const { cert } = commitNext(null, T0);
    chain.submitTransaction(transfer(f, 1, proposer(2), 7));
    const { block } = commitNext(cert, T0 + 1_000);
    const key = StateKey.account(addressFromPublicKey(f.client.publicKey));
    const value = chain.store.get(key)!;
    const proof = chain.stateTree().prove(key);
    expect(verifyStateProof(block.header.state_root, key, value, proof)).toBe(true);
    const tampered = new Uint8Array(value);
    tampered[tampered.length - 1]! ^= 1;
    expect(verifyStateProof(block.header.state_root, key, tampered, proof)).toBe(false);
    const absent = StateKey.account(addressFromPublicKey(f.outsider.publicKey));
    expect(verifyStateProof(block.header.state_root, absent, null, chain.stateTree().prove(absent))).toBe(
      true,
    );
  });
});

describe('Chain: bad proposals are rejected with typed errors and change nothing', () => {
  let cert1: CommitCertificate;
  let good: Block;

  beforeEach(() => {
    cert1 = commitNext(null, T0).cert;
    chain.submitTransaction(transfer(f, 1, proposer(1), 10));
    good = chain.buildBlock({
      proposer: proposer(),
      round: 0,
      timestamp: T0 + 1_000,
      lastCommit: cert1,
    }).block;
  });

  it('accepts the honest block', () => {
    expect(chain.checkBlock(good, T0 + 10_000).ok).toBe(true);
  });

  it('inflated efficiency claim', () =>
    expectRejected(withHeader(good, { efficiency: good.header.efficiency + 1 }), 'invalid_efficiency'));

  it('wrong state root', () => {
    const root = new Uint8Array(good.header.state_root);
    root[0]! ^= 0xff;
    expectRejected(withHeader(good, { state_root: root }), 'invalid_state_root');
  });

  it('colour transition that does not follow from the hash', () => {
    const colours = good.colours.map((c) => ({ ...c, to: (c.to + 1) % 0x1000000 }));
    // A consistent liar: the header commits to the wrong colours too.
    expectRejected({ ...withHeader(good, { colour_root: colourRoot(colours) }), colours }, 'invalid_colour');
  });

  it('a body that does not match its header', () => {
    const colours = good.colours.map((c) => ({ ...c, to: (c.to + 1) % 0x1000000 }));
    expectRejected({ ...good, colours }, 'invalid_colour');
    expect(chain.bodyBinds({ ...good, colours })).toBe(false);
    expect(chain.bodyBinds(good)).toBe(true);
  });

  it('wrong chain id', () => expectRejected(withHeader(good, { chain_id: 'other-chain' }), 'wrong_chain'));

  it('wrong parent', () =>
    expectRejected(withHeader(good, { prev_hash: new Uint8Array(32) }), 'invalid_block'));

  it('timestamp not after the parent', () =>
    expectRejected(withHeader(good, { timestamp: T0 }), 'invalid_block'));

  it('proposer outside the committee', () =>
    expectRejected(
      withHeader(good, { proposer: addressFromPublicKey(f.outsider.publicKey) }),
      'not_validator',
    ));

  it('parent certificate below quorum', () => {
    const weak = certify(chain.block(1)!.block, chain.latestHash(), f.validators.slice(0, 2));
    expectRejected(
      { ...withHeader(good, { last_commit_hash: headerHashOfCert(weak) }), last_commit: weak },
      'invalid_certificate',
    );
  });

  it('parent certificate signed by an outsider', () => {
    const forged = certify(chain.block(1)!.block, chain.latestHash(), [
      ...f.validators.slice(0, 2),
      f.outsider,
    ]);
    expectRejected(
      { ...withHeader(good, { last_commit_hash: headerHashOfCert(forged) }), last_commit: forged },
      'invalid_certificate',
    );
  });

  it('a transaction whose signature was tampered with', () => {
    const tx = new Uint8Array(good.txs[0]!);
    tx[tx.length - 3]! ^= 0x01;
    expectRejected({ ...good, txs: [tx] }, 'bad_signature');
  });

  it('a replayed transaction (already committed nonce)', () => {
    chain.commit(
      good,
      headerHash(good.header),
      certify(good, headerHash(good.header), f.validators.slice(0, 3)),
    );
    const replay = chain.buildBlock({
      proposer: proposer(),
      round: 0,
      timestamp: T0 + 2_000,
      lastCommit: certify(good, headerHash(good.header), f.validators.slice(0, 3)),
    }).block;
    expect(replay.txs).toHaveLength(0);
    const forced = { ...replay, txs: good.txs };
    const check = chain.checkBlock(forced, T0 + 10_000);
    expect(check.ok).toBe(false);
    expect(chain.latestHeight()).toBe(2);
  });

  it('a transaction submitted with a bad nonce or wrong chain is refused at the door', () => {
    expect(() => chain.submitTransaction(transfer(f, 5 + 64, proposer(1), 1))).toThrow(ChainError);
    expect(() => chain.submitTransaction(transfer(f, 2, proposer(1), 1, 'other-chain'))).toThrowError(
      expect.objectContaining({ code: 'wrong_chain' }),
    );
    expect(() => chain.submitTransaction(new Uint8Array([0xa1, 0x01]))).toThrowError(
      expect.objectContaining({ code: 'malformed' }),
    );
  });

  it('commit refuses a block that does not check', () => {
    const bad = withHeader(good, { efficiency: 0 });
    expect(() => chain.commit(bad, headerHash(bad.header), cert1)).toThrow(ChainError);
    expect(chain.latestHeight()).toBe(1);
    expect(equalBytes(chain.latestHash(), cert1.block_hash)).toBe(true);
  });
});

import { commitHash } from '../../src/codec.js';
import { colourRoot } from '../../src/poai/index.js';
function headerHashOfCert(cert: CommitCertificate): Uint8Array {
  return commitHash(cert);
}
