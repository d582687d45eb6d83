import { addressFromPublicKey, type SigningKey } from '@self/crypto';
import { encodeSignedTransaction, signTransaction, type Transaction } from '@self/chain';
import type { BatchRejection, NodeClient } from '@self/node/client';
import type { Logger } from 'pino';

export interface Grant {
  to: string;
  amount: number;
}

/** The sponsor could not get a grant admitted; `code` is the chain's rejection code when it has one. */
export class SponsorError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'SponsorError';
  }
}

export interface SponsorOptions {
  chainId: string;
  pointPrice: number;
  /** Transfers per batch submission (default 100). */
  maxBatch?: number;
  /** Submissions of one grant before it fails (default 5). */
  maxAttempts?: number;
  logger?: Logger;
}

interface Queued {
  grant: Grant;
  attempts: number;
  resolve: (hash: string) => void;
  reject: (err: Error) => void;
}

/** Rejections that a fresh nonce cures: the one used was taken, by us or by another user of the key. */
const NONCE_TAKEN = new Set(['bad_nonce', 'replacement_underpriced', 'duplicate']);

/**
 * Funds new accounts on testnets from the sponsor key. Every sign-up needs transfers from the one
 * sponsor account, whose nonces must be consecutive: grants are queued and a single loop signs
 * whatever is waiting as one batch (`POST /v1/transactions/batch`) with consecutive nonces, so
 * concurrent sign-ups never race for a nonce and share one submission.
 *
 * The next nonce is read from the chain once and then counted here. When the node says a nonce is
 * already used (another user of the key, or our own transactions still pending from before a
 * restart) the affected grants are re-signed with later nonces; when it says a nonce is too far
 * ahead (earlier transfers were dropped) the counter is re-read from the chain.
 */
export class Sponsor {
  readonly address: string;
  private readonly queue: Queued[] = [];
  private running = false;
  private nextNonce: number | null = null;
  private readonly maxBatch: number;
  private readonly maxAttempts: number;

  constructor(
    private readonly client: NodeClient,
    private readonly key: SigningKey,
    private readonly opts: SponsorOptions,
  ) {
    this.address = addressFromPublicKey(key.publicKey);
    this.maxBatch = opts.maxBatch ?? 100;
    this.maxAttempts = opts.maxAttempts ?? 5;
  }

  /** Queues transfers; resolves with their transaction hashes once the node admitted every one. */
  fund(grants: Grant[]): Promise<string[]> {
    const admitted = grants.map(
      (grant) =>
        new Promise<string>((resolve, reject) => {
          this.queue.push({ grant, attempts: 0, resolve, reject });
        }),
    );
    this.kick();
    return Promise.all(admitted);
  }

  private kick(): void {
    if (this.running || this.queue.length === 0) return;
    this.running = true;
    void this.drain().finally(() => {
      this.running = false;
      this.kick();
    });
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      try {
        await this.submit(batch);
      } catch (err) {
        // The batch as a whole failed (node unreachable, overloaded): its grants fail, and the
        // nonce is re-read before the next batch since we cannot know what the node kept.
        this.nextNonce = null;
        const message = err instanceof Error ? err.message : String(err);
        for (const q of batch)
          q.reject(new SponsorError('unavailable', `the sponsor could not submit: ${message}`));
      }
    }
  }

  private async committedNonce(): Promise<number> {
    return (await this.client.account(this.address)).nonce;
  }

  private async submit(batch: Queued[]): Promise<void> {
    if (this.nextNonce === null) this.nextNonce = (await this.committedNonce()) + 1;
    const base = this.nextNonce;
    const txs = batch.map((q, i) => {
      const tx: Transaction<'transfer'> = {
        v: 1,
        chain_id: this.opts.chainId,
        kind: 'transfer',
        nonce: base + i,
        point_price: this.opts.pointPrice,
        body: { to: q.grant.to, amount: q.grant.amount },
      };
      return encodeSignedTransaction(signTransaction(tx, this.key));
    });
    const { results } = await this.client.submitTransactions(txs);
    this.nextNonce = base + batch.length;
    const retry: Queued[] = [];
    let resync: 'behind' | 'ahead' | null = null;
    batch.forEach((q, i) => {
      const result = results[i];
      if (result && 'hash' in result) {
        q.resolve(result.hash);
        return;
      }
      const rejection = result as BatchRejection | undefined;
      const code = rejection?.code ?? 'unknown';
      if ((NONCE_TAKEN.has(code) || code === 'nonce_too_high') && ++q.attempts < this.maxAttempts) {
        if (code === 'bad_nonce') resync = resync ?? 'behind';
        if (code === 'nonce_too_high') resync = 'ahead';
        retry.push(q);
        return;
      }
      this.opts.logger?.warn({ code, to: q.grant.to }, 'sponsor transfer refused');
      q.reject(new SponsorError(code, rejection?.message ?? 'the node refused the sponsor transfer'));
    });
    if (resync === 'ahead') this.nextNonce = (await this.committedNonce()) + 1;
    else if (resync === 'behind')
      this.nextNonce = Math.max(this.nextNonce, (await this.committedNonce()) + 1);
    if (resync)
      this.opts.logger?.info({ resync, next_nonce: this.nextNonce }, 'sponsor nonce re-read from the chain');
    if (retry.length > 0) this.queue.unshift(...retry);
  }
}
