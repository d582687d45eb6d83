import { createHash } from 'node:crypto';
import {
  ChainError,
  checkStateless,
  decodeSignedTransaction,
  txHash,
  type ChainErrorCode,
  type StatelessContext,
} from '@self/chain';
import type { ChunkFailure, ChunkRequest } from './protocol.js';

/**
 * The same stateless judgement `Chain.submitTransaction` makes before it touches state (strict
 * decode within max_tx_bytes, then checkStateless on the decoded bytes: chain id, nonce, price,
 * body rules, signature scheme, signature), so a digest this accepts may enter the chain's
 * VerifiedCache and a rejection carries the code the chain would have thrown.
 */
export function checkTransaction(bytes: Uint8Array, ctx: StatelessContext): void {
  const stx = decodeSignedTransaction(bytes, ctx.params.max_tx_bytes);
  checkStateless(stx, ctx, { bytes, hash: txHash(stx) });
}

/** Hex SHA-256 of the full signed bytes: the chain's VerifiedCache key. */
export function signedDigestHex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Checks every transaction of a chunk; never throws. */
export function checkChunk(
  req: ChunkRequest,
  ctx: StatelessContext,
): { digests: string; failures: ChunkFailure[] } {
  const all = new Uint8Array(req.data);
  const digests: string[] = [];
  const failures: ChunkFailure[] = [];
  let start = 0;
  for (let i = 0; i < req.ends.length; i++) {
    const end = req.ends[i]!;
    const bytes = all.subarray(start, end);
    start = end;
    digests.push(signedDigestHex(bytes));
    try {
      checkTransaction(bytes, ctx);
    } catch (err) {
      failures.push(failureOf(i, err));
    }
  }
  return { digests: digests.join(''), failures };
}

function failureOf(index: number, err: unknown): ChunkFailure {
  if (err instanceof ChainError) return [index, err.code, err.message];
  // The decoders and checks throw only ChainError; anything else is a bug met on odd input, and
  // the input is still refused.
  const code: ChainErrorCode = 'malformed';
  return [index, code, `transaction could not be checked: ${(err as Error)?.message ?? String(err)}`];
}
