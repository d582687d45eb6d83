import { accountKeysFromSeed, encodeAddress, sha256, sha512, utf8, type SigningKey } from '@self/crypto';
import { encodeSignedTransaction, signTransaction, txHash } from '../../../packages/chain/src/codec.js';
import { genesisChanges, makeDevGenesis } from '../../../packages/chain/src/genesis.js';
import { StateTree } from '../../../packages/chain/src/merkle.js';
import type { Genesis } from '../../../packages/chain/src/params.js';
import type { Address, SignedTransaction, Transaction } from '../../../packages/chain/src/types.js';

/**
 * Deterministic chain fixtures for the benchmarks: sender keys, genesis files with many funded
 * accounts, and signed transfers prepared ahead of the timed part (signing is not what we time).
 */

export type BenchScheme = 'ed25519' | 'hybrid-ed25519-ml-dsa-65';

export const BENCH_CHAIN_ID = 'self-bench';
/** Balance of every funded account: 10^9 × 100k accounts stays well below 2^53. */
export const BENCH_BALANCE = 1_000_000_000;

/** A signed transaction with what a node derives from it once (hash, canonical bytes). */
export interface PreparedTx {
  stx: SignedTransaction;
  hash: Uint8Array;
  bytes: Uint8Array;
}

/** `count` deterministic account keys of `scheme`. */
export function benchKeys(scheme: BenchScheme, count: number): SigningKey[] {
  return Array.from(
    { length: count },
    (_, i) => accountKeysFromSeed(sha512(utf8(`self-bench-${scheme}-${i}`)), scheme).account,
  );
}

/** Address of the i-th funded account nobody signs for (transfer recipients, tree bulk). */
export function fillerAddress(i: number): Address {
  return encodeAddress(sha256(utf8(`self-bench-filler-${i}`)).subarray(0, 20));
}

/**
 * A dev genesis (one Ed25519 validator, no faucet) funding the senders' addresses and as many
 * filler accounts as make `totalAccounts` funded accounts in all.
 */
export function benchGenesis(senders: readonly Address[], totalAccounts: number): Genesis {
  const fillers = Math.max(0, totalAccounts - senders.length - 1);
  const accounts = [
    ...senders.map((address) => ({ address, balance: BENCH_BALANCE })),
    ...Array.from({ length: fillers }, (_, i) => ({ address: fillerAddress(i), balance: BENCH_BALANCE })),
  ];
  return makeDevGenesis({
    chainId: BENCH_CHAIN_ID,
    validators: 1,
    scheme: 'ed25519',
    faucetPhrase: null,
    validatorBalance: BENCH_BALANCE,
    accounts,
  }).genesis;
}

/** The state tree a node builds for `genesis` at start-up. */
export const genesisTree = (genesis: Genesis): StateTree =>
  StateTree.fromEntries(genesisChanges(genesis) as Map<string, Uint8Array>);

/** One transfer of `amount` to `to`, signed by `key`. */
export function signedTransfer(key: SigningKey, nonce: number, to: Address, amount = 1_000): PreparedTx {
  const tx: Transaction<'transfer'> = {
    v: 1,
    chain_id: BENCH_CHAIN_ID,
    kind: 'transfer',
    nonce,
    point_price: 10,
    body: { to, amount },
  };
  const stx = signTransaction(tx, key);
  return { stx, hash: txHash(stx), bytes: encodeSignedTransaction(stx) };
}
