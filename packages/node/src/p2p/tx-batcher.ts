export interface TxBatcherOptions {
  /** Flush once this many transactions wait… */
  maxCount: number;
  /** …or this many bytes… */
  maxBytes: number;
  /** …or this long after the first one arrived. */
  delayMs: number;
  publish(batch: Uint8Array[]): void;
}

/**
 * Collects transactions for gossip: one message per few hundred transactions instead of one per
 * transaction, so signing, framing and validating gossip stays cheap at thousands of tx/s, while
 * a lone transaction waits at most `delayMs`.
 */
export class TxBatcher {
  private batch: Uint8Array[] = [];
  private bytes = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly opts: TxBatcherOptions) {}

  add(txs: Iterable<Uint8Array>): void {
    for (const tx of txs) {
      // A transaction that would overflow the byte budget starts the next batch.
      if (this.batch.length > 0 && this.bytes + tx.length > this.opts.maxBytes) this.flush();
      this.batch.push(tx);
      this.bytes += tx.length;
      if (this.batch.length >= this.opts.maxCount || this.bytes >= this.opts.maxBytes) this.flush();
    }
    if (this.batch.length > 0) this.timer ??= setTimeout(() => this.flush(), this.opts.delayMs);
  }

  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.batch.length === 0) return;
    const batch = this.batch;
    this.batch = [];
    this.bytes = 0;
    this.opts.publish(batch);
  }

  /** Drops anything waiting (the node is stopping). */
  clear(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.batch = [];
    this.bytes = 0;
  }
}
