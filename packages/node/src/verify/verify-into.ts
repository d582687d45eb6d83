import type { VerifiedCache } from '@self/chain';
import type { VerifyPool, VerifyResult } from './verify-pool.js';

/**
 * Verifies a batch on the pool and records the digests that passed in the chain's VerifiedCache,
 * so the following `chain.submitTransaction(bytes)` or block check skips their signatures.
 */
export async function verifyInto(
  pool: VerifyPool,
  cache: VerifiedCache,
  batch: readonly Uint8Array[],
  opts: { urgent?: boolean } = {},
): Promise<VerifyResult[]> {
  const results = await pool.verify(batch, opts);
  for (const r of results) if (r.ok) cache.add(r.digest);
  return results;
}
