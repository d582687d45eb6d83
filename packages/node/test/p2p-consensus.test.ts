import { afterEach, describe, expect, it } from 'vitest';
import {
  Chain,
  ConsensusEngine,
  TIMING_PROFILES,
  encodeSignedTransaction,
  makeDevGenesis,
  signTransaction,
  systemClock,
} from '@self/chain';
import { addressFromPublicKey, equalBytes } from '@self/crypto';
import { CHAIN_ID, testNode, waitFor, type TestNode } from './p2p-helpers.js';

interface Validator {
  t: TestNode;
  chain: Chain;
  engine: ConsensusEngine;
}

let validators: Validator[] = [];

afterEach(async () => {
  for (const v of validators) v.engine.stop();
  await Promise.all(validators.map((v) => v.t.node.stop()));
  for (const v of validators) v.chain.close();
  validators = [];
});

describe('consensus over libp2p', () => {
  it('four validators commit blocks with gossiped transactions through compact proposals', async () => {
    const { genesis, validatorKeys, faucetKey } = makeDevGenesis({
      chainId: CHAIN_ID,
      validators: 4,
      scheme: 'ed25519',
      params: { committee_size: 0 },
    });
    let bootstrap: string[] = [];
    for (const key of validatorKeys) {
      const chain = Chain.open({ genesis, path: ':memory:' });
      let engine: ConsensusEngine | null = null;
      const t = testNode({
        bootstrap,
        blocksFrom: (from, max) => chain.blocksFrom(from, max),
        latestHeight: () => chain.latestHeight(),
        onMessage: (msg, from) => {
          if (msg.t !== 'txs') return engine?.receive(msg, from);
          for (const tx of msg.data) {
            try {
              chain.submitTransaction(tx);
            } catch {
              // Already known.
            }
          }
        },
      });
      engine = new ConsensusEngine(
        { key, timing: TIMING_PROFILES.local },
        { chain, transport: t.node, clock: systemClock },
      );
      await t.node.start();
      if (bootstrap.length === 0) bootstrap = t.node.multiaddrs();
      validators.push({ t, chain, engine });
    }
    await waitFor(() => validators[0]!.t.node.peerCount() === 3, 'everyone to join');
    for (const v of validators) v.engine.start();

    // Transactions enter at validator 0 and reach the others only by gossip.
    const sink = addressFromPublicKey(validatorKeys[1]!.publicKey);
    const txs = Array.from({ length: 30 }, (_, i) =>
      encodeSignedTransaction(
        signTransaction(
          {
            v: 1,
            chain_id: CHAIN_ID,
            kind: 'transfer',
            nonce: i + 1,
            point_price: 2,
            body: { to: sink, amount: 1 },
          },
          faucetKey!,
        ),
      ),
    );
    for (const tx of txs) validators[0]!.chain.submitTransaction(tx);
    validators[0]!.t.node.gossipTxs(txs);

    const included = (v: Validator): number => {
      let n = 0;
      for (let h = 1; h <= v.chain.latestHeight(); h++) n += v.chain.block(h)!.block.txs.length;
      return n;
    };
    await waitFor(
      () => validators.every((v) => included(v) === txs.length),
      'every transaction committed',
      30_000,
    );
    const height = Math.min(...validators.map((v) => v.chain.latestHeight()));
    const hashes = validators.map((v) => v.chain.block(height)!.hash);
    expect(hashes.every((h) => equalBytes(h, hashes[0]!))).toBe(true);
    expect(validators.flatMap((v) => v.t.rejected)).toEqual([]);
  });
});
