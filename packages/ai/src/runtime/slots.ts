import { InferenceError } from '../errors.js';

/**
 * A counting semaphore with a bounded waiting line: `slots` holders at once, up to `queueLimit`
 * more waiting in arrival order, and beyond that `busy` (503 with Retry-After) at once rather than
 * an unbounded pile of requests that would all time out.
 */
export class Slots {
  private held = 0;
  private readonly waiting: Array<{ grant: () => void }> = [];

  constructor(
    private readonly slots: number,
    private readonly queueLimit: number,
  ) {
    if (!Number.isSafeInteger(slots) || slots < 1) throw new TypeError('slots is a whole number, at least 1');
    if (!Number.isSafeInteger(queueLimit) || queueLimit < 0)
      throw new TypeError('queueLimit is a whole number, at least 0');
  }

  get inUse(): number {
    return this.held;
  }

  get queued(): number {
    return this.waiting.length;
  }

  /** Waits for a slot; the returned function gives it back (once). An abort leaves the line. */
  async acquire(signal?: AbortSignal): Promise<() => void> {
    signal?.throwIfAborted();
    if (this.held < this.slots) {
      this.held++;
      return this.releaser();
    }
    if (this.waiting.length >= this.queueLimit) {
      throw new InferenceError(
        503,
        'busy',
        `the model is serving ${this.slots} requests and ${this.waiting.length} are waiting; retry shortly`,
        { retryAfterSeconds: 1 },
      );
    }
    await new Promise<void>((resolve, reject) => {
      const entry = {
        grant: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const onAbort = (): void => {
        const i = this.waiting.indexOf(entry);
        if (i !== -1) this.waiting.splice(i, 1);
        reject(signal?.reason instanceof Error ? signal.reason : new DOMException('aborted', 'AbortError'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(entry);
    });
    return this.releaser();
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      // The slot passes straight to the next in line, so `held` stays as it is.
      if (next) next.grant();
      else this.held--;
    };
  }
}
