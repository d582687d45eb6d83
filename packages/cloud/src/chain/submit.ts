import { isNodeApiError, type NodeClient } from '@self/node/client';

export interface Committed {
  hash: string;
  height: number;
}

export type ChainStepFailure = 'dropped' | 'timeout';

/** A transaction the node had admitted did not commit: dropped from its mempool, or not in time. */
export class ChainStepError extends Error {
  constructor(
    readonly reason: ChainStepFailure,
    message: string,
    readonly hash: string,
  ) {
    super(message);
    this.name = 'ChainStepError';
  }
}

export interface WaitCommitOptions {
  /** Default 60 s. */
  timeoutMs?: number;
  /** Default 100 ms. */
  intervalMs?: number;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Unanswered polls in a row after which an admitted transaction counts as dropped. */
const MISSES_BEFORE_DROPPED = 3;

/**
 * Waits until the node reports `hash` committed. The node answered 202 for it, so it was in its
 * mempool: a transaction that is then neither pending nor committed for a few polls in a row was
 * dropped (a block's execution refused it, e.g. its DID already existed). Connection failures are
 * retried until the deadline; other API errors end the wait.
 */
export async function waitForCommit(
  client: NodeClient,
  hash: string,
  opts: WaitCommitOptions = {},
): Promise<Committed> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const intervalMs = opts.intervalMs ?? 100;
  const deadline = Date.now() + timeoutMs;
  let misses = 0;
  for (;;) {
    try {
      const tx = await client.transaction(hash);
      if (tx.status === 'committed') return { hash, height: tx.height };
      misses = 0;
    } catch (err) {
      if (!isNodeApiError(err) || (err.status !== 404 && err.status !== 0 && err.status < 500)) throw err;
      if (err.status === 404 && ++misses >= MISSES_BEFORE_DROPPED) {
        throw new ChainStepError('dropped', 'the chain dropped the transaction without committing it', hash);
      }
    }
    if (Date.now() + intervalMs > deadline) {
      throw new ChainStepError('timeout', `the transaction did not commit within ${timeoutMs} ms`, hash);
    }
    await sleep(intervalMs);
  }
}

/** Submits signed transaction bytes and waits for their commit. Submission errors are NodeApiErrors. */
export async function submitAndWait(
  client: NodeClient,
  bytes: Uint8Array,
  opts: WaitCommitOptions = {},
): Promise<Committed> {
  const { hash } = await client.submitTransaction(bytes);
  return waitForCommit(client, hash, opts);
}
