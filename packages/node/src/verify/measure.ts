import { accountKeysFromPhrase, type AccountScheme } from '@self/crypto';
import {
  DEV_FAUCET_PHRASE,
  encodeSignedTransaction,
  makeDevGenesis,
  signTransaction,
  type Transaction,
} from '@self/chain';
import { VerifyPool } from './verify-pool.js';

export interface VerifyRate {
  scheme: AccountScheme;
  threads: number;
  /** Transactions verified in the measured time. */
  verified: number;
  seconds: number;
  perSecond: number;
}

const DISTINCT_TXS = 256;

/**
 * Transactions verified per second by a VerifyPool (all threads together), for benchmarks:
 * a few hundred signed transfers checked over and over for about `seconds` (workers keep no
 * cache, so every round re-verifies every signature). Worker start-up is not counted.
 */
export async function measureVerifyRate(
  scheme: AccountScheme,
  seconds: number,
  opts: { threads?: number } = {},
): Promise<VerifyRate> {
  const faucet = accountKeysFromPhrase(DEV_FAUCET_PHRASE, scheme).account;
  const { genesis } = makeDevGenesis({ chainId: 'self-verify-bench', validators: 1, scheme });
  const txs = Array.from({ length: DISTINCT_TXS }, (_, i) => {
    const tx: Transaction<'transfer'> = {
      v: 1,
      chain_id: genesis.chain_id,
      kind: 'transfer',
      nonce: i + 1,
      point_price: 1,
      body: { to: genesis.validators[0]!.address, amount: 1 },
    };
    return encodeSignedTransaction(signTransaction(tx, faucet));
  });
  const pool = VerifyPool.create({ genesis, ...(opts.threads ? { threads: opts.threads } : {}) });
  try {
    await pool.ready();
    // Two batches in flight so no worker waits for the main thread between rounds.
    const batch = Array.from({ length: pool.threads * 2 }, () => txs).flat();
    const started = performance.now();
    const deadline = started + seconds * 1000;
    let verified = 0;
    do {
      const rounds = await Promise.all([pool.verify(batch), pool.verify(batch)]);
      for (const results of rounds) {
        const bad = results.find((r) => !r.ok);
        if (bad && !bad.ok) throw new Error(`benchmark transaction rejected: ${bad.code} ${bad.message}`);
        verified += results.length;
      }
    } while (performance.now() < deadline);
    const elapsed = (performance.now() - started) / 1000;
    return { scheme, threads: pool.threads, verified, seconds: elapsed, perSecond: verified / elapsed };
  } finally {
    await pool.close();
  }
}
