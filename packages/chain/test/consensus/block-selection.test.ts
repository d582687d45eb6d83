import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { accountKeysFromSeed, addressFromPublicKey, sha512, toHex, utf8 } from '@self/crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { Chain } from '../../src/chain.js';
import {
  decodeSignedTransaction,
  encodeSignedTransaction,
  signTransaction,
  txHash,
} from '../../src/codec.js';
import { makeDevGenesis } from '../../src/genesis.js';
import { selectReferenceDetailed } from '../../src/poai/index.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('building a block when the mempool holds more than a block', () => {
  it('takes exactly the 20/20/50/10 reference selection, and the block checks on another node', () => {
    const senders = Array.from(
      { length: 25 },
      (_, i) => accountKeysFromSeed(sha512(utf8(`sel-${i}`)), 'ed25519').account,
    );
    const { genesis, validatorKeys } = makeDevGenesis({
      chainId: 'self-selection-1',
      validators: 4,
      scheme: 'ed25519',
      accounts: senders.map((k) => ({ address: addressFromPublicKey(k.publicKey), balance: 1_000_000 })),
      params: { committee_size: 0, max_block_txs: 10 },
    });
    const dir = mkdtempSync(join(tmpdir(), 'self-selection-'));
    dirs.push(dir);
    const now = () => genesis.genesis_time + 60_000;
    const builder = Chain.open({ genesis, path: join(dir, 'a.sqlite'), now });
    const checker = Chain.open({ genesis, path: join(dir, 'b.sqlite'), now });
    try {
      const to = addressFromPublicKey(validatorKeys[0]!.publicKey);
      // Point prices 1..25 spread the candidates over every band.
      senders.forEach((key, i) => {
        const bytes = encodeSignedTransaction(
          signTransaction(
            {
              v: 1,
              chain_id: genesis.chain_id,
              kind: 'transfer',
              nonce: 1,
              point_price: i + 1,
              body: { to, amount: 10 },
            },
            key,
          ),
        );
        builder.submitTransaction(bytes);
        checker.submitTransaction(bytes);
      });
      const { block } = builder.buildBlock({
        proposer: to,
        round: 0,
        timestamp: genesis.genesis_time + 1_000,
        lastCommit: null,
      });
      expect(block.txs).toHaveLength(10);

      const candidates = builder.mempool.entries().map((e) => ({
        hash: e.hash,
        sender: e.sender,
        nonce: e.nonce,
        point_price: e.pointPrice,
        sender_last_height: 0,
        risk: 0,
        bytes: e.bytes.length,
      }));
      const reference = selectReferenceDetailed(candidates, {
        max_txs: 10,
        max_bytes: genesis.params.max_block_bytes,
      });
      expect(reference.mode).toBe('bands');
      expect(reference.bands.high).toHaveLength(2);
      expect(reference.bands.low).toHaveLength(2);
      expect(reference.bands.old).toHaveLength(1);
      const included = new Set(block.txs.map((b) => toHex(txHash(decodeSignedTransaction(b)))));
      expect(new Set(reference.txs.map((c) => toHex(c.hash)))).toEqual(included);
      // The two most expensive and the two cheapest transactions are in.
      const prices = [...included]
        .map((h) => candidates.find((c) => toHex(c.hash) === h)!.point_price)
        .sort((a, b) => a - b);
      expect(prices.slice(0, 2)).toEqual([1, 2]);
      expect(prices.slice(-2)).toEqual([24, 25]);

      const check = checker.checkBlock(block, now());
      expect(check.ok).toBe(true);
    } finally {
      builder.close();
      checker.close();
    }
  });
});
