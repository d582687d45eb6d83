import type { Logger } from 'pino';
import type { InferencePort } from './connection.js';
import type { RetrievalIndex } from './retrieval.js';

/**
 * Fills the retrieval index's vectors in the background: documents whose text changed since their
 * embedding (ai_vectors is keyed by etag) are embedded in small batches with the configured
 * embedding model. It runs beside the requests, never in front of them: each batch is one call to
 * the service and one short write; a failed call (the service down or busy) waits and tries again
 * later, ever longer up to a few minutes, and nothing is lost meanwhile (full-text search still
 * finds everything). Nothing of the documents' text is logged.
 */

export interface EmbedderOptions {
  index: RetrievalIndex;
  client: InferencePort;
  model: string;
  logger?: Pick<Logger, 'warn' | 'debug'>;
  /** Documents per call (default 16). */
  batch?: number;
  /** Look for new work this often when idle (ms, default 2000); a write wakes it sooner. */
  idleMs?: number;
  /** The longest wait after failures (ms, default 300 000). */
  maxBackoffMs?: number;
}

/** How much of a document is embedded: its beginning, within any embedding model's context. */
export const EMBED_TEXT_MAX_CHARS = 1_000;

export class BackgroundEmbedder {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = true;
  private failures = 0;
  /** A write happened while a batch was running: look again at once. */
  private dirty = false;
  private readonly batch: number;
  private readonly idleMs: number;
  private readonly maxBackoffMs: number;

  constructor(private readonly opts: EmbedderOptions) {
    this.batch = opts.batch ?? 16;
    this.idleMs = opts.idleMs ?? 2_000;
    this.maxBackoffMs = opts.maxBackoffMs ?? 300_000;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.opts.index.onChange = () => this.wake();
    this.schedule(0);
  }

  /** Stops, after the batch in flight (if any) is done. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.opts.index.onChange !== null) this.opts.index.onChange = null;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }

  /** Work is waiting: run soon, unless backing off after failures. */
  wake(): void {
    if (this.stopped || this.failures > 0) return;
    if (this.running !== null) this.dirty = true;
    else this.schedule(0);
  }

  /** Runs batches until nothing is pending (tests and the CLI wait on it); false if a call failed. */
  async drain(): Promise<boolean> {
    for (;;) {
      const result = await this.round();
      if (result !== 'more') return result === 'idle';
    }
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.dirty = false;
      this.running = this.round()
        .then((result) => {
          if (result === 'more' || (result === 'idle' && this.dirty)) return this.schedule(0);
          if (result === 'idle') return this.schedule(this.idleMs);
          const wait = Math.min(this.maxBackoffMs, this.idleMs * 2 ** Math.min(this.failures, 16));
          this.schedule(wait);
        })
        .finally(() => {
          this.running = null;
        });
    }, ms);
    this.timer.unref();
  }

  /** One batch: 'more' if there may be more work, 'idle' when none, 'failed' when the call failed. */
  private async round(): Promise<'more' | 'idle' | 'failed'> {
    const { index, model, client } = this.opts;
    let pending;
    try {
      pending = index.pendingEmbeddings(model, this.batch, EMBED_TEXT_MAX_CHARS);
    } catch {
      return 'failed'; // the instance is closing
    }
    if (pending.length === 0) return 'idle';
    const docs = pending.filter((d) => d.text.trim().length > 0);
    try {
      const vectors =
        docs.length > 0 ? (await client.embed({ model, input: docs.map((d) => d.text) })).data : [];
      for (const v of vectors) {
        const doc = docs[v.index];
        if (doc !== undefined)
          index.storeEmbedding(doc.docId, doc.etag, model, Float32Array.from(v.embedding));
      }
      // Documents with no text get an empty vector: never pending again, never a neighbour.
      for (const d of pending)
        if (d.text.trim().length === 0) index.storeEmbedding(d.docId, d.etag, model, new Float32Array(0));
      this.failures = 0;
      return pending.length < this.batch ? 'idle' : 'more';
    } catch (err) {
      this.failures++;
      this.opts.logger?.warn(
        { code: (err as { code?: unknown }).code ?? null, failures: this.failures },
        'embedding documents failed; retrying later',
      );
      return 'failed';
    }
  }
}
