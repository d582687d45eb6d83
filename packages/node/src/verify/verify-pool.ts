import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { ChainErrorCode, Genesis, StatelessContext } from '@self/chain';
import { DIGEST_HEX_CHARS, type ChunkRequest, type WorkerInit, type WorkerMessage } from './protocol.js';

/** Per-transaction outcome; `digest` is hex SHA-256 of the signed bytes (the VerifiedCache key). */
export type VerifyResult =
  { ok: true; digest: string } | { ok: false; digest: string; code: ChainErrorCode; message: string };

export interface VerifyPoolOptions {
  genesis: Genesis;
  /** Worker threads; default os.availableParallelism(). */
  threads?: number;
  /** Most transactions per message to a worker (default 256). */
  maxChunk?: number;
  /**
   * Worker script speaking the protocol of protocol.ts. Default: the real verifier. Tests swap in
   * a misbehaving one to exercise crash handling.
   */
  workerUrl?: URL;
}

/** The pool could not check a batch: a worker died under it, or the pool is closed or broken. */
export class VerifyPoolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'VerifyPoolError';
  }
}

const DEFAULT_WORKER = new URL('./worker-entry.mjs', import.meta.url);
const DEFAULT_MAX_CHUNK = 256;
/** Below this a chunk's message costs more than splitting saves. */
const MIN_CHUNK = 32;
/** Workers that die before they are ready, in a row, before the pool gives up (broken install). */
const MAX_START_FAILURES = 3;

interface Batch {
  items: readonly Uint8Array[];
  results: VerifyResult[];
  remaining: number;
  settled: boolean;
  resolve: (results: VerifyResult[]) => void;
  reject: (err: Error) => void;
}

interface Chunk {
  batch: Batch;
  start: number;
  end: number;
}

interface Slot {
  worker: Worker;
  ready: boolean;
  /** The one chunk in flight: a crash loses only it. */
  chunk: Chunk | null;
  requestId: number;
  error: Error | null;
}

/**
 * Stateless transaction checks (decode, chain id, price, body, scheme, signature) on worker
 * threads, so hybrid ML-DSA verification uses every core and never blocks the event loop. Batches
 * are cut into chunks of up to `maxChunk` transactions, each one message to an idle worker; the
 * results come back in the batch's order. A worker that dies is replaced, and only the batch whose
 * chunk it held is rejected. Idle workers do not keep the process alive.
 */
export class VerifyPool {
  readonly threads: number;
  private readonly ctx: StatelessContext;
  private readonly maxChunk: number;
  private readonly workerUrl: URL;
  private readonly slots: Slot[] = [];
  private queue: Chunk[] = [];
  private queueHead = 0;
  /** Chunks of urgent batches: served first, and few (one proposal's worth at a time). */
  private urgent: Chunk[] = [];
  private nextRequestId = 1;
  private startFailures = 0;
  private closed = false;
  private broken: VerifyPoolError | null = null;
  private readyWaiters: Array<{ resolve: () => void; reject: (err: Error) => void }> = [];

  private constructor(opts: VerifyPoolOptions) {
    const threads = opts.threads ?? availableParallelism();
    if (!Number.isInteger(threads) || threads < 1 || threads > 1024)
      throw new RangeError(`VerifyPool threads must be an integer from 1 to 1024, got ${threads}`);
    const maxChunk = opts.maxChunk ?? DEFAULT_MAX_CHUNK;
    if (!Number.isInteger(maxChunk) || maxChunk < 1)
      throw new RangeError(`VerifyPool maxChunk must be a positive integer, got ${maxChunk}`);
    this.threads = threads;
    this.maxChunk = maxChunk;
    this.workerUrl = opts.workerUrl ?? DEFAULT_WORKER;
    const { genesis } = opts;
    this.ctx = {
      chainId: genesis.chain_id,
      params: {
        max_tx_bytes: genesis.params.max_tx_bytes,
        min_point_price: genesis.params.min_point_price,
      },
      schemes: [...genesis.signature_schemes],
    };
  }

