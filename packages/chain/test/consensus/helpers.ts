import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { accountKeysFromSeed, addressFromPublicKey, sha512, utf8, type SigningKey } from '@self/crypto';
import { Chain } from '../../src/chain.js';
import { encodeSignedTransaction, encodeSignedVote, signTransaction, signVote } from '../../src/codec.js';
import { makeDevGenesis } from '../../src/genesis.js';
import type { Genesis } from '../../src/params.js';
import type { Block, CommitCertificate } from '../../src/types.js';

export interface Fixture {
  genesis: Genesis;
  validators: SigningKey[];
  client: SigningKey;
  outsider: SigningKey;
  dir: string;
  open(): Chain;
}

export function fixture(): Fixture {
  const client = accountKeysFromSeed(sha512(utf8('test-client')), 'ed25519').account;
  const outsider = accountKeysFromSeed(sha512(utf8('test-outsider')), 'ed25519').account;
  const { genesis, validatorKeys } = makeDevGenesis({
    chainId: 'self-test-1',
    validators: 4,
    scheme: 'ed25519',
    accounts: [{ address: addressFromPublicKey(client.publicKey), balance: 1_000_000 }],
    params: { committee_size: 0 },
  });
  const dir = mkdtempSync(join(tmpdir(), 'self-chain-test-'));
  return {
    genesis,
    validators: validatorKeys,
    client,
    outsider,
    dir,
    open: () =>
      Chain.open({ genesis, path: join(dir, 'chain.sqlite'), now: () => genesis.genesis_time + 1_000_000 }),
  };
}

export function certify(block: Block, hash: Uint8Array, signers: SigningKey[], round = 0): CommitCertificate {
  const votes = signers
    .map((key) =>
      signVote(
        {
          v: 1,
          chain_id: block.header.chain_id,
          height: block.header.height,
          round,
          type: 'precommit',
          block_hash: hash,
          ranking: [],
        },
        key,
      ),
    )
    .map((sv) => ({ address: addressFromPublicKey(sv.signer), bytes: encodeSignedVote(sv) }))
    .sort((a, b) => (a.address < b.address ? -1 : 1));
  return { height: block.header.height, round, block_hash: hash, votes: votes.map((v) => v.bytes) };
}

export function transfer(
  f: Fixture,
  nonce: number,
  to: string,
  amount: number,
  chainId = f.genesis.chain_id,
): Uint8Array {
  return encodeSignedTransaction(
    signTransaction(
      { v: 1, chain_id: chainId, kind: 'transfer', nonce, point_price: 2, body: { to, amount } },
      f.client,
    ),
  );
}
