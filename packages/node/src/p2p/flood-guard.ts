/** A token bucket: `rate` tokens a second refill it up to `burst`. */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    now: number,
  ) {
    this.tokens = burst;
    this.last = now;
  }

  take(cost: number, now: number): boolean {
    this.refill(now);
    if (this.tokens < cost) return false;
    this.tokens -= cost;
    return true;
  }

  /** True once the bucket has been full for a while: its state is the default and can be dropped. */
  idle(now: number): boolean {
    this.refill(now);
    return this.tokens >= this.burst;
  }

  private refill(now: number): void {
    const elapsed = Math.max(0, now - this.last) / 1000;
    this.last = now;
    this.tokens = Math.min(this.burst, this.tokens + elapsed * this.rate);
  }
}

interface Limits {
  ratePerSec: number;
  burst: number;
  bytesPerSec?: number;
  bytesBurst?: number;
}

const SWEEP_EVERY = 4096;

/**
 * Per-peer flood protection: each peer has a message bucket and (optionally) a byte bucket. A peer
 * over either is refused until its buckets refill. Buckets of quiet peers are dropped now and then,
 * so the map stays as small as the set of recently active peers.
 */
export class FloodGuard {
  private readonly buckets = new Map<string, { msgs: TokenBucket; bytes: TokenBucket | null }>();
  private calls = 0;

  constructor(
    private readonly limits: Limits,
    private readonly now: () => number = Date.now,
  ) {}

  allow(peer: string, bytes = 0): boolean {
    const now = this.now();
    if (++this.calls % SWEEP_EVERY === 0) this.sweep(now);
    let b = this.buckets.get(peer);
    if (!b) {
      const { bytesPerSec, bytesBurst } = this.limits;
      b = {
        msgs: new TokenBucket(this.limits.ratePerSec, this.limits.burst, now),
        bytes: bytesPerSec && bytesBurst ? new TokenBucket(bytesPerSec, bytesBurst, now) : null,
      };
      this.buckets.set(peer, b);
    }
    // Both buckets are charged even when one refuses: a flooder pays for every message it sends.
    const okMsgs = b.msgs.take(1, now);
    const okBytes = b.bytes ? b.bytes.take(bytes, now) : true;
    return okMsgs && okBytes;
  }

  private sweep(now: number): void {
    for (const [peer, b] of this.buckets)
      if (b.msgs.idle(now) && (!b.bytes || b.bytes.idle(now))) this.buckets.delete(peer);
  }
}