  /** Starts the workers in the background; work submitted meanwhile waits for them. */
  static create(opts: VerifyPoolOptions): VerifyPool {
    const pool = new VerifyPool(opts);
    for (let i = 0; i < pool.threads; i++) pool.slots.push(pool.spawn());
    return pool;
  }

  /** Resolves once every worker has loaded (benchmarks exclude start-up); rejects if they cannot. */
  ready(): Promise<void> {
    if (this.broken) return Promise.reject(this.broken);
    if (this.closed) return Promise.reject(new VerifyPoolError('verify pool is closed'));
    if (this.slots.every((s) => s.ready)) return Promise.resolve();
    return new Promise((resolve, reject) => this.readyWaiters.push({ resolve, reject }));
  }

  /** Transactions accepted but not yet handed to a worker (for back-pressure and metrics). */
  get queued(): number {
    let n = 0;
    for (const c of this.urgent) if (!c.batch.settled) n += c.end - c.start;
    for (let i = this.queueHead; i < this.queue.length; i++) {
      const c = this.queue[i]!;
      if (!c.batch.settled) n += c.end - c.start;
    }
    return n;
  }

  /**
   * One result per transaction, in order. Rejects (VerifyPoolError) only if the pool fails.
   * `urgent` batches (a proposal's or synced blocks' transactions, which consensus waits for) are
   * handed to workers before every ordinary batch still queued.
   */
  verify(batch: readonly Uint8Array[], opts: { urgent?: boolean } = {}): Promise<VerifyResult[]> {
    if (this.broken) return Promise.reject(this.broken);
    if (this.closed) return Promise.reject(new VerifyPoolError('verify pool is closed'));
    if (batch.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      const b: Batch = {
        items: batch,
        results: new Array<VerifyResult>(batch.length),
        remaining: batch.length,
        settled: false,
        resolve,
        reject,
      };
      const size = Math.min(this.maxChunk, Math.max(MIN_CHUNK, Math.ceil(batch.length / this.threads)));
      const lane = opts.urgent ? this.urgent : this.queue;
      for (let start = 0; start < batch.length; start += size)
        lane.push({ batch: b, start, end: Math.min(batch.length, start + size) });
      this.dispatch();
    });
  }

  /** Terminates the workers; batches still being checked are rejected. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.failAll(new VerifyPoolError('verify pool is closed'));
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }

  // ---------------------------------------------------------------- workers

  private spawn(): Slot {
    const init: WorkerInit = { ctx: this.ctx };
    const worker = new Worker(this.workerUrl, { workerData: init });
    const slot: Slot = { worker, ready: false, chunk: null, requestId: 0, error: null };
    worker.on('message', (msg: WorkerMessage) => this.onMessage(slot, msg));
    // An uncaught exception in the worker: 'exit' follows, which replaces it.
    worker.on('error', (err: Error) => {
      slot.error = err;
    });
    worker.on('exit', (code: number) => this.onExit(slot, code));
    return slot;
  }

  private onMessage(slot: Slot, msg: WorkerMessage): void {
    if (this.closed) return;
    if (msg.type === 'ready') {
      slot.ready = true;
      this.startFailures = 0;
      if (!slot.chunk) slot.worker.unref();
      if (this.slots.every((s) => s.ready)) for (const w of this.readyWaiters.splice(0)) w.resolve();
      this.dispatch();
      return;
    }
    const chunk = slot.chunk;
    if (!chunk || msg.id !== slot.requestId) return;
    slot.chunk = null;
    slot.worker.unref();
    this.complete(chunk, msg.digests, msg.failures);
    this.dispatch();
  }

  private complete(chunk: Chunk, digests: string, failures: Array<[number, ChainErrorCode, string]>): void {
    const { batch, start, end } = chunk;
    if (batch.settled) return;
    const n = end - start;
    if (digests.length !== n * DIGEST_HEX_CHARS) {
      this.settle(
        batch,
        new VerifyPoolError(
          `verify worker answered ${digests.length} digest characters for ${n} transactions`,
        ),
      );
      return;
    }
    const results = batch.results;
    for (let i = 0; i < n; i++) {
      results[start + i] = {
        ok: true,
        digest: digests.slice(i * DIGEST_HEX_CHARS, (i + 1) * DIGEST_HEX_CHARS),
      };
    }
    for (const [i, code, message] of failures) {
      results[start + i] = { ok: false, digest: results[start + i]!.digest, code, message };
    }
    batch.remaining -= n;
    if (batch.remaining === 0) this.settle(batch, null);
  }

  private onExit(slot: Slot, code: number): void {
    const index = this.slots.indexOf(slot);
    if (this.closed || index < 0) return;
    const why = slot.error ? `: ${slot.error.message}` : '';
    if (slot.chunk) {
      const n = slot.chunk.end - slot.chunk.start;
      this.settle(
        slot.chunk.batch,
        new VerifyPoolError(
          `a signature verification worker stopped (exit code ${code}${why}) while checking ${n} transactions; it has been replaced`,
        ),
      );
      slot.chunk = null;
    }
    if (!slot.ready && ++this.startFailures >= MAX_START_FAILURES) {
      this.slots.splice(index, 1);
      this.breakPool(
        new VerifyPoolError(`signature verification workers fail to start (exit code ${code}${why})`),
      );
      return;
    }
    this.slots[index] = this.spawn();
    this.dispatch();
  }

  private breakPool(err: VerifyPoolError): void {
    this.broken = err;
    this.failAll(err);
    for (const s of this.slots) void s.worker.terminate();
    this.closed = true;
  }

  // ---------------------------------------------------------------- scheduling

  private dispatch(): void {
    for (const slot of this.slots) {
      if (!slot.ready || slot.chunk) continue;
      const chunk = this.nextChunk();
      if (!chunk) return;
      this.post(slot, chunk);
    }
  }

  private nextChunk(): Chunk | null {
    while (this.urgent.length > 0) {
      const chunk = this.urgent.shift()!;
      if (!chunk.batch.settled) return chunk;
    }
    while (this.queueHead < this.queue.length) {
      const chunk = this.queue[this.queueHead++]!;
      if (!chunk.batch.settled) {
        this.compactQueue();
        return chunk;
      }
    }
    this.queue = [];
    this.queueHead = 0;
    return null;
  }

  private compactQueue(): void {
    if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.queueHead);
      this.queueHead = 0;
    }
  }

  /** Copies the chunk into one fresh buffer that is transferred, not cloned, to the worker. */
  private post(slot: Slot, chunk: Chunk): void {
    const { items } = chunk.batch;
    let total = 0;
    for (let i = chunk.start; i < chunk.end; i++) total += items[i]!.length;
    const data = new Uint8Array(total);
    const ends = new Uint32Array(chunk.end - chunk.start);
    let offset = 0;
    for (let i = chunk.start; i < chunk.end; i++) {
      data.set(items[i]!, offset);
      offset += items[i]!.length;
      ends[i - chunk.start] = offset;
    }
    const req: ChunkRequest = { id: this.nextRequestId++, data: data.buffer, ends };
    slot.chunk = chunk;
    slot.requestId = req.id;
    slot.worker.ref();
    slot.worker.postMessage(req, [data.buffer, ends.buffer]);
  }

  private settle(batch: Batch, err: Error | null): void {
    if (batch.settled) return;
    batch.settled = true;
    if (err) batch.reject(err);
    else batch.resolve(batch.results);
  }

  private failAll(err: VerifyPoolError): void {
    for (const c of this.urgent.splice(0)) this.settle(c.batch, err);
    for (let i = this.queueHead; i < this.queue.length; i++) this.settle(this.queue[i]!.batch, err);
    this.queue = [];
    this.queueHead = 0;
    for (const s of this.slots) {
      if (s.chunk) this.settle(s.chunk.batch, err);
      s.chunk = null;
    }
    for (const w of this.readyWaiters.splice(0)) w.reject(err);
  }
}
