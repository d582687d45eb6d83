import type { ChainErrorCode, StatelessContext } from '@self/chain';

/**
 * Messages between the VerifyPool and its worker threads. A chunk travels as one ArrayBuffer of
 * concatenated transactions plus their end offsets (both transferred, not copied), and comes back
 * as one string of concatenated hex digests plus the few failures: a chunk of hundreds of
 * transactions costs one message each way.
 */

export interface WorkerInit {
  ctx: StatelessContext;
}

export interface ChunkRequest {
  id: number;
  data: ArrayBuffer;
  /** ends[i] is the offset in `data` just past transaction i. */
  ends: Uint32Array;
}

/** [index in the chunk, code, message] of a transaction that failed. */
export type ChunkFailure = [number, ChainErrorCode, string];

export type WorkerMessage =
  | { type: 'ready' }
  | {
      type: 'result';
      id: number;
      /** 64 hex characters per transaction, in chunk order. */
      digests: string;
      failures: ChunkFailure[];
    };

/** Hex SHA-256 digest length: the VerifiedCache key of one transaction. */
export const DIGEST_HEX_CHARS = 64;
