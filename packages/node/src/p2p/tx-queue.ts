export interface TxQueueOptions {
  /** Batches waiting beyond this many bytes are dropped, oldest first. */
  maxQueuedBytes: number;
  /** Nothing more is handed to gossip while this many bytes wait to be written to peers. */
  maxBacklogBytes: number;
  /** Bytes gossip has queued on its peer streams right now. */
  backlog(): number;
  send(message: Uint8Array): Promise<unknown>;
  /** How soon to look again while the backlog is full. */
  retryMs: number;
}

/**
 * Backpressure for transaction gossip. Gossipsub writes without flow control: a burst of batches
 * faster than the network drains them would grow a peer stream's buffer until libp2p resets the
 * stream. Batches wait here instead, while the send backlog is full; when even this queue is full
 * the oldest are dropped (transactions stay in the mempool, and compact proposals fetch them).
 * Votes and proposals do not pass through it, so they never queue behind a transaction backlog
 * longer than `maxBacklogBytes`.
 */
export class TxGossipQueue {
  private readonly queue: Uint8Array[] = [];
  private queuedBytes = 0;
  private inflight = 0;
  private timer: NodeJS.Timeout | null = null;
  sent = 0;
  dropped = 0;

  constructor(private readonly opts: TxQueueOptions) {}

  push(message: Uint8Array): void {
    this.queue.push(message);
    this.queuedBytes += message.length;
    while (this.queuedBytes > this.opts.maxQueuedBytes && this.queue.length > 1) {
      this.queuedBytes -= this.queue.shift()!.length;
      this.dropped++;
    }
    this.pump();
  }

  clear(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.queue.length = 0;
    this.queuedBytes = 0;
  }

  private pump(): void {
    while (this.queue.length > 0 && this.inflight + this.opts.backlog() < this.opts.maxBacklogBytes) {
      const message = this.queue.shift()!;
      this.queuedBytes -= message.length;
      // Counted until gossip has signed it and put it on the streams, where backlog() sees it.
      this.inflight += message.length;
      this.sent++;
      void this.opts
        .send(message)
        .catch(() => undefined)
        .finally(() => {
          this.inflight -= message.length;
          this.pump();
        });
    }
    if (this.queue.length > 0 && !this.timer) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.pump();
      }, this.opts.retryMs);
    }
  }
}
